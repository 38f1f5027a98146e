/// Building the segments a connection sends: headers, the options they carry, the window
/// they advertise, and the output that collects them during one step.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Emit

/// Our timestamp clock as `c` sends it: milliseconds (RFC 7323 asks for a tick between
/// 1 ms and 1 s) plus the connection's own offset (RFC 7323 5.4).
val internal tsClock: c: Stack.Core.Tcp.Connection -> now: int64 -> uint32

/// The shift that lets a window of `bufferSize` bytes fit the 16-bit field (at most 14).
val internal shiftFor: bufferSize: int -> int

/// The options of a SYN or SYN-ACK: MSS always; SACK-permitted, timestamps and window
/// scale as offered (Linux's layout).
val internal synOptions:
    mss: int ->
    sack: bool ->
    timestamps: struct (uint32 * uint32) voption ->
    shift: int voption ->
        Stack.Core.Wire.OptionBytes

/// The window to advertise now, as the header field, moving the advertised right edge.
/// Receiver silly-window avoidance (RFC 9293 3.8.6.2.2): the edge moves right only by at
/// least min(half the buffer, one MSS), and never moves left.
val internal advertiseWindow: c: Stack.Core.Tcp.Connection -> uint16

/// A header from this connection with the given sequence number and flags.
val internal baseHeader:
    c: Stack.Core.Tcp.Connection ->
    seq: Stack.Core.Tcp.SeqNum ->
    flags: Stack.Core.Wire.TcpFlags ->
        Stack.Core.Wire.TcpHeader

/// Sends a synchronized segment: ACK set, the current window and options. Every such
/// segment acknowledges everything received, so a pending delayed ACK is done.
val internal send:
    c: Stack.Core.Tcp.Connection ->
    now: int64 ->
    box: Stack.Core.Tcp.Outbox ->
    seq: Stack.Core.Tcp.SeqNum ->
    flags: Stack.Core.Wire.TcpFlags ->
    payloadLength: int ->
        unit

/// A bare ACK of everything received. It carries the highest sequence number sent, not
/// SND.NXT, which goes back after a timeout: the peer has seen numbers up to there, and an
/// older one would fall outside its window and draw an ACK back.
val internal ack: c: Stack.Core.Tcp.Connection -> now: int64 -> box: Stack.Core.Tcp.Outbox -> unit

/// The least time between one connection's answers to segments it will not take (Linux's
/// tcp_invalid_ratelimit).
val internal outOfWindowAckInterval: int64

/// A challenge ACK (RFC 5961: for a reset or SYN in the window but not exact, or an ACK
/// too old to believe), at most one per connection per 500 ms and within the stack's
/// budget (RFC 5961 7), so forged segments cannot make us a flood of ACKs.
val internal challengeAck: c: Stack.Core.Tcp.Connection -> now: int64 -> box: Stack.Core.Tcp.Outbox -> unit

/// Our SYN (active open) or SYN-ACK (passive or simultaneous open), first or again.
val internal syn: c: Stack.Core.Tcp.Connection -> now: int64 -> box: Stack.Core.Tcp.Outbox -> unit

/// The reset RFC 9293 3.10.7.1 answers a segment with when nothing owns it (or it is
/// unacceptable in SYN-SENT): none for a reset.
val internal resetFor: h: Stack.Core.Wire.TcpHeader -> payloadLength: int -> Stack.Core.Wire.TcpHeader voption
