/// One stack instance, as callers use it: `create`; the value forms, each one of the
/// engine's in-place steps (`HostEngine`) run on a copy of the host, for tests and
/// scripts; `Owned`, the same steps on the caller's own host, for drivers; and what a
/// driver needs beside them (`writeSegment`, `nextDeadline`).
[<System.Runtime.CompilerServices.SkipLocalsInit;
  RequireQualifiedAccess;
  CompilationRepresentation(enum<CompilationRepresentationFlags>(4))>]
module Stack.Core.Host.Host

val create: options: Stack.Core.Host.HostOptions -> Stack.Core.Host.Host

/// An IPv4 packet arrives from the link.
val receive:
    now: int64 ->
    packet: System.ReadOnlySpan<byte> ->
    host: Stack.Core.Host.Host ->
        struct (Stack.Core.Host.Host * Stack.Core.Host.HostOutput)

/// Starts listening on `port` with room for `backlog` connections waiting for accept.
val listen:
    port: uint16 ->
    backlog: int ->
    host: Stack.Core.Host.Host ->
        Result<Stack.Core.Host.Host, Stack.Core.Host.HostError>

/// Stops listening on `port`; connections half-open or not yet accepted are reset (their
/// resets are in the output), accepted ones stay.
val unlisten:
    now: int64 ->
    port: uint16 ->
    host: Stack.Core.Host.Host ->
        struct (Stack.Core.Host.Host * Stack.Core.Host.HostOutput)

/// The oldest established connection waiting on `port`, taken off the accept queue.
val accept:
    port: uint16 -> host: Stack.Core.Host.Host -> struct (Stack.Core.Host.FourTuple voption * Stack.Core.Host.Host)

/// Opens a connection to `remote:remotePort` from a free ephemeral port.
val connect:
    now: int64 ->
    remote: Stack.Core.Wire.IpAddress ->
    remotePort: uint16 ->
    host: Stack.Core.Host.Host ->
        Result<
            struct (Stack.Core.Host.Host * Stack.Core.Host.FourTuple * Stack.Core.Host.HostOutput),
            Stack.Core.Host.HostError
         >

/// A user command for one connection.
val command:
    now: int64 ->
    tuple: Stack.Core.Host.FourTuple ->
    cmd: Stack.Core.Tcp.Command ->
    host: Stack.Core.Host.Host ->
        Result<struct (Stack.Core.Host.Host * Stack.Core.Host.HostOutput), Stack.Core.Host.HostError>

/// The connection with this tuple, if the host has it.
val tryFind: tuple: Stack.Core.Host.FourTuple -> host: Stack.Core.Host.Host -> Stack.Core.Tcp.Connection option

/// When `timeout` is next due: the earliest deadline of any connection.
val nextDeadline: host: Stack.Core.Host.Host -> int64 voption

/// Runs every connection timer due at `now`.
val timeout: now: int64 -> host: Stack.Core.Host.Host -> struct (Stack.Core.Host.Host * Stack.Core.Host.HostOutput)

/// Runs the timers of one connection if any is due at `now` (for a caller that keeps its
/// own index of deadlines instead of asking `nextDeadline` about every connection). The
/// output has an entry for the connection whenever it exists, with its next deadline.
val timeoutConnection:
    now: int64 ->
    tuple: Stack.Core.Host.FourTuple ->
    host: Stack.Core.Host.Host ->
        struct (Stack.Core.Host.Host * Stack.Core.Host.HostOutput)

/// Writes a connection's segment as a whole IP packet of its family into `destination`, with
/// `payload` (its bytes from the send buffer) after the header. Returns the length.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val writeSegment:
    host: Stack.Core.Host.Host ->
    tuple: Stack.Core.Host.FourTuple ->
    segment: Stack.Core.Tcp.Outgoing ->
    payload: System.ReadOnlySpan<byte> ->
    destination: System.Span<byte> ->
        int

