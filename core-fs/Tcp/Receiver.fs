/// The receiving half of a connection (RFC 9293 3.10.7.4, the receive side): whether a
/// segment falls in the window, PAWS and the timestamp to echo (RFC 7323), the text kept
/// and what it makes readable, duplicates reported as D-SACK (RFC 2883), the answer to an
/// unacceptable segment, and the window updates the application's reads open.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module internal Stack.Core.Tcp.Receiver

open Stack.Core.Wire
open Stack.Core.Tcp.Emit

/// How long a timestamp may go unrefreshed before PAWS forgets it (RFC 7323 5.5).
let private pawsIdleMicros = 24L * 24L * 3600L * 1_000_000L

/// The length of a segment in sequence space.
let segmentLength (incoming: inref<Incoming>) =
    let h = &incoming.Header

    incoming.PayloadLength
    + (if h.Has TcpFlags.Syn then 1 else 0)
    + (if h.Has TcpFlags.Fin then 1 else 0)

/// RFC 9293 3.10.7.4, first check: does the segment fall in the receive window (its four
/// cases)? A zero window still lets the segment at RCV.NXT through for its ACK; its data
/// is trimmed away later. An empty segment exactly at the window's right edge is taken
/// too, as Linux takes it: a peer whose data filled our window and was lost sends its
/// ACKs from there, and refusing them would drop the one news it has of our data.
let acceptable (c: Connection) (incoming: inref<Incoming>) =
    let seq = SeqNum incoming.Header.SequenceNumber
    let length = segmentLength &incoming
    let window = max 0 (c.RcvEdge - c.RcvNxt)

    if length = 0 then
        if window = 0 then
            seq = c.RcvNxt
        else
            SeqNum.inWindow c.RcvNxt (uint32 window + 1u) seq
    elif window = 0 then
        seq = c.RcvNxt
    else
        SeqNum.inWindow c.RcvNxt (uint32 window) seq
        || SeqNum.inWindow c.RcvNxt (uint32 window) (seq + length - 1)

/// PAWS (RFC 7323 5.3): a segment whose timestamp is older than the latest one is an old
/// duplicate.
let staleTimestamp (c: Connection) (now: int64) (incoming: inref<Incoming>) (offered: inref<KnownOptions>) =
    match offered.Timestamps with
    | ValueSome(struct (tsval, _)) when c.TimestampsOn && not (incoming.Header.Has TcpFlags.Rst) ->
        int (tsval - c.TsRecent) < 0 && now - c.TsRecentAt < pawsIdleMicros
    | _ -> false

/// RFC 7323 4.3: remember the timestamp to echo from the segment that covers the last
/// ACK we sent.
let recordTimestamp (c: Connection) (now: int64) (incoming: inref<Incoming>) (offered: inref<KnownOptions>) =
    match offered.Timestamps with
    | ValueSome(struct (tsval, _)) when c.TimestampsOn ->
        if
            int (tsval - c.TsRecent) >= 0
            && SeqNum.le (SeqNum incoming.Header.SequenceNumber) c.LastAckSent
        then
            c.TsRecent <- tsval
            c.TsRecentAt <- now
    | _ -> ()

/// Payload [seq, payloadEnd) that was here already, in order or out of it, is reported
/// in a D-SACK block of the next ACK (RFC 2883), so the sender learns its retransmission
/// was not needed.
let noteDuplicate (c: Connection) (seq: SeqNum) (payloadEnd: SeqNum) =
    if c.SackOn && SeqNum.lt seq payloadEnd then
        if SeqNum.lt seq c.RcvNxt then
            c.Dsack <-
                ValueSome
                    {
                        Start = seq
                        End = SeqNum.min payloadEnd c.RcvNxt
                    }
        elif c.OutOfOrder.Covers(seq, payloadEnd) then
            c.Dsack <- ValueSome { Start = seq; End = payloadEnd }

