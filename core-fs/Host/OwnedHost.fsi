namespace Stack.Core.Host

/// The in-place steps of `Host.Owned` as a C# driver (the shell's stack thread) calls
/// them: methods of one class; success as a `bool`, with what a step made or why it
/// failed in `out` parameters; no F# module, Result or option to unwrap.
[<AbstractClass; Sealed; Class>]
type OwnedHost =

    /// A host with these options; from now on the caller owns it and changes it in place.
    static member Create: options: HostOptions -> Host

    /// An IPv4 packet arrives from the link; what it leads to is in `outbox`.
    static member Receive: now: int64 * packet: System.ReadOnlySpan<byte> * host: Host * outbox: HostOutbox -> unit

    /// While the driver is short of buffer memory, receive buffers stop growing.
    static member SetMemoryPressure: pressure: bool * host: Host -> unit

    /// Runs the timers of the connection `tuple` if any is due at `now`.
    static member TimeoutConnection: now: int64 * tuple: FourTuple * host: Host * outbox: HostOutbox -> unit

    /// Takes the oldest established connection waiting on `port`'s listener for `family`;
    /// false when none waits.
    static member TryAccept:
        port: uint16 *
        family: ListenFamily *
        host: Host *
        [<System.Runtime.InteropServices.Out>] tuple: byref<FourTuple> ->
            bool

    /// A user command for the connection `tuple`; false when the host has no such connection.
    static member TryCommand:
        now: int64 * tuple: FourTuple * command: Stack.Core.Tcp.Command * host: Host * outbox: HostOutbox -> bool

    /// Opens a connection to `remote:remotePort` from a free ephemeral port, with buffers
    /// of these sizes: its SYN is in `outbox` and `tuple` names it; false (and `error`)
    /// when no port or room is left.
    static member TryConnect:
        now: int64 *
        remote: Stack.Core.Wire.IpAddress *
        remotePort: uint16 *
        sendBufferSize: int *
        receiveBufferSize: int *
        host: Host *
        outbox: HostOutbox *
        [<System.Runtime.InteropServices.Out>] tuple: byref<FourTuple> *
        [<System.Runtime.InteropServices.Out>] error: byref<HostError> ->
            bool

    /// The connection `tuple`, to read its state (for a trace); false when there is none.
    static member TryGetConnection:
        host: Host *
        tuple: FourTuple *
        [<System.Runtime.InteropServices.Out>] connection: byref<Stack.Core.Tcp.Connection> ->
            bool

    /// Listens on `port` for connections of `family` with room for `backlog` of them
    /// waiting for accept, each with buffers of these sizes; false (and `error`) when the
    /// port is taken.
    static member TryListen:
        port: uint16 *
        family: ListenFamily *
        backlog: int *
        sendBufferSize: int *
        receiveBufferSize: int *
        host: Host *
        [<System.Runtime.InteropServices.Out>] error: byref<HostError> ->
            bool

    /// Stops `port`'s listener for `family`; connections half-open or not yet accepted are
    /// reset.
    static member Unlisten: now: int64 * port: uint16 * family: ListenFamily * host: Host * outbox: HostOutbox -> unit

    /// Writes a connection's segment, with `payload` after its header, as a whole IPv4
    /// packet into `destination`; returns the packet's length.
    static member WriteSegment:
        host: Host *
        tuple: FourTuple *
        segment: Stack.Core.Tcp.Outgoing *
        payload: System.ReadOnlySpan<byte> *
        destination: System.Span<byte> ->
            int
