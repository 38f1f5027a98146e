/// Initial sequence numbers as RFC 6528 asks: a clock that ticks every 4 microseconds plus
/// a keyed hash of the connection's 4-tuple, so an off-path attacker cannot guess them and
/// a new incarnation of a connection starts past the old one. The key and the time come
/// in from the caller; nothing here reads a clock or draws a random number.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Isn

#nowarn "9" // stackalloc for the bytes a hash reads

open System
open System.Buffers.Binary
open Microsoft.FSharp.NativeInterop
open Stack.Core.Tcp
open Stack.Core.Wire

/// The 128-bit secret of one stack instance (RFC 6528's secretkey): make it once from a
/// cryptographic random source and keep it for the instance's life.
[<Struct>]
type IsnKey = { K0: uint64; K1: uint64 }

let inline private rotl (x: uint64) (b: int) = (x <<< b) ||| (x >>> (64 - b))

/// SipHash-2-4 (Aumasson and Bernstein, 2012) of `data` under the key (k0, k1): the keyed
/// pseudo-random function behind the ISN.
let sipHash24 (k0: uint64) (k1: uint64) (data: ReadOnlySpan<byte>) : uint64 =
    let mutable v0 = k0 ^^^ 0x736f6d6570736575UL
    let mutable v1 = k1 ^^^ 0x646f72616e646f6dUL
    let mutable v2 = k0 ^^^ 0x6c7967656e657261UL
    let mutable v3 = k1 ^^^ 0x7465646279746573UL

    let inline round () =
        v0 <- v0 + v1
        v1 <- rotl v1 13
        v1 <- v1 ^^^ v0
        v0 <- rotl v0 32
        v2 <- v2 + v3
        v3 <- rotl v3 16
        v3 <- v3 ^^^ v2
        v0 <- v0 + v3
        v3 <- rotl v3 21
        v3 <- v3 ^^^ v0
        v2 <- v2 + v1
        v1 <- rotl v1 17
        v1 <- v1 ^^^ v2
        v2 <- rotl v2 32

    let whole = data.Length / 8

    for i in 0 .. whole - 1 do
        let m = BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i * 8, 8))
        v3 <- v3 ^^^ m
        round ()
        round ()
        v0 <- v0 ^^^ m

    // The last block: the remaining bytes, little-endian, with the length in the top byte.
    let mutable last = uint64 (byte data.Length) <<< 56

    for i in whole * 8 .. data.Length - 1 do
        last <- last ||| (uint64 data[i] <<< (8 * (i - whole * 8)))

    v3 <- v3 ^^^ last
    round ()
    round ()
    v0 <- v0 ^^^ last
    v2 <- v2 ^^^ 0xFFUL
    round ()
    round ()
    round ()
    round ()
    v0 ^^^ v1 ^^^ v2 ^^^ v3

/// What one key's hash is for: each use hashes its own input, so no value tells of another.
type private Purpose =
    | Isn = 0uy
    | TimestampOffset = 1uy
    | EphemeralPort = 2uy
    | CookieOfTuple = 3uy
    | CookieOfTime = 4uy

/// The keyed hash of a connection's addresses and ports, and of `extra`, for `purpose`.
let private hashWith
    (key: IsnKey)
    (purpose: Purpose)
    (localAddress: IpAddress)
    (localPort: uint16)
    (remoteAddress: IpAddress)
    (remotePort: uint16)
    (extra: uint32)
    =
    let data = Span<byte>(NativePtr.toVoidPtr (NativePtr.stackalloc<byte> 41), 41)

    // Two IPv4 addresses take their 4 bytes each, as they always did; IPv6 its 16.
    let addresses =
        if localAddress.IsIpv4 && remoteAddress.IsIpv4 then
            BinaryPrimitives.WriteUInt32BigEndian(data.Slice(0, 4), localAddress.Ipv4.Value)
            BinaryPrimitives.WriteUInt32BigEndian(data.Slice(4, 4), remoteAddress.Ipv4.Value)
            8
        else
            BinaryPrimitives.WriteUInt64BigEndian(data.Slice(0, 8), localAddress.High)
            BinaryPrimitives.WriteUInt64BigEndian(data.Slice(8, 8), localAddress.Low)
            BinaryPrimitives.WriteUInt64BigEndian(data.Slice(16, 8), remoteAddress.High)
            BinaryPrimitives.WriteUInt64BigEndian(data.Slice(24, 8), remoteAddress.Low)
            32

    BinaryPrimitives.WriteUInt16BigEndian(data.Slice(addresses, 2), localPort)
    BinaryPrimitives.WriteUInt16BigEndian(data.Slice(addresses + 2, 2), remotePort)
    data[addresses + 4] <- byte purpose
    BinaryPrimitives.WriteUInt32BigEndian(data.Slice(addresses + 5, 4), extra)
    // The ISN's input stays the tuple alone, as it always was.
    let length =
        match purpose with
        | Purpose.Isn -> addresses + 4
        | Purpose.CookieOfTime -> addresses + 9
        | _ -> addresses + 5

    sipHash24 key.K0 key.K1 (Span<byte>.op_Implicit(data.Slice(0, length)))

let private hashOf key purpose localAddress localPort remoteAddress remotePort =
    hashWith key purpose localAddress localPort remoteAddress remotePort 0u

/// The ISN for a connection from (localAddress, localPort) to (remoteAddress, remotePort)
/// at `nowMicros` (any monotonic microsecond count): M + F(4-tuple, key), M ticking every
/// 4 microseconds (RFC 6528 section 3).
let generate
    (key: IsnKey)
    (nowMicros: int64)
    (localAddress: IpAddress)
    (localPort: uint16)
    (remoteAddress: IpAddress)
    (remotePort: uint16)
    : SeqNum =
    let f =
        uint32 (hashOf key Purpose.Isn localAddress localPort remoteAddress remotePort)

    let m = uint32 (nowMicros / 4L)
    SeqNum(m + f)

