/// One stack instance, as callers use it: `create`; the value forms, each one of the
/// engine's in-place steps (`HostEngine`) run on a copy of the host, for tests and
/// scripts; `Owned`, the same steps on the caller's own host, for drivers; and what a
/// driver needs beside them (`writeSegment`, `nextDeadline`).
[<System.Runtime.CompilerServices.SkipLocalsInit>]
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Stack.Core.Host.Host

open System
open System.Collections.Immutable
open Stack.Core.Tcp
open Stack.Core.Wire
open Stack.Core.Host.HostEngine

let create (options: HostOptions) =
    {
        Settings = options
        Table = ImmutableDictionary<FourTuple, Connection>.Empty
        ListenerTable = Map.empty
        ListenerTable6 = Map.empty
        NextEphemeral = 0
        Tally = zeroCounters
        PacketsIn = 0L
        PacketsOut = 0L
        ChallengeAcksLeft = options.ChallengeAckLimit
        ChallengeSecondStart = Int64.MinValue / 2L
        MemoryPressure = false
        MemoTable = null
        MemoTuple = Unchecked.defaultof<FourTuple>
        MemoConnection = Unchecked.defaultof<Connection>
        Reassembly = FragmentTable.empty
        NextFragmentId = 0u
        IcmpErrorsLeft = 0
        IcmpErrorSecondStart = Int64.MinValue / 2L
    }

/// An IPv4 packet arrives from the link.
let receive (now: int64) (packet: ReadOnlySpan<byte>) (host: Host) : struct (Host * HostOutput) =
    // Not through `valueStep`: a closure cannot hold the span.
    let step = valueStart host
    receiveStep now packet step
    valueEnd host step

/// Starts listening on `port` with room for `backlog` connections waiting for accept.
let listen (port: uint16) (backlog: int) (host: Host) : Result<Host, HostError> =
    let copy = shallowCopy host

    listenIn copy.Options.Connection ListenFamily.Both port backlog copy
    |> Result.map (fun () -> copy)

/// Stops listening on `port`; connections half-open or not yet accepted are reset (their
/// resets are in the output), accepted ones stay.
let unlisten (now: int64) (port: uint16) (host: Host) : struct (Host * HostOutput) =
    valueStep host (unlistenStep now port (familyOn host port))

/// The oldest established connection waiting on `port`, taken off the accept queue.
let accept (port: uint16) (host: Host) : struct (FourTuple voption * Host) =
    let copy = shallowCopy host

    match acceptIn port (familyOn copy port) copy with
    | ValueSome tuple -> struct (ValueSome tuple, copy)
    | ValueNone -> struct (ValueNone, host)

/// Opens a connection to `remote:remotePort` from a free ephemeral port.
let connect
    (now: int64)
    (remote: IpAddress)
    (remotePort: uint16)
    (host: Host)
    : Result<struct (Host * FourTuple * HostOutput), HostError> =
    let step = valueStart host

    match connectStep host.Options.Connection now remote remotePort step with
    | Ok tuple ->
        let struct (host, out) = valueEnd host step
        Ok(struct (host, tuple, out))
    | Error e -> Error e

/// A user command for one connection.
let command
    (now: int64)
    (tuple: FourTuple)
    (cmd: Command)
    (host: Host)
    : Result<struct (Host * HostOutput), HostError> =
    if not (host.Table.ContainsKey tuple) then
        Error(NoSuchConnection tuple)
    else
        Ok(
            valueStep host (fun step ->
                match tryFindIn step tuple with
                | ValueSome c -> commandStep now c tuple cmd step
                | ValueNone -> ())
        )

/// The connection with this tuple, if the host has it.
let tryFind (tuple: FourTuple) (host: Host) =
    match host.Table.TryGetValue tuple with
    | true, c -> Some c
    | _ -> None

/// When `timeout` is next due: the earliest deadline of any connection.
let nextDeadline (host: Host) : int64 voption =
    let mutable earliest = Int64.MaxValue

    for KeyValue(_, c) in host.Table do
        match Connection.nextDeadline c with
        | ValueSome d when d < earliest -> earliest <- d
        | _ -> ()

    if earliest = Int64.MaxValue then
        ValueNone
    else
        ValueSome earliest

/// Runs every connection timer due at `now`.
let timeout (now: int64) (host: Host) : struct (Host * HostOutput) =
    valueStep host (fun step ->
        for KeyValue(tuple, c) in step.Host.Table do
            timeoutOne now tuple c step)

/// Runs the timers of one connection if any is due at `now` (for a caller that keeps its
/// own index of deadlines instead of asking `nextDeadline` about every connection). The
/// output has an entry for the connection whenever it exists, with its next deadline.
let timeoutConnection (now: int64) (tuple: FourTuple) (host: Host) : struct (Host * HostOutput) =
    match host.Find tuple with
    | ValueSome c when Timers.earliest c.Timers > now ->
        // Nothing due: the same host, and an output that says when.
        let out = HostOutbox()

        out.File(
            tuple,
            { Output.empty with
                NextDeadline = Timers.earliest c.Timers
            }
        )

        struct (host, out.ToOutput())
    | _ -> valueStep host (timeoutConnectionStep now tuple)