/// The packet steps for a caller that owns its host outright (the shell's stack thread):
/// the host and its connections change in place, and each step's output replaces what
/// the outbox held, so a step in steady state allocates nothing. A host handed to these
/// must not be shared: every earlier value of it, and of its connections, changes too.
/// These are the engine; each value step above is one of these run on a copy.
module Owned =

    /// An independent copy, for an owner that takes over a host value: its connections
    /// are copied too.
    val copy: host: Stack.Core.Host.Host -> Stack.Core.Host.Host

    /// An IPv4 packet arrives from the link.
    val receive:
        now: int64 ->
        packet: System.ReadOnlySpan<byte> ->
        host: Stack.Core.Host.Host ->
        outbox: Stack.Core.Host.HostOutbox ->
            unit

    /// A user command for one connection.
    val command:
        now: int64 ->
        tuple: Stack.Core.Host.FourTuple ->
        cmd: Stack.Core.Tcp.Command ->
        host: Stack.Core.Host.Host ->
        outbox: Stack.Core.Host.HostOutbox ->
            Result<unit, Stack.Core.Host.HostError>

    /// Tells the host whether the driver is short of memory for buffers: while it is,
    /// receive-buffer autotuning grows no buffer.
    val setMemoryPressure: pressure: bool -> host: Stack.Core.Host.Host -> unit

    /// Runs every connection timer due at `now`.
    val timeout: now: int64 -> host: Stack.Core.Host.Host -> outbox: Stack.Core.Host.HostOutbox -> unit

    /// Runs the timers of one connection if any is due at `now`.
    val timeoutConnection:
        now: int64 ->
        tuple: Stack.Core.Host.FourTuple ->
        host: Stack.Core.Host.Host ->
        outbox: Stack.Core.Host.HostOutbox ->
            unit

    /// Opens a connection to `remote:remotePort` from a free ephemeral port; its SYN and
    /// its first output go to `outbox`.
    val connect:
        now: int64 ->
        remote: Stack.Core.Wire.IpAddress ->
        remotePort: uint16 ->
        host: Stack.Core.Host.Host ->
        outbox: Stack.Core.Host.HostOutbox ->
            Result<Stack.Core.Host.FourTuple, Stack.Core.Host.HostError>

    /// As `connect`, with the connection's own `options` (its buffer sizes, say).
    val connectWith:
        options: Stack.Core.Tcp.ConnectionOptions ->
        now: int64 ->
        remote: Stack.Core.Wire.IpAddress ->
        remotePort: uint16 ->
        host: Stack.Core.Host.Host ->
        outbox: Stack.Core.Host.HostOutbox ->
            Result<Stack.Core.Host.FourTuple, Stack.Core.Host.HostError>

    /// Starts listening on `port` with room for `backlog` connections waiting for accept.
    val listen: port: uint16 -> backlog: int -> host: Stack.Core.Host.Host -> Result<unit, Stack.Core.Host.HostError>

    /// As `listen`, with `options` for the connections the listener accepts.
    val listenWith:
        options: Stack.Core.Tcp.ConnectionOptions ->
        port: uint16 ->
        backlog: int ->
        host: Stack.Core.Host.Host ->
            Result<unit, Stack.Core.Host.HostError>

    /// As `listenWith`, taking connections from `family` only.
    val listenFamily:
        options: Stack.Core.Tcp.ConnectionOptions ->
        family: Stack.Core.Host.ListenFamily ->
        port: uint16 ->
        backlog: int ->
        host: Stack.Core.Host.Host ->
            Result<unit, Stack.Core.Host.HostError>

    /// Stops listening on `port`; connections half-open or not yet accepted are reset
    /// (their output goes to `outbox`), accepted ones stay.
    val unlisten: now: int64 -> port: uint16 -> host: Stack.Core.Host.Host -> outbox: Stack.Core.Host.HostOutbox -> unit

    /// As `unlisten`, for the listener of `family` on `port`.
    val unlistenFamily:
        now: int64 ->
        port: uint16 ->
        family: Stack.Core.Host.ListenFamily ->
        host: Stack.Core.Host.Host ->
        outbox: Stack.Core.Host.HostOutbox ->
            unit

    /// The oldest established connection waiting on `port`, taken off the accept queue.
    val accept: port: uint16 -> host: Stack.Core.Host.Host -> Stack.Core.Host.FourTuple voption

    /// As `accept`, from the listener of `family` on `port`.
    val acceptFamily:
        port: uint16 ->
        family: Stack.Core.Host.ListenFamily ->
        host: Stack.Core.Host.Host ->
            Stack.Core.Host.FourTuple voption