/// What a connection adds to its timestamp clock (RFC 7323 5.4): a keyed hash of its
/// 4-tuple, so its TSvals tell nothing of the host's uptime or of its other connections.
let timestampOffset
    (key: IsnKey)
    (localAddress: IpAddress)
    (localPort: uint16)
    (remoteAddress: IpAddress)
    (remotePort: uint16)
    : uint32 =
    uint32 (hashOf key Purpose.TimestampOffset localAddress localPort remoteAddress remotePort)

/// Where the search for a free ephemeral port to `remote:remotePort` starts, before the
/// host's counter is added (RFC 6056 3.3.3, algorithm 3): a keyed hash of the local
/// address and the remote end, so the ports one destination sees say nothing of those
/// another sees, and cannot be guessed.
let ephemeralOffset (key: IsnKey) (localAddress: IpAddress) (remoteAddress: IpAddress) (remotePort: uint16) =
    uint32 (hashOf key Purpose.EphemeralPort localAddress 0us remoteAddress remotePort)

/// The IPv6 flow label of a connection (RFC 6437 3): the same for all its packets,
/// unpredictable from outside, and never 0. A keyed mix of the 4-tuple rather than the
/// ISN's hash, since it is taken for every packet written and guards nothing.
let flowLabel
    (key: IsnKey)
    (localAddress: IpAddress)
    (localPort: uint16)
    (remoteAddress: IpAddress)
    (remotePort: uint16)
    =
    let inline mix (x: uint64) =
        let x = (x ^^^ (x >>> 33)) * 0xFF51AFD7ED558CCDUL
        let x = (x ^^^ (x >>> 33)) * 0xC4CEB9FE1A85EC53UL
        x ^^^ (x >>> 33)

    let ports = (uint64 localPort <<< 16) ||| uint64 remotePort

    let h =
        mix (
            key.K0
            ^^^ localAddress.Low
            ^^^ mix (
                remoteAddress.Low
                ^^^ key.K1
                ^^^ mix (ports ^^^ remoteAddress.High ^^^ localAddress.High)
            )
        )

    max 1u (uint32 h &&& 0xFFFFFu)

/// SYN cookies (RFC 4987 3.6): the ISN of a SYN-ACK sent without keeping any state, from
/// which the connection is rebuilt when the handshake's ACK returns it. It carries the
/// time it was made (a tick of 2^26 us, about 67 s; valid for two ticks after) and an
/// index in a small table of MSS values, under keyed hashes of the 4-tuple and the
/// peer's ISN, so only a peer that saw our SYN-ACK can return a valid one.
module SynCookie =
    /// The MSS values a cookie can carry (Linux's table for IPv4); the peer gets the
    /// largest that its SYN's MSS allows.
    let mssTable = [| 536; 1300; 1440; 1460 |]

    let private tickOf (nowMicros: int64) = uint32 (nowMicros >>> 26)
    let private maxAge = 2u

    /// The index in `mssTable` for a peer that offered `mss`.
    let mssIndex (mss: int) =
        let mutable i = mssTable.Length - 1

        while i > 0 && mssTable[i] > mss do
            i <- i - 1

        i

    /// A connection's two ends: our address and port, then the peer's.
    type Ends = (struct (IpAddress * uint16 * IpAddress * uint16))

    let private keyed key purpose (ends: Ends) extra =
        let struct (localAddress, localPort, remoteAddress, remotePort) = ends
        uint32 (hashWith key purpose localAddress localPort remoteAddress remotePort extra)

    /// The cookie (our ISN) for a SYN with sequence number `peerIsn`.
    let make (key: IsnKey) (nowMicros: int64) (ends: Ends) (peerIsn: uint32) (mssIndex: int) : uint32 =
        let tick = tickOf nowMicros

        keyed key Purpose.CookieOfTuple ends 0u
        + peerIsn
        + (tick <<< 24)
        + ((keyed key Purpose.CookieOfTime ends tick + uint32 mssIndex) &&& 0xFFFFFFu)

    /// The MSS index a returned cookie carries, if it is one of ours, made for these ends
    /// and `peerIsn` at most two ticks ago.
    let check (key: IsnKey) (nowMicros: int64) (ends: Ends) (peerIsn: uint32) (cookie: uint32) : int voption =
        let now = tickOf nowMicros
        let rest = cookie - keyed key Purpose.CookieOfTuple ends 0u - peerIsn
        let age = (now - (rest >>> 24)) &&& 0xFFu

        if age > maxAge then
            ValueNone
        else
            let index =
                ((rest &&& 0xFFFFFFu) - keyed key Purpose.CookieOfTime ends (now - age))
                &&& 0xFFFFFFu

            if index < uint32 mssTable.Length then
                ValueSome(int index)
            else
                ValueNone

    /// How many low bits of our cookie SYN-ACK's TSval carry options.
    let optionMask = 31u

    /// The options a cookie connection keeps, in the low bits of our SYN-ACK's TSval
    /// (the ISN has no room for them): the window shift (15 for none) and SACK.
    let optionBits (windowShift: int voption) (sack: bool) =
        (match windowShift with
         | ValueSome s -> uint32 (min 14 s)
         | ValueNone -> 15u)
        ||| (if sack then 16u else 0u)

    /// The options from a TSecr that echoes our cookie SYN-ACK's TSval.
    let optionsOf (echo: uint32) : struct (int voption * bool) =
        let shift = int (echo &&& 15u)
        struct ((if shift = 15 then ValueNone else ValueSome shift), echo &&& 16u <> 0u)
