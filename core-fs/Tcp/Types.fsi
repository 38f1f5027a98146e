namespace Stack.Core.Tcp

/// The eleven connection states of RFC 9293 section 3.3.2.
[<RequireQualifiedAccess>]
type State =
    | Closed
    | Listen
    | SynSent
    | SynReceived
    | Established
    | FinWait1
    | FinWait2
    | CloseWait
    | Closing
    | LastAck
    | TimeWait

/// What the connection tells its user.
[<RequireQualifiedAccess>]
type Event =

    /// The three-way handshake completed.
    | Connected

    /// The peer answered our SYN with a reset.
    | Refused

    /// The peer reset an established connection.
    | Reset

    /// Retransmissions or keepalive probes went unanswered too many times.
    | TimedOut

    /// The peer will send no more (its FIN arrived, in order).
    | PeerClosed

    /// The connection reached CLOSED; it can be forgotten.
    | Closed

/// Keepalive probing (RFC 9293 3.8.4): after `IdleMicros` without hearing from the peer,
/// a probe every `IntervalMicros`; `Count` unanswered probes time the connection out.
[<Struct>]
type Keepalive =
    {
        IdleMicros: int64
        IntervalMicros: int64
        Count: int
    }

/// How the sender decides that a segment was lost, with SACK on (without it, three
/// duplicate ACKs and NewReno's partial ACKs decide).
[<RequireQualifiedAccess>]
type LossDetector =

    /// RACK-TLP (RFC 8985), by time: Linux's default.
    | Rack

    /// RFC 6675's duplicate threshold: lost when three segments' worth above it is SACKed.
    | DupThresh

/// Every tunable of one connection. `ConnectionOptions.defaults` follows Linux where
/// Linux has a setting.
type ConnectionOptions =
    {

        /// The MSS we announce and the largest payload we send: the MTU less 40 bytes of
        /// IPv4 and TCP headers.
        Mss: int

        /// Bytes the caller's send buffer holds: the most data queued and not yet acked.
        SendBufferSize: int

        /// Bytes the caller's receive buffer holds at most: unread data plus the window.
        ReceiveBufferSize: int

        /// Where receive-buffer autotuning starts: the buffer grows from here toward twice
        /// what the application reads in a round trip, up to `ReceiveBufferSize`, as
        /// Linux's receive buffer moderation does. At `ReceiveBufferSize` or more, the
        /// buffer is that size from the start.
        InitialReceiveBufferSize: int

        /// Offer window scaling (RFC 7323).
        WindowScaling: bool

        /// Offer timestamps (RFC 7323).
        Timestamps: bool

        /// Offer selective acknowledgments (RFC 2018).
        Sack: bool

        /// How losses are detected when SACK is on.
        LossDetection: LossDetector

        /// Turn Nagle's algorithm off (TCP_NODELAY).
        NoDelay: bool

        /// The delayed-ACK timer (RFC 9293 3.8.6.3 says under 500 ms; Linux uses 40 ms).
        DelayedAckMicros: int64

        /// Maximum segment lifetime: TIME-WAIT lasts twice this (Linux: 60 s in all).
        MslMicros: int64

        /// How long a detached connection (`Command.Detach`) waits in FIN-WAIT-2 for the
        /// peer's FIN while the peer sends nothing at all (Linux's tcp_fin_timeout, 60 s): a
        /// peer that went away, or never closes, does not keep the connection forever. A
        /// half-closed connection whose application still reads waits as long as the
        /// peer takes. Int64.MaxValue waits for ever.
        FinWait2TimeoutMicros: int64

        /// Retransmissions of data or FIN before the connection times out (tcp_retries2).
        MaxRetries: int

        /// Retransmissions of our SYN before giving up (tcp_syn_retries).
        MaxSynRetries: int

        /// Retransmissions of a listener's SYN-ACK before the half-open connection is
        /// dropped (tcp_synack_retries, 5: about 63 s of waiting in all).
        MaxSynAckRetries: int

        /// Keepalive, off when ValueNone (the default, as in Linux).
        Keepalive: Keepalive voption

        /// Bounds of the retransmission timeout.
        Rtt: Rtt.Options

        /// Makes the congestion controller for a connection with the given MSS.
        CongestionControl: (int -> Congestion.Controller)

        /// The instance's secret for initial sequence numbers (RFC 6528).
        IsnKey: Isn.IsnKey

        /// Keep notes of the engine's decisions for a trace (`Connection.Notes`): RTT
        /// samples, and segments judged lost and why. Off by default; off, a decision
        /// costs one null check.
        Trace: bool
    }

