/// The host engine: every step of one stack instance, in place on a host its caller owns
/// (RFC 9293 3.10.7.1 for segments nobody owns, RFC 792 echo): packets in, packets and
/// per-connection outputs out. `Host` is the API over it.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Host.HostEngine

val internal zeroCounters: Stack.Core.Host.Counters

/// One step at work: the host it changes in place (the caller's own, or for a value step
/// a copy nobody else holds) and where its output goes.
[<NoEquality; NoComparison; Struct>]
type internal Step =
    {
        Host: Stack.Core.Host.Host
        Out: Stack.Core.Host.HostOutbox
    }

    member Count: f: (Stack.Core.Host.Counters -> Stack.Core.Host.Counters) -> unit

    member Send: t: Stack.Core.Host.Transmit -> unit

/// An independent copy of `host`: its connections are copied too, so steps on the copy
/// leave every earlier value as it was.
val internal deepCopy: host: Stack.Core.Host.Host -> Stack.Core.Host.Host

/// A value step begins: the in-place steps run on a copy of `host`, into an outbox of
/// their own. Value steps are for tests and scripts: the copy costs a step O(connections).
val internal valueStart: host: Stack.Core.Host.Host -> Step

/// A value step ends: the new host (the one it was given if nothing changed) and the
/// output as a value.
val internal valueEnd:
    host: Stack.Core.Host.Host -> step: Step -> struct (Stack.Core.Host.Host * Stack.Core.Host.HostOutput)

/// A value step: on a copy of `host`, its output as a value.
val internal valueStep:
    host: Stack.Core.Host.Host -> run: (Step -> unit) -> struct (Stack.Core.Host.Host * Stack.Core.Host.HostOutput)

/// An in-place step of the caller's own host.
val internal ownedStep: host: Stack.Core.Host.Host -> out: Stack.Core.Host.HostOutbox -> Step

/// The connection of `tuple`, kept in the host's memo for the next step.
val internal tryFindIn: step: Step -> tuple: Stack.Core.Host.FourTuple -> Stack.Core.Tcp.Connection voption

/// The listener on `port` that takes connections from `remote`'s family: an IPv6-only
/// one before one for both families.
val internal tryListenerFor:
    host: Stack.Core.Host.Host -> port: uint16 -> remote: Stack.Core.Wire.IpAddress -> Stack.Core.Host.Listener voption

/// The listener on `port` for exactly `family`.
val internal tryListenerOf:
    host: Stack.Core.Host.Host ->
    port: uint16 ->
    family: Stack.Core.Host.ListenFamily ->
        Stack.Core.Host.Listener voption

/// The family of a listener on `port`: the one for both families or IPv4, else the
/// IPv6 one (what the calls that name a port alone mean).
val internal familyOn: host: Stack.Core.Host.Host -> port: uint16 -> Stack.Core.Host.ListenFamily

/// Keeps `l` in its family's table (replacing what it was).
val internal storeListener: host: Stack.Core.Host.Host -> l: Stack.Core.Host.Listener -> unit

/// A whole TCP/IPv4 packet from this host to `destination` (resets for closed ports).
val internal datagram:
    host: Stack.Core.Host.Host -> destination: Stack.Core.Wire.IpAddress -> tcp: Stack.Core.Wire.TcpHeader -> byte array

val internal isConnected: output: Stack.Core.Tcp.Output -> bool

/// A passive open that completed or a connection that closed moves in or out of its
/// listener's queues.
val internal updateListener:
    host: Stack.Core.Host.Host -> tuple: Stack.Core.Host.FourTuple -> closed: bool -> connected: bool -> unit

/// Files the step of connection `c` (whose output is in the step's connection outbox):
/// its segments to send, its output, and its place in the tables (gone once CLOSED; from
/// half-open to ready when a passive open completes). `fresh`: the connection is new to
/// the table. `payloadStart` is where the received segment's payload starts in its packet.
val internal record:
    step: Step ->
    tuple: Stack.Core.Host.FourTuple ->
    c: Stack.Core.Tcp.Connection ->
    fresh: bool ->
    payloadStart: int ->
        unit

val internal reset: step: Step -> source: Stack.Core.Wire.IpAddress -> incoming: Stack.Core.Tcp.Incoming -> unit

