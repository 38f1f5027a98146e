/// The sending half of a connection: what to send now (window, Nagle, silly-window
/// avoidance, FIN), what an acknowledgment releases, round-trip samples, and loss
/// recovery: the scoreboard, fast recovery with PRR, tail loss probes and timeouts. Which
/// segments are lost is `LossDetection`'s call.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Sender

/// Our FIN was acknowledged.
val internal finAcked: c: Stack.Core.Tcp.Connection -> bool

val internal restartRetransmitTimer: c: Stack.Core.Tcp.Connection -> now: int64 -> unit

/// Sends `length` bytes of the send buffer from `seq`, with FIN when they end the queued
/// data and the user closed. Returns the sequence number after the segment. New data is
/// entered on the scoreboard here; a retransmission is marked by its caller.
val internal transmitRange:
    c: Stack.Core.Tcp.Connection ->
    now: int64 ->
    box: Stack.Core.Tcp.Outbox ->
    seq: Stack.Core.Tcp.SeqNum ->
    length: int ->
        Stack.Core.Tcp.SeqNum

/// Sends what may be sent now: in SACK recovery as PRR allows, otherwise as the windows
/// allow (NewReno's retransmission of SND.UNA goes first, whatever the window).
val internal output: c: Stack.Core.Tcp.Connection -> now: int64 -> box: Stack.Core.Tcp.Outbox -> unit

/// The persist timer expired: probe a zero window with a segment the receiver must answer
/// (one below SND.UNA, as Linux does), or, when some window is open but too small for
/// silly-window avoidance, send what fits (the override timeout of 3.8.6.2.1).
val internal onPersist: c: Stack.Core.Tcp.Connection -> now: int64 -> box: Stack.Core.Tcp.Outbox -> unit

/// A round-trip sample from the ACK of our SYN: from the echoed timestamp when on
/// (RFC 7323 RTTM), else from the timed SYN.
val internal measure:
    c: Stack.Core.Tcp.Connection ->
    now: int64 ->
    ack: Stack.Core.Tcp.SeqNum ->
    options: Stack.Core.Wire.KnownOptions ->
        unit

/// The peer's window from a segment's field (scaled except on a SYN, RFC 7323 2.2).
val internal windowOf: c: Stack.Core.Tcp.Connection -> h: Stack.Core.Wire.TcpHeader -> int

/// What an acceptable segment's ACK field does to the send side, in a synchronized state
/// (RFC 9293 3.10.7.4 fifth step, with RFC 5961 5.2's check). False when the segment is
/// to be dropped (after answering it with an ACK).
val internal onAck:
    c: Stack.Core.Tcp.Connection ->
    now: int64 ->
    box: Stack.Core.Tcp.Outbox ->
    incoming: inref<Stack.Core.Tcp.Incoming> ->
    options: inref<Stack.Core.Wire.KnownOptions> ->
        bool

/// The reordering timer expired: what RACK was waiting for is lost now (RFC 8985 6.3).
val internal onReorderTimeout: c: Stack.Core.Tcp.Connection -> now: int64 -> box: Stack.Core.Tcp.Outbox -> unit

/// The loss probe timer expired (RFC 8985 7.3): send one segment to draw an ACK, new data
/// if the peer's window allows, else the last segment again; the retransmission timer
/// starts over.
val internal onProbeTimeout: c: Stack.Core.Tcp.Connection -> now: int64 -> box: Stack.Core.Tcp.Outbox -> unit

/// The path MTU dropped (an ICMP error): what was sent in segments larger than the new
/// MSS is lost and goes again at the new size; what fits went through and is left alone.
val internal resendOversized: c: Stack.Core.Tcp.Connection -> now: int64 -> box: Stack.Core.Tcp.Outbox -> unit

/// The retransmission timer expired with data or FIN outstanding: back off, shrink the
/// window to one segment, forget what the peer SACKed (it may have dropped it), and send
/// everything again from SND.UNA as the window grows (RFC 6298 5.4-5.6, RFC 5681 3.1,
/// RFC 6675 5.1).
val internal onRetransmitTimeout: c: Stack.Core.Tcp.Connection -> now: int64 -> box: Stack.Core.Tcp.Outbox -> unit