/// Writes a connection's segment as a whole IP packet of its family into `destination`, with
/// `payload` (its bytes from the send buffer) after the header. Returns the length.
[<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)>]
let writeSegment
    (host: Host)
    (tuple: FourTuple)
    (segment: Outgoing)
    (payload: ReadOnlySpan<byte>)
    (destination: Span<byte>)
    =
    let source = tuple.LocalAddress
    let target = tuple.RemoteAddress

    if target.IsIpv4 then
        let segmentLength = segment.Header.HeaderLength + payload.Length

        let ipLength =
            Ipv4.writePlain IpProtocol.Tcp source.Ipv4 target.Ipv4 host.Options.Ttl segmentLength destination

        ipLength
        + Tcp.writeSegmentInto source target &segment.Header payload (destination.Slice ipLength)
    else
        let flowLabel =
            Isn.flowLabel host.Options.Connection.IsnKey source tuple.LocalPort target tuple.RemotePort

        Packet.writeTcpBetween source target host.Options.Ttl flowLabel &segment.Header payload destination

/// The packet steps for a caller that owns its host outright (the shell's stack thread):
/// the host and its connections change in place, and each step's output replaces what
/// the outbox held, so a step in steady state allocates nothing. A host handed to these
/// must not be shared: every earlier value of it, and of its connections, changes too.
/// These are the engine; each value step above is one of these run on a copy.
module Owned =
    /// An independent copy, for an owner that takes over a host value: its connections
    /// are copied too.
    let copy (host: Host) = deepCopy host

    /// An IPv4 packet arrives from the link.
    let receive (now: int64) (packet: ReadOnlySpan<byte>) (host: Host) (outbox: HostOutbox) =
        receiveStep now packet (ownedStep host outbox)

    /// A user command for one connection.
    let command (now: int64) (tuple: FourTuple) (cmd: Command) (host: Host) (outbox: HostOutbox) =
        let step = ownedStep host outbox

        match tryFindIn step tuple with
        | ValueNone -> Error(NoSuchConnection tuple)
        | ValueSome c -> Ok(commandStep now c tuple cmd step)

    /// Tells the host whether the driver is short of memory for buffers: while it is,
    /// receive-buffer autotuning grows no buffer.
    let setMemoryPressure (pressure: bool) (host: Host) = host.MemoryPressure <- pressure

    /// Runs every connection timer due at `now`.
    let timeout (now: int64) (host: Host) (outbox: HostOutbox) =
        let step = ownedStep host outbox

        for KeyValue(tuple, c) in host.Table do
            timeoutOne now tuple c step

    /// Runs the timers of one connection if any is due at `now`.
    let timeoutConnection (now: int64) (tuple: FourTuple) (host: Host) (outbox: HostOutbox) =
        timeoutConnectionStep now tuple (ownedStep host outbox)

    /// Opens a connection to `remote:remotePort` from a free ephemeral port; its SYN and
    /// its first output go to `outbox`.
    let connect (now: int64) (remote: IpAddress) (remotePort: uint16) (host: Host) (outbox: HostOutbox) =
        connectStep host.Options.Connection now remote remotePort (ownedStep host outbox)

    /// As `connect`, with the connection's own `options` (its buffer sizes, say).
    let connectWith
        (options: ConnectionOptions)
        (now: int64)
        (remote: IpAddress)
        (remotePort: uint16)
        (host: Host)
        (outbox: HostOutbox)
        =
        connectStep options now remote remotePort (ownedStep host outbox)

    /// Starts listening on `port` with room for `backlog` connections waiting for accept.
    let listen (port: uint16) (backlog: int) (host: Host) =
        listenIn host.Options.Connection ListenFamily.Both port backlog host

    /// As `listen`, with `options` for the connections the listener accepts.
    let listenWith (options: ConnectionOptions) (port: uint16) (backlog: int) (host: Host) =
        listenIn options ListenFamily.Both port backlog host

    /// As `listenWith`, taking connections from `family` only.
    let listenFamily (options: ConnectionOptions) (family: ListenFamily) (port: uint16) (backlog: int) (host: Host) =
        listenIn options family port backlog host

    /// Stops listening on `port`; connections half-open or not yet accepted are reset
    /// (their output goes to `outbox`), accepted ones stay.
    let unlisten (now: int64) (port: uint16) (host: Host) (outbox: HostOutbox) =
        unlistenStep now port (familyOn host port) (ownedStep host outbox)

    /// As `unlisten`, for the listener of `family` on `port`.
    let unlistenFamily (now: int64) (port: uint16) (family: ListenFamily) (host: Host) (outbox: HostOutbox) =
        unlistenStep now port family (ownedStep host outbox)

    /// The oldest established connection waiting on `port`, taken off the accept queue.
    let accept (port: uint16) (host: Host) = acceptIn port (familyOn host port) host

    /// As `accept`, from the listener of `family` on `port`.
    let acceptFamily (port: uint16) (family: ListenFamily) (host: Host) = acceptIn port family host