/// RFC 9293 3.10.7.4, seventh step: keep the payload that falls in the window. Returns
/// whether the ACK for it must go now (out of order, a hole filled, or a duplicate).
let onText (c: Connection) (box: Outbox) (incoming: inref<Incoming>) =
    let seq = SeqNum incoming.Header.SequenceNumber
    let seq = if incoming.Header.Has TcpFlags.Syn then seq + 1 else seq
    let payloadEnd = seq + incoming.PayloadLength
    noteDuplicate c seq payloadEnd
    let start = SeqNum.max seq c.RcvNxt
    let stop = SeqNum.min payloadEnd c.RcvEdge
    let length = stop - start

    if length <= 0 then
        true
    else
        let inOrder = start = c.RcvNxt
        let holesBefore = not c.OutOfOrder.IsEmpty

        box.Arrived <-
            ValueSome
                {
                    PayloadOffset = start - seq
                    Sequence = start
                    Length = length
                }

        match Reassembly.add c.RcvNxt start length c.OutOfOrder with
        | Reassembly.Advanced n ->
            c.RcvNxt <- c.RcvNxt + n
            c.RcvUnread <- c.RcvUnread + n
            box.Readable <- box.Readable + n
        | Reassembly.Ignored -> ()

        // Counted in full-sized segments, so that a segment the kernel coalesced (64 KiB
        // through a TUN device with offloads) is acknowledged at once, as Linux does.
        c.UnackedSegments <- c.UnackedSegments + max 1 (incoming.PayloadLength / c.LocalMss)
        not inOrder || holesBefore || c.UnackedSegments >= 2

/// An unacceptable segment gets an ACK (RFC 9293 3.10.7.4), except a reset. An empty one
/// is answered at most twice a second, as Linux does, so two ends that disagree cannot
/// keep each other busy with ACKs.
let answerUnacceptable (c: Connection) (now: int64) (box: Outbox) (incoming: inref<Incoming>) =
    let empty = segmentLength &incoming = 0

    if
        not (incoming.Header.Has TcpFlags.Rst)
        && not (empty && now - c.LastOutOfWindowAck < outOfWindowAckInterval)
    then
        if empty then
            c.LastOutOfWindowAck <- now
        else
            let seq = SeqNum incoming.Header.SequenceNumber
            noteDuplicate c seq (seq + incoming.PayloadLength)

        ack c now box

/// Receive-buffer autotuning: the application read `consumed` more bytes. Once per round
/// trip (10 ms before the first RTT sample), a buffer smaller than twice what was read in
/// that time grows to that, rounded up to a power of two, up to `RcvBufferMax`: the window keeps ahead of the bandwidth-
/// delay product, and a connection that carries little keeps a small buffer.
let autotune (c: Connection) (now: int64) (consumed: int) =
    c.RcvCopied <- c.RcvCopied + consumed
    let period = c.Rtt.Srtt |> ValueOption.defaultValue 10_000L

    if now - c.RcvMeasuredAt >= max 1L period then
        if c.RcvBuffer < c.RcvBufferMax && c.RcvCopied > c.RcvBuffer / 2 then
            // A power of two, as the drivers' rings are: a window the peer fills fills its ring.
            let wanted =
                1
                <<< (32
                     - System.Numerics.BitOperations.LeadingZeroCount(uint32 (2 * c.RcvCopied - 1)))

            c.RcvBuffer <- min c.RcvBufferMax (max c.RcvBuffer wanted)

        c.RcvCopied <- 0
        c.RcvMeasuredAt <- now

/// The window the application's reads have opened, announced in a segment of its own
/// only when that is worth it: a small or closed window reopens as soon as it grew by an
/// MSS (or half the buffer); a larger one only once it at least doubles from half the
/// buffer or less, as Linux does. Otherwise the next ACK carries it.
let windowUpdate (c: Connection) (now: int64) (box: Outbox) =
    let mss = c.LocalMss
    let buffer = c.RcvBuffer
    let available = max 0 (buffer - c.RcvUnread)
    let growth = (c.RcvNxt + available) - c.RcvEdge
    let current = c.RcvEdge - c.RcvNxt

    let worthIt =
        if current < mss then
            growth >= max 1 (min (buffer / 2) mss)
        else
            2 * current <= buffer && available >= 2 * current

    if worthIt then
        ack c now box
