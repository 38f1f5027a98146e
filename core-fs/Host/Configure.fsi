/// Host options built from the few settings a shell exposes, so that C# callers need not
/// rebuild F# records field by field.
module Stack.Core.Host.Configure

/// Options for a host at `address` on a link with this MTU, with the given buffer sizes
/// (powers of two; the receive buffer starts at `initialReceiveBuffer` and autotuning
/// grows it), Nagle on or off, and the secret for initial sequence numbers.
val hostOptions:
    address: Stack.Core.Wire.Ipv4Address ->
    mtu: int ->
    sendBuffer: int ->
    initialReceiveBuffer: int ->
    receiveBuffer: int ->
    noDelay: bool ->
    isnKey: Stack.Core.Tcp.Isn.IsnKey ->
        Stack.Core.Host.HostOptions

/// `options` with an IPv6 address as well: the host then speaks both families.
val withAddress6:
    address: Stack.Core.Wire.IpAddress -> options: Stack.Core.Host.HostOptions -> Stack.Core.Host.HostOptions

/// `options` with reassembly holding at most `bytes` of fragments, a quarter of that
/// from any one source.
val withFragmentMemory: bytes: int -> options: Stack.Core.Host.HostOptions -> Stack.Core.Host.HostOptions

/// The protocol's tunables as a shell's settings give them, applied to `options`: the
/// options TCP offers on a SYN, the congestion controller (NewReno when `newReno`, else
/// CUBIC) and loss detector (RFC 6675's duplicate threshold when `duplicateThreshold`, else
/// RACK-TLP), timers in microseconds, retry counts and the host's limits. Named
/// parameters, so a C# caller reads as settings, not positions.
val withProtocol:
    windowScaling: bool ->
    timestamps: bool ->
    selectiveAcknowledgments: bool ->
    newReno: bool ->
    duplicateThreshold: bool ->
    delayedAckMicros: int64 ->
    timeWaitMicros: int64 ->
    finWait2TimeoutMicros: int64 ->
    initialRtoMicros: int64 ->
    minRtoMicros: int64 ->
    maxRtoMicros: int64 ->
    maxRetries: int ->
    maxSynRetries: int ->
    maxSynAckRetries: int ->
    synBacklog: int ->
    synCookies: bool ->
    maxConnections: int ->
    answerPings: bool ->
    options: Stack.Core.Host.HostOptions ->
        Stack.Core.Host.HostOptions

/// `options` with every connection keeping notes of the engine's decisions for a trace
/// (`ConnectionOptions.Trace`).
val withTraceNotes: options: Stack.Core.Host.HostOptions -> Stack.Core.Host.HostOptions

/// Keepalive for every connection from the start (idle and interval in microseconds).
val withKeepalive:
    idleMicros: int64 ->
    intervalMicros: int64 ->
    count: int ->
    options: Stack.Core.Host.HostOptions ->
        Stack.Core.Host.HostOptions

/// The command that turns keepalive on for one connection (idle and interval in
/// microseconds, then `count` unanswered probes end it).
val keepaliveOn: idleMicros: int64 -> intervalMicros: int64 -> count: int -> Stack.Core.Tcp.Command

/// The command that turns keepalive off for one connection.
val keepaliveOff: Stack.Core.Tcp.Command
