namespace Stack.Core.Host

open System
open System.Runtime.InteropServices
open Stack.Core.Tcp
open Stack.Core.Wire

/// The in-place steps of `Host.Owned` as a C# driver (the shell's stack thread) calls
/// them: methods of one class; success as a `bool`, with what a step made or why it
/// failed in `out` parameters; no F# module, Result or option to unwrap.
[<AbstractClass; Sealed>]
type OwnedHost =
    /// The host's connection options with a connection's own buffer sizes (bytes, powers
    /// of two); autotuning starts the receive buffer no larger than it may grow.
    static member private WithBuffers(host: Host, sendBufferSize: int, receiveBufferSize: int) =
        let o = host.Options.Connection

        { o with
            SendBufferSize = sendBufferSize
            ReceiveBufferSize = receiveBufferSize
            InitialReceiveBufferSize = min o.InitialReceiveBufferSize receiveBufferSize
        }

    /// A host with these options; from now on the caller owns it and changes it in place.
    static member Create(options: HostOptions) : Host = Host.create options

    /// An IPv4 packet arrives from the link; what it leads to is in `outbox`.
    static member Receive(now: int64, packet: ReadOnlySpan<byte>, host: Host, outbox: HostOutbox) : unit =
        Host.Owned.receive now packet host outbox

    /// A user command for the connection `tuple`; false when the host has no such connection.
    static member TryCommand(now: int64, tuple: FourTuple, command: Command, host: Host, outbox: HostOutbox) : bool =
        (Host.Owned.command now tuple command host outbox).IsOk

    /// Opens a connection to `remote:remotePort` from a free ephemeral port, with buffers
    /// of these sizes: its SYN is in `outbox` and `tuple` names it; false (and `error`)
    /// when no port or room is left.
    static member TryConnect
        (
            now: int64,
            remote: IpAddress,
            remotePort: uint16,
            sendBufferSize: int,
            receiveBufferSize: int,
            host: Host,
            outbox: HostOutbox,
            [<Out>] tuple: byref<FourTuple>,
            [<Out>] error: byref<HostError>
        ) : bool =
        let options = OwnedHost.WithBuffers(host, sendBufferSize, receiveBufferSize)

        match Host.Owned.connectWith options now remote remotePort host outbox with
        | Ok opened ->
            tuple <- opened
            true
        | Error e ->
            error <- e
            false

    /// Listens on `port` for connections of `family` with room for `backlog` of them
    /// waiting for accept, each with buffers of these sizes; false (and `error`) when the
    /// port is taken.
    static member TryListen
        (
            port: uint16,
            family: ListenFamily,
            backlog: int,
            sendBufferSize: int,
            receiveBufferSize: int,
            host: Host,
            [<Out>] error: byref<HostError>
        ) : bool =
        let options = OwnedHost.WithBuffers(host, sendBufferSize, receiveBufferSize)

        match Host.Owned.listenFamily options family port backlog host with
        | Ok() -> true
        | Error e ->
            error <- e
            false

    /// Stops `port`'s listener for `family`; connections half-open or not yet accepted are
    /// reset.
    static member Unlisten(now: int64, port: uint16, family: ListenFamily, host: Host, outbox: HostOutbox) : unit =
        Host.Owned.unlistenFamily now port family host outbox

    /// Takes the oldest established connection waiting on `port`'s listener for `family`;
    /// false when none waits.
    static member TryAccept(port: uint16, family: ListenFamily, host: Host, [<Out>] tuple: byref<FourTuple>) : bool =
        match Host.Owned.acceptFamily port family host with
        | ValueSome accepted ->
            tuple <- accepted
            true
        | ValueNone -> false

    /// The connection `tuple`, to read its state (for a trace); false when there is none.
    static member TryGetConnection(host: Host, tuple: FourTuple, [<Out>] connection: byref<Connection>) : bool =
        match Host.tryFind tuple host with
        | Some c ->
            connection <- c
            true
        | None -> false

    /// Runs the timers of the connection `tuple` if any is due at `now`.
    static member TimeoutConnection(now: int64, tuple: FourTuple, host: Host, outbox: HostOutbox) : unit =
        Host.Owned.timeoutConnection now tuple host outbox

    /// While the driver is short of buffer memory, receive buffers stop growing.
    static member SetMemoryPressure(pressure: bool, host: Host) : unit =
        Host.Owned.setMemoryPressure pressure host

    /// Writes a connection's segment, with `payload` after its header, as a whole IPv4
    /// packet into `destination`; returns the packet's length.
    static member WriteSegment
        (host: Host, tuple: FourTuple, segment: Outgoing, payload: ReadOnlySpan<byte>, destination: Span<byte>)
        : int =
        Host.writeSegment host tuple segment payload destination
