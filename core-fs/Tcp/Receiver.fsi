/// The receiving half of a connection (RFC 9293 3.10.7.4, the receive side): whether a
/// segment falls in the window, PAWS and the timestamp to echo (RFC 7323), the text kept
/// and what it makes readable, duplicates reported as D-SACK (RFC 2883), the answer to an
/// unacceptable segment, and the window updates the application's reads open.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Receiver

/// The length of a segment in sequence space.
val internal segmentLength: incoming: inref<Stack.Core.Tcp.Incoming> -> int

/// RFC 9293 3.10.7.4, first check: does the segment fall in the receive window (its four
/// cases)? A zero window still lets the segment at RCV.NXT through for its ACK; its data
/// is trimmed away later. An empty segment exactly at the window's right edge is taken
/// too, as Linux takes it: a peer whose data filled our window and was lost sends its
/// ACKs from there, and refusing them would drop the one news it has of our data.
val internal acceptable: c: Stack.Core.Tcp.Connection -> incoming: inref<Stack.Core.Tcp.Incoming> -> bool

/// PAWS (RFC 7323 5.3): a segment whose timestamp is older than the latest one is an old
/// duplicate.
val internal staleTimestamp:
    c: Stack.Core.Tcp.Connection ->
    now: int64 ->
    incoming: inref<Stack.Core.Tcp.Incoming> ->
    offered: inref<Stack.Core.Wire.KnownOptions> ->
        bool

/// RFC 7323 4.3: remember the timestamp to echo from the segment that covers the last
/// ACK we sent.
val internal recordTimestamp:
    c: Stack.Core.Tcp.Connection ->
    now: int64 ->
    incoming: inref<Stack.Core.Tcp.Incoming> ->
    offered: inref<Stack.Core.Wire.KnownOptions> ->
        unit

/// Payload [seq, payloadEnd) that was here already, in order or out of it, is reported
/// in a D-SACK block of the next ACK (RFC 2883), so the sender learns its retransmission
/// was not needed.
val internal noteDuplicate:
    c: Stack.Core.Tcp.Connection -> seq: Stack.Core.Tcp.SeqNum -> payloadEnd: Stack.Core.Tcp.SeqNum -> unit

/// RFC 9293 3.10.7.4, seventh step: keep the payload that falls in the window. Returns
/// whether the ACK for it must go now (out of order, a hole filled, or a duplicate).
val internal onText:
    c: Stack.Core.Tcp.Connection -> box: Stack.Core.Tcp.Outbox -> incoming: inref<Stack.Core.Tcp.Incoming> -> bool

/// An unacceptable segment gets an ACK (RFC 9293 3.10.7.4), except a reset. An empty one
/// is answered at most twice a second, as Linux does, so two ends that disagree cannot
/// keep each other busy with ACKs.
val internal answerUnacceptable:
    c: Stack.Core.Tcp.Connection ->
    now: int64 ->
    box: Stack.Core.Tcp.Outbox ->
    incoming: inref<Stack.Core.Tcp.Incoming> ->
        unit

/// Receive-buffer autotuning: the application read `consumed` more bytes. Once per round
/// trip (10 ms before the first RTT sample), a buffer smaller than twice what was read in
/// that time grows to that, rounded up to a power of two, up to `RcvBufferMax`: the window keeps ahead of the bandwidth-
/// delay product, and a connection that carries little keeps a small buffer.
val internal autotune: c: Stack.Core.Tcp.Connection -> now: int64 -> consumed: int -> unit

/// The window the application's reads have opened, announced in a segment of its own
/// only when that is worth it: a small or closed window reopens as soon as it grew by an
/// MSS (or half the buffer); a larger one only once it at least doubles from half the
/// buffer or less, as Linux does. Otherwise the next ACK carries it.
val internal windowUpdate: c: Stack.Core.Tcp.Connection -> now: int64 -> box: Stack.Core.Tcp.Outbox -> unit
