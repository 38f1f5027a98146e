/// Initial sequence numbers as RFC 6528 asks: a clock that ticks every 4 microseconds plus
/// a keyed hash of the connection's 4-tuple, so an off-path attacker cannot guess them and
/// a new incarnation of a connection starts past the old one. The key and the time come
/// in from the caller; nothing here reads a clock or draws a random number.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Isn

/// The 128-bit secret of one stack instance (RFC 6528's secretkey): make it once from a
/// cryptographic random source and keep it for the instance's life.
[<Struct>]
type IsnKey = { K0: uint64; K1: uint64 }

/// SipHash-2-4 (Aumasson and Bernstein, 2012) of `data` under the key (k0, k1): the keyed
/// pseudo-random function behind the ISN.
val sipHash24: k0: uint64 -> k1: uint64 -> data: System.ReadOnlySpan<byte> -> uint64

/// The ISN for a connection from (localAddress, localPort) to (remoteAddress, remotePort)
/// at `nowMicros` (any monotonic microsecond count): M + F(4-tuple, key), M ticking every
/// 4 microseconds (RFC 6528 section 3).
val generate:
    key: IsnKey ->
    nowMicros: int64 ->
    localAddress: Stack.Core.Wire.IpAddress ->
    localPort: uint16 ->
    remoteAddress: Stack.Core.Wire.IpAddress ->
    remotePort: uint16 ->
        Stack.Core.Tcp.SeqNum

/// What a connection adds to its timestamp clock (RFC 7323 5.4): a keyed hash of its
/// 4-tuple, so its TSvals tell nothing of the host's uptime or of its other connections.
val timestampOffset:
    key: IsnKey ->
    localAddress: Stack.Core.Wire.IpAddress ->
    localPort: uint16 ->
    remoteAddress: Stack.Core.Wire.IpAddress ->
    remotePort: uint16 ->
        uint32

/// Where the search for a free ephemeral port to `remote:remotePort` starts, before the
/// host's counter is added (RFC 6056 3.3.3, algorithm 3): a keyed hash of the local
/// address and the remote end, so the ports one destination sees say nothing of those
/// another sees, and cannot be guessed.
val ephemeralOffset:
    key: IsnKey ->
    localAddress: Stack.Core.Wire.IpAddress ->
    remoteAddress: Stack.Core.Wire.IpAddress ->
    remotePort: uint16 ->
        uint32

/// The IPv6 flow label of a connection (RFC 6437 3): the same for all its packets,
/// unpredictable from outside, and never 0. A keyed mix of the 4-tuple rather than the
/// ISN's hash, since it is taken for every packet written and guards nothing.
val flowLabel:
    key: IsnKey ->
    localAddress: Stack.Core.Wire.IpAddress ->
    localPort: uint16 ->
    remoteAddress: Stack.Core.Wire.IpAddress ->
    remotePort: uint16 ->
        uint32

/// SYN cookies (RFC 4987 3.6): the ISN of a SYN-ACK sent without keeping any state, from
/// which the connection is rebuilt when the handshake's ACK returns it. It carries the
/// time it was made (a tick of 2^26 us, about 67 s; valid for two ticks after) and an
/// index in a small table of MSS values, under keyed hashes of the 4-tuple and the
/// peer's ISN, so only a peer that saw our SYN-ACK can return a valid one.
module SynCookie =

    /// The MSS values a cookie can carry (Linux's table for IPv4); the peer gets the
    /// largest that its SYN's MSS allows.
    val mssTable: int array

    /// The index in `mssTable` for a peer that offered `mss`.
    val mssIndex: mss: int -> int

    /// A connection's two ends: our address and port, then the peer's.
    type Ends = (struct (Stack.Core.Wire.IpAddress * uint16 * Stack.Core.Wire.IpAddress * uint16))

    /// The cookie (our ISN) for a SYN with sequence number `peerIsn`.
    val make: key: IsnKey -> nowMicros: int64 -> ends: Ends -> peerIsn: uint32 -> mssIndex: int -> uint32

    /// The MSS index a returned cookie carries, if it is one of ours, made for these ends
    /// and `peerIsn` at most two ticks ago.
    val check: key: IsnKey -> nowMicros: int64 -> ends: Ends -> peerIsn: uint32 -> cookie: uint32 -> int voption

    /// How many low bits of our cookie SYN-ACK's TSval carry options.
    val optionMask: uint32

    /// The options a cookie connection keeps, in the low bits of our SYN-ACK's TSval
    /// (the ISN has no room for them): the window shift (15 for none) and SACK.
    val optionBits: windowShift: int voption -> sack: bool -> uint32

    /// The options from a TSecr that echoes our cookie SYN-ACK's TSval.
    val optionsOf: echo: uint32 -> struct (int voption * bool)
