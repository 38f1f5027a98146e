/// A TCP connection as a pure transition function (RFC 9293): `handleSegment`,
/// `handleUser` and `handleTimeout` take a connection and return the next one with the
/// output of the step; `nextDeadline` says when to call `handleTimeout`. The argument is
/// never changed: each step works on its own copy.
[<System.Runtime.CompilerServices.SkipLocalsInit;
  RequireQualifiedAccess;
  CompilationRepresentation(enum<CompilationRepresentationFlags>(4))>]
module Stack.Core.Tcp.Connection

/// The smallest MSS a peer or an ICMP error can give us, before options (Linux's
/// TCP_MIN_SND_MSS): below it, headers would outweigh the data many times over.
[<Literal>]
val MinMss: int = 48

/// The smallest path MTU an ICMP error can set (Linux's min_pmtu): a forged error cannot
/// shrink segments below what every IPv4 path carries in practice.
[<Literal>]
val MinPathMtu: int = 552

/// A connection waiting in LISTEN on a local address and port (passive open).
val listen:
    options: Stack.Core.Tcp.ConnectionOptions ->
    localAddress: Stack.Core.Wire.IpAddress ->
    localPort: uint16 ->
        Stack.Core.Tcp.Connection

/// What a step changed that a driver tracks, since the last report: segments sent again,
/// and the new state with the stream bases when the state changed. Remembers what it told.
val internal report: c: Stack.Core.Tcp.Connection -> struct (int * Stack.Core.Tcp.Transition option)

/// Active open: a connection in SYN-SENT and its SYN.
val connect:
    options: Stack.Core.Tcp.ConnectionOptions ->
    now: int64 ->
    localAddress: Stack.Core.Wire.IpAddress ->
    localPort: uint16 ->
    remoteAddress: Stack.Core.Wire.IpAddress ->
    remotePort: uint16 ->
        struct (Stack.Core.Tcp.Connection * Stack.Core.Tcp.Output)

/// The reset that answers a segment nobody owns (RFC 9293 3.10.7.1), if any.
val resetFor: incoming: Stack.Core.Tcp.Incoming -> Stack.Core.Wire.TcpHeader voption

/// When `handleTimeout` is next due, if any timer runs.
val nextDeadline: c: Stack.Core.Tcp.Connection -> int64 voption

/// A segment arrives for this connection.
val handleSegment:
    now: int64 ->
    incoming: Stack.Core.Tcp.Incoming ->
    connection: Stack.Core.Tcp.Connection ->
        struct (Stack.Core.Tcp.Connection * Stack.Core.Tcp.Output)

/// A user command.
val handleUser:
    now: int64 ->
    command: Stack.Core.Tcp.Command ->
    connection: Stack.Core.Tcp.Connection ->
        struct (Stack.Core.Tcp.Connection * Stack.Core.Tcp.Output)

/// What an ICMP error said about a segment this connection sent.
[<RequireQualifiedAccess>]
type IcmpProblem =

    /// Port or protocol unreachable: nobody listens there (a hard error, RFC 5461).
    | Unreachable

    /// Fragmentation needed and DF set, with the next hop's MTU (RFC 1191).
    | PacketTooBig of mtu: int

    /// Any other error: soft, only worth counting.
    | Other

/// An ICMP error quoting a segment of this connection whose sequence number was
/// `quotedSeq`. Believed only when that number is outstanding (RFC 5927 4.1).
val handleIcmpError:
    now: int64 ->
    problem: IcmpProblem ->
    quotedSeq: Stack.Core.Tcp.SeqNum ->
    connection: Stack.Core.Tcp.Connection ->
        struct (Stack.Core.Tcp.Connection * Stack.Core.Tcp.Output)

/// Runs every timer due at `now`.
val handleTimeout:
    now: int64 -> connection: Stack.Core.Tcp.Connection -> struct (Stack.Core.Tcp.Connection * Stack.Core.Tcp.Output)

/// The same steps for a caller that owns its connection outright, as a Rust stack takes
/// `&mut self`: the connection changes in place and the step's output replaces what the
/// outbox held, so a step in steady state allocates nothing. A connection handed to these
/// must not be shared: every earlier value of it changes too.
module Owned =

    /// An independent copy, for an owner that takes over a connection value.
    val copy: connection: Stack.Core.Tcp.Connection -> Stack.Core.Tcp.Connection

    /// Active open (see `connect`): the SYN goes to `outbox`, emptied first.
    val connect:
        options: Stack.Core.Tcp.ConnectionOptions ->
        now: int64 ->
        localAddress: Stack.Core.Wire.IpAddress ->
        localPort: uint16 ->
        remoteAddress: Stack.Core.Wire.IpAddress ->
        remotePort: uint16 ->
        outbox: Stack.Core.Tcp.Outbox ->
            Stack.Core.Tcp.Connection

    /// A segment arrives for this connection.
    val handleSegment:
        now: int64 ->
        incoming: Stack.Core.Tcp.Incoming ->
        connection: Stack.Core.Tcp.Connection ->
        outbox: Stack.Core.Tcp.Outbox ->
            unit

    /// `handleSegment` with the segment passed by reference: the host's path, once per
    /// packet.
    val internal handleSegmentIn:
        now: int64 ->
        incoming: inref<Stack.Core.Tcp.Incoming> ->
        connection: Stack.Core.Tcp.Connection ->
        outbox: Stack.Core.Tcp.Outbox ->
            unit

    /// A user command.
    val handleUser:
        now: int64 ->
        command: Stack.Core.Tcp.Command ->
        connection: Stack.Core.Tcp.Connection ->
        outbox: Stack.Core.Tcp.Outbox ->
            unit

    /// Runs every timer due at `now`.
    val handleTimeout: now: int64 -> connection: Stack.Core.Tcp.Connection -> outbox: Stack.Core.Tcp.Outbox -> unit

    /// An ICMP error quoting a segment of this connection (see `handleIcmpError`).
    val handleIcmpError:
        now: int64 ->
        problem: IcmpProblem ->
        quotedSeq: Stack.Core.Tcp.SeqNum ->
        connection: Stack.Core.Tcp.Connection ->
        outbox: Stack.Core.Tcp.Outbox ->
            unit

    /// SYN cookies (RFC 4987 3.6): the SYN-ACK that `template`, a listener, sends for `syn`
    /// with the cookie `iss` as its ISS, keeping nothing; it goes to `outbox`.
    val internal answerWithCookie:
        now: int64 ->
        syn: inref<Stack.Core.Tcp.Incoming> ->
        iss: uint32 ->
        template: Stack.Core.Tcp.Connection ->
        outbox: Stack.Core.Tcp.Outbox ->
            unit

    /// The connection that a returned cookie `iss` (carrying `mssIndex`) rebuilds from
    /// the handshake's last segment `ack`: the SYN it answered, remade from the cookie and
    /// the options the echoed TSval carries, then `ack` itself, which establishes it. Its
    /// output goes to `outbox`.
    val internal fromCookie:
        now: int64 ->
        ack: inref<Stack.Core.Tcp.Incoming> ->
        iss: uint32 ->
        mssIndex: int ->
        template: Stack.Core.Tcp.Connection ->
        outbox: Stack.Core.Tcp.Outbox ->
            Stack.Core.Tcp.Connection