module ConnectionOptions =

    /// Linux-like values for a 1500-byte MTU.
    val defaults: ConnectionOptions

    /// The MSS for an MTU: 40 bytes less, for the IPv4 and TCP headers without options.
    val mssForMtu: mtu: int -> int

/// A segment as it reaches a connection: the IPv4 addresses around it, its header and
/// how many payload bytes follow the header. The payload stays with the caller.
/// A decision of the engine that only it can report, for a trace.
type NoteKind =
    | RttSample = 0
    | LostByRack = 1
    | LostByReorderTimer = 2
    | LostByThreshold = 3
    | LostByDuplicateAcks = 4
    | LostByPartialAck = 5
    | LostByTimeout = 6
    | LostByPathMtu = 7
    | DuplicateReported = 8

/// One note: when, what, where in the sequence space, and a number (for a loss, the
/// bytes newly judged lost, from `Seq`).
[<NoComparison; Struct>]
type Note =
    {
        Time: int64
        Kind: NoteKind
        Seq: SeqNum
        Value: int64
    }

[<NoComparison; Struct>]
type Incoming =
    {
        Source: Stack.Core.Wire.IpAddress
        Destination: Stack.Core.Wire.IpAddress
        mutable Header: Stack.Core.Wire.TcpHeader
        PayloadLength: int
    }

/// A segment to send: its header, and the send-buffer bytes it carries: `PayloadLength`
/// bytes starting at sequence number `Header.SequenceNumber`.
[<NoComparison; Struct>]
type Outgoing =
    {
        Header: Stack.Core.Wire.TcpHeader

        /// Mutable for the step that fills the segment in place (see `HeaderWriter`).
        mutable PayloadLength: int
    }

    member PayloadStart: SeqNum

/// Payload bytes of an incoming segment to keep: `Length` bytes from `PayloadOffset` in
/// the segment's payload belong at sequence number `Sequence` of the receive buffer.
[<NoComparison; Struct>]
type Arrived =
    {
        PayloadOffset: int
        Sequence: SeqNum
        Length: int
    }

/// A step that changed a connection's state says so, with where each direction's bytes
/// start: a driver keeps its buffers by these and never asks the core again.
type Transition =
    {

        /// The state the step left the connection in.
        State: State

        /// Sequence number of the first byte this side sends (ISS + 1).
        SendBase: SeqNum

        /// Sequence number of the first byte the peer sends (IRS + 1), once its SYN is in.
        ReceiveBase: SeqNum voption
    }

    /// The peer's first sequence number (IRS + 1), when its SYN is in (for C#).
    member TryGetReceiveBase: [<System.Runtime.InteropServices.Out>] receiveBase: byref<SeqNum> -> bool

/// Everything one step of a connection asks of its caller. Data, never an effect.
[<NoComparison; Struct>]
type Output =
    {

        /// Segments to send, in order.
        Segments: Outgoing list

        /// Payload bytes of the incoming segment to copy into the receive buffer.
        Arrived: Arrived voption

        /// Bytes that became readable, in order, after what was readable before.
        Readable: int

        /// Send-buffer bytes acknowledged by the peer: their space is free again.
        Released: int

        /// Bytes of a Send command taken into the send buffer.
        Queued: int

        /// Events for the user, in order.
        Events: Event list

        /// When the connection's timers next need running (`handleTimeout`), in the core's
        /// microseconds; `Int64.MaxValue` when no timer runs. A driver needs no lookup.
        NextDeadline: int64

        /// Segments the step sent again (a count for statistics).
        Retransmitted: int

        /// The new state when the step changed it (the first step of a connection always
        /// does), else None: the rare case, so a step in steady state allocates nothing.
        Transition: Transition option
    }

    /// The new state, when the step changed it (for C#).
    member TryGetTransition: [<System.Runtime.InteropServices.Out>] transition: byref<Transition> -> bool

    /// Where the incoming segment's payload goes, when it brought bytes to keep (for C#).
    member TryGetArrived: [<System.Runtime.InteropServices.Out>] arrived: byref<Arrived> -> bool