/// The handshake's last ACK for a listener that has no connection for it: if it returns
/// a cookie of ours, the connection it rebuilds joins the accept queue. False if not.
val internal tryCookie:
    step: Step ->
    now: int64 ->
    l: Stack.Core.Host.Listener ->
    tuple: Stack.Core.Host.FourTuple ->
    incoming: inref<Stack.Core.Tcp.Incoming> ->
    payloadStart: int ->
        bool

/// A SYN for a listener: a new connection in SYN-RECEIVED; a cookie instead when the SYN
/// queue is full (and cookies are on); dropped when the accept queue is full.
val internal openPassive:
    step: Step ->
    now: int64 ->
    l: Stack.Core.Host.Listener ->
    tuple: Stack.Core.Host.FourTuple ->
    incoming: Stack.Core.Tcp.Incoming ->
        unit

/// A TCP segment for no connection, or a SYN for one in TIME-WAIT: kept out of `onTcp`,
/// whose usual case is lighter without it.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(8))>]
val internal onTcpUnusual:
    step: Step ->
    now: int64 ->
    tuple: Stack.Core.Host.FourTuple ->
    found: Stack.Core.Tcp.Connection voption ->
    incoming: Stack.Core.Tcp.Incoming ->
    payloadStart: int ->
        unit

/// A TCP segment (`body`, the IPv4 payload from `payloadBase` in the packet) arrives.
/// The usual case, a segment for a connection the host has, takes no detour.
val internal onTcp:
    step: Step ->
    now: int64 ->
    source: Stack.Core.Wire.IpAddress ->
    destination: Stack.Core.Wire.IpAddress ->
    payloadBase: int ->
    body: System.ReadOnlySpan<byte> ->
        unit

val internal onIcmp:
    step: Step -> now: int64 -> ip: Stack.Core.Wire.Ipv4Header -> body: System.ReadOnlySpan<byte> -> unit

/// Counts a packet that is not a readable IPv4 packet.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(8))>]
val internal unreadable: step: Step -> problem: Stack.Core.Wire.ParseError -> unit

val internal receiveStep: now: int64 -> packet: System.ReadOnlySpan<byte> -> step: Step -> unit

/// Starts listening on `port` of `host`, in place.
/// Listens on `port`; the connections it accepts take `options` (the host's, or a
/// listener's own buffer sizes).
val internal listenIn:
    options: Stack.Core.Tcp.ConnectionOptions ->
    family: Stack.Core.Host.ListenFamily ->
    port: uint16 ->
    backlog: int ->
    host: Stack.Core.Host.Host ->
        Result<unit, Stack.Core.Host.HostError>

/// Takes the oldest established connection off `port`'s accept queue, in place.
val internal acceptIn:
    port: uint16 ->
    family: Stack.Core.Host.ListenFamily ->
    host: Stack.Core.Host.Host ->
        Stack.Core.Host.FourTuple voption

/// A copy of `host` that shares its immutable tables: enough for a value step that only
/// changes the listeners.
val internal shallowCopy: host: Stack.Core.Host.Host -> Stack.Core.Host.Host

/// Opens a connection to `remote:remotePort` from a free ephemeral port of the step's host,
/// chosen as RFC 6056 3.3.3 (algorithm 3) does: the search starts at a keyed hash of the
/// destination plus a counter, so successive connections to one destination get
/// successive ports while no one can tell which ports other destinations get.
/// The connection takes `options` (the host's, or its own buffer sizes).
val internal connectStep:
    options: Stack.Core.Tcp.ConnectionOptions ->
    now: int64 ->
    remote: Stack.Core.Wire.IpAddress ->
    remotePort: uint16 ->
    step: Step ->
        Result<Stack.Core.Host.FourTuple, Stack.Core.Host.HostError>

val internal commandStep:
    now: int64 ->
    c: Stack.Core.Tcp.Connection ->
    tuple: Stack.Core.Host.FourTuple ->
    cmd: Stack.Core.Tcp.Command ->
    step: Step ->
        unit

/// Stops listening on `port`. Connections still half-open or waiting to be accepted
/// belong to no one now: they are reset, as Linux resets a closed listener's children.
/// Accepted connections stay.
val internal unlistenStep: now: int64 -> port: uint16 -> family: Stack.Core.Host.ListenFamily -> step: Step -> unit

val internal timeoutOne:
    now: int64 -> tuple: Stack.Core.Host.FourTuple -> c: Stack.Core.Tcp.Connection -> step: Step -> unit

val internal timeoutConnectionStep: now: int64 -> tuple: Stack.Core.Host.FourTuple -> step: Step -> unit