module Output =

    val empty: Output

module internal Lists =

    /// The items as an F# list, built from the end: no enumerator, nothing for no items.
    val ofResizeArray: items: ResizeArray<'T> -> 'T list

    /// The items as a read-only span over the list's own storage (valid until it changes).
    val spanOf: items: ResizeArray<'T> -> System.ReadOnlySpan<'T>

/// Collects what one step of a connection produces. The caller owns it and may reuse it
/// for every step (the in-place steps of `Connection.Owned` clear it first), so a step in
/// steady state allocates nothing.
[<System.Runtime.CompilerServices.SkipLocalsInit; Sealed; AllowNullLiteral>]
type Outbox =

    new: unit -> Outbox

    /// Forgets the last step's output.
    member Clear: unit -> unit

    /// A new segment's place at the end of the list, for the caller to fill in place.
    member internal NextSegment: unit -> byref<Outgoing>

    member internal Raise: e: Event -> unit

    member internal Send: o: Outgoing -> unit

    /// The output without its segments (a host sends those itself), its `Arrived` offset
    /// moved by `payloadStart`, with the connection's next deadline after the step and
    /// what `Connection.report` found. Allocates nothing when no event was raised.
    member internal Summary: payloadStart: int * nextDeadline: int64 * struct (int * Transition option) -> Output

    /// The output as a value.
    member ToOutput: nextDeadline: int64 * report: struct (int * Transition option) -> Output

    /// Payload bytes of the incoming segment to copy into the receive buffer.
    member Arrived: Arrived voption with get

    /// Payload bytes of the incoming segment to copy into the receive buffer.
    member Arrived: Arrived voption with internal set

    /// Challenge ACKs the stack may still send (RFC 5961 7): a host lends its budget for
    /// the step and takes back what is left. Not cleared by `Clear`; without a host, no
    /// limit.
    member ChallengeAcksLeft: int with get, set

    /// Events for the user, in order.
    member Events: System.ReadOnlySpan<Event>

    /// Bytes of a Send command taken into the send buffer.
    member Queued: int with get

    /// Bytes of a Send command taken into the send buffer.
    member Queued: int with internal set

    /// Bytes that became readable, in order, after what was readable before.
    member Readable: int with get

    /// Bytes that became readable, in order, after what was readable before.
    member Readable: int with internal set

    /// Send-buffer bytes acknowledged by the peer: their space is free again.
    member Released: int with get

    /// Send-buffer bytes acknowledged by the peer: their space is free again.
    member Released: int with internal set

    /// Segments to send, in order.
    member Segments: System.ReadOnlySpan<Outgoing>

/// What a user can ask of a connection (opening is `Connection.connect` or `listen`).
/// A struct, so issuing one allocates nothing.
[<RequireQualifiedAccess; Struct>]
type Command =

    /// `bytes` more bytes were written to the send buffer after the ones queued before.
    | Send of bytes: int

    /// The application read `consumed` readable bytes: their buffer space is free again.
    | Consumed of consumed: int

    /// No more data will be sent (half-close): FIN after the queued data.
    | Close

    /// The application let go: it will read nothing more (a full close, after `Close`).
    /// Only a detached connection gives up on a peer silent in FIN-WAIT-2.
    | Detach

    /// Drop the connection now, telling the peer with a reset.
    | Abort

    /// Nagle's algorithm off (true) or on (TCP_NODELAY); turning it off sends what it held.
    | SetNoDelay of noDelay: bool

    /// Keepalive with these timings, or off (SO_KEEPALIVE and TCP_KEEPIDLE/INTVL/CNT).
    | SetKeepalive of keepalive: Keepalive voption
