/// The sending half of a connection: what to send now (window, Nagle, silly-window
/// avoidance, FIN), what an acknowledgment releases, round-trip samples, and loss
/// recovery: the scoreboard, fast recovery with PRR, tail loss probes and timeouts. Which
/// segments are lost is `LossDetection`'s call.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module internal Stack.Core.Tcp.Sender

open Stack.Core.Wire
open Stack.Core.Tcp.Emit

/// States in which data and FIN may leave.
let private mayTransmit (s: State) =
    match s with
    | State.Established
    | State.CloseWait
    | State.FinWait1
    | State.Closing
    | State.LastAck -> true
    | _ -> false

/// Our FIN was acknowledged.
let finAcked (c: Connection) =
    c.FinQueued && SeqNum.gt c.SndUna c.SndQueued

let restartRetransmitTimer (c: Connection) (now: int64) =
    Timers.put Timers.Retransmit (now + Rtt.rto c.Rtt) &c.Timers

let private armRetransmitTimer (c: Connection) (now: int64) =
    if not (Timers.isSet Timers.Retransmit &c.Timers) then
        restartRetransmitTimer c now

/// Arms the tail loss probe (RFC 8985 7.2): with RACK on, data in flight, no recovery
/// and no probe's episode open, a probe goes out if nothing is heard for a PTO, unless
/// the retransmission timer would fire first anyway.
let private scheduleProbe (c: Connection) (now: int64) =
    if
        c.SackOn
        && c.Options.LossDetection.IsRack
        && c.Recovery.IsOpen
        && c.TlpEnd.IsNone
        && SeqNum.gt c.SndMax c.SndUna
    then
        let at = now + Rack.probeTimeout c.Rtt.Srtt (c.Board.Count = 1) c.Options.Rtt.MinRto

        match Timers.get Timers.Retransmit c.Timers with
        | ValueSome rto when at >= rto -> Timers.stop Timers.LossProbe &c.Timers
        | _ -> Timers.put Timers.LossProbe at &c.Timers
    else
        Timers.stop Timers.LossProbe &c.Timers

/// Sends `length` bytes of the send buffer from `seq`, with FIN when they end the queued
/// data and the user closed. Returns the sequence number after the segment. New data is
/// entered on the scoreboard here; a retransmission is marked by its caller.
let transmitRange (c: Connection) (now: int64) (box: Outbox) (seq: SeqNum) (length: int) =
    let withFin = c.FinQueued && seq + length = c.SndQueued
    let reachesEnd = length > 0 && seq + length = c.SndQueued

    let flags =
        (if reachesEnd then TcpFlags.Psh else TcpFlags.None)
        ||| (if withFin then TcpFlags.Fin else TcpFlags.None)

    let retransmission = SeqNum.lt seq c.SndMax

    if retransmission then
        c.Retransmissions <- c.Retransmissions + 1L

    send c now box seq flags length
    let after = seq + length + (if withFin then 1 else 0)

    if not retransmission && after <> seq then
        c.Board.Append(seq, after, now, int c.SegmentsSent)

    c.SndMax <- SeqNum.max c.SndMax after

    if after <> seq then
        armRetransmitTimer c now

        if not retransmission then
            scheduleProbe c now

    after

/// Sends the scoreboard entry at `index` again, at most `limit` bytes of it and never more
/// than an MSS (the rest stays behind as an entry of its own). Returns the sequence space
/// sent.
let private resend (c: Connection) (now: int64) (box: Outbox) (index: int) (limit: int) =
    let entry = c.Board.At index
    let size = min entry.Length (max 1 (min c.SndMss limit))

    if size < entry.Length then
        c.Board.SplitAt(entry.Start + size, true) |> ignore

    // Data ends where the user's data ends; past it only our FIN can be in the entry.
    let data = max 0 (min size (c.SndQueued - entry.Start))
    transmitRange c now box entry.Start data |> ignore
    c.Board.MarkRetransmitted(index, now, int c.SegmentsSent)

    if c.Undo.Cwnd > 0 then
        c.Undo <-
            { c.Undo with
                Retransmits = c.Undo.Retransmits + 1
            }

    size

/// Room the congestion window leaves, and room the peer's window leaves for new data.
let inline private congestionRoom (c: Connection) = c.Congestion.Window - c.Pipe

let inline private receiveRoom (c: Connection) = c.SndWnd - (c.SndMax - c.SndUna)

/// Our FIN is queued and has not left yet.
let inline private finDue (c: Connection) = c.FinQueued && c.SndMax = c.SndQueued

/// Sends what the windows allow: segments judged lost first, then new data under
/// Nagle's algorithm and sender silly-window avoidance (RFC 9293 3.8.6.2.1), then FIN
/// when it is due.
let private windowOutput (c: Connection) (now: int64) (box: Outbox) =
    let mutable go = true

    while go do
        let lost = c.Board.FirstLost 0
        let room = min (congestionRoom c) c.SndWnd

        if lost >= 0 then
            // A whole segment, or what is left of it; never a sliver of one.
            if room >= min c.SndMss (c.Board.At lost).Length then
                resend c now box lost room |> ignore
            else
                go <- false
        else
            let outstanding = c.SndMax - c.SndUna
            let usable = min (congestionRoom c) (receiveRoom c)
            let unsent = c.SndQueued - c.SndMax

            if unsent > 0 then
                let length = min unsent (min c.SndMss usable)
                let full = length = c.SndMss
                let last = length = unsent && (c.Options.NoDelay || outstanding = 0 || c.FinQueued)
                let halfWindow = outstanding = 0 && length >= c.MaxSndWnd / 2

                if length > 0 && (full || last || halfWindow) then
                    c.SndNxt <- transmitRange c now box c.SndMax length
                else
                    go <- false
            elif finDue c then
                c.SndNxt <- transmitRange c now box c.SndMax 0
            else
                go <- false

/// The rescue retransmission of RFC 6675 (NextSeg rule 4), once per recovery: with no
/// hole known lost and no new data to send, the highest segment the peer has not SACKed,
/// so that a loss at the tail is found without the timer.
let private rescue (c: Connection) (now: int64) (box: Outbox) =
    let mutable i = c.Board.Count - 1

    while i >= 0 && (c.Board.At i).Has Scoreboard.Marks.Sacked do
        i <- i - 1

    if i >= 0 then resend c now box i c.SndMss else 0

/// SACK-based fast recovery, paced by proportional rate reduction (RFC 6937): each ACK
/// lets out about as much as it says left the network, scaled down towards ssthresh, so
/// the retransmissions do not land on a queue that is still full. Lost segments go first,
/// then new data.
let private recoveryOutput (c: Connection) (now: int64) (box: Outbox) (prr: Prr) =
    let pipe = c.Pipe
    let ssthresh = max c.SndMss c.Congestion.SlowStartThreshold
    let delivered = prr.Delivered + c.LastDelivered

    let allowance =
        if pipe > ssthresh then
            let flight = int64 (max 1 prr.Flight)
            int ((int64 delivered * int64 ssthresh + flight - 1L) / flight) - prr.Out
        else
            // Slow-start reduction bound: back up to ssthresh, no faster than the ACKs.
            min (ssthresh - pipe) (max (delivered - prr.Out) c.LastDelivered + c.SndMss)

    // The first retransmission of a recovery always goes.
    let mutable budget = if prr.Out = 0 then max allowance c.SndMss else allowance
    let mutable out = prr.Out
    let mutable rescued = prr.Rescued
    c.LastDelivered <- 0

    while budget > 0 do
        let lost = c.Board.FirstLost 0

        let sent =
            if lost >= 0 then
                resend c now box lost c.SndMss
            else
                let length = min (c.SndQueued - c.SndMax) (min c.SndMss (receiveRoom c))

                if length > 0 then
                    c.SndNxt <- transmitRange c now box c.SndMax length
                    length
                elif finDue c then
                    c.SndNxt <- transmitRange c now box c.SndMax 0
                    0
                elif c.Options.LossDetection.IsDupThresh && not rescued then
                    rescued <- true
                    rescue c now box
                else
                    0

        if sent > 0 then
            out <- out + sent
            budget <- budget - sent
        else
            budget <- 0

    c.Recovery <-
        Recovery.Fast
            { prr with
                Delivered = delivered
                Out = out
                Rescued = rescued
            }

/// The persist timer's interval: the RTO, doubled per unanswered probe, within the bounds.
let private persistInterval (c: Connection) =
    let mutable t = Rtt.rto c.Rtt
    let mutable i = 0

    while i < c.PersistBackoffs && t < c.Options.Rtt.MaxRto do
        t <- t * 2L
        i <- i + 1

    min t c.Options.Rtt.MaxRto

/// F-RTO's second step: up to two new segments, whatever the congestion window, and
/// nothing resent; with no new data to send the test cannot be made, and the timeout is
/// taken as real.
let private frtoOutput (c: Connection) (now: int64) (box: Outbox) =
    let mutable sent = 0

    while sent < 2 && c.SndQueued - c.SndMax > 0 && receiveRoom c > 0 do
        let length = min (c.SndQueued - c.SndMax) (min c.SndMss (receiveRoom c))
        c.SndNxt <- transmitRange c now box c.SndMax length
        sent <- sent + 1

    if sent > 0 then
        c.Recovery <- Recovery.AfterTimeout Frto.Deciding
    else
        c.Recovery <- Recovery.AfterTimeout Frto.Off
        windowOutput c now box

/// Data, a lost segment or our FIN waits, and nothing in flight will bring an ACK: only
/// the persist timer can get things moving (RFC 9293 3.8.6.1).
let private stalled (c: Connection) =
    (c.SndQueued - c.SndMax > 0 || c.Board.LostBytes > 0) && c.Pipe = 0

/// Notes how much of the congestion window the sender used after sending (Linux's
/// `tcp_cwnd_validate`): a new window of use starts once the last one is acknowledged,
/// and within one, a window that held data back, or more in flight than before, counts.
let private noteWindowUse (c: Connection) (sent: bool) =
    let flight = c.SndMax - c.SndUna
    let room = congestionRoom c

    let limited = room <= 0 || (room < c.SndMss && c.SndQueued - c.SndMax > 0)

    if
        (sent || limited)
        && (SeqNum.ge c.SndUna c.CwndUsageEnd
            || limited
            || (not c.CwndLimited && flight > c.FlightMax))
    then
        c.CwndLimited <- limited
        c.FlightMax <- flight
        c.CwndUsageEnd <- c.SndMax

/// Whether an ACK may grow the window (RFC 7661): in slow start while the flight reached
/// half of it (slow start doubles it per round trip), in congestion avoidance while it
/// limited the sender.
let private windowInUse (c: Connection) =
    if c.Congestion.Window < c.Congestion.SlowStartThreshold then
        c.Congestion.Window < 2 * c.FlightMax
    else
        c.CwndLimited

/// Sends what may be sent now: in SACK recovery as PRR allows, otherwise as the windows
/// allow (NewReno's retransmission of SND.UNA goes first, whatever the window).
let output (c: Connection) (now: int64) (box: Outbox) =
    if mayTransmit c.State && c.SynAcked then
        let sentBefore = c.SegmentsSent

        match c.Recovery with
        | Recovery.Fast prr when c.SackOn -> recoveryOutput c now box prr
        | Recovery.Fast _ ->
            if c.Board.Count > 0 && (c.Board.At 0).Has Scoreboard.Marks.Lost then
                resend c now box 0 c.SndMss |> ignore

            windowOutput c now box
        | Recovery.AfterTimeout Frto.SendNew -> frtoOutput c now box
        | Recovery.AfterTimeout Frto.Deciding -> ()
        | _ -> windowOutput c now box

        noteWindowUse c (c.SegmentsSent <> sentBefore)

        if stalled c then
            if not (Timers.isSet Timers.Persist &c.Timers) then
                Timers.put Timers.Persist (now + persistInterval c) &c.Timers
        else
            Timers.stop Timers.Persist &c.Timers
            c.PersistBackoffs <- 0

            // Data in flight always has a timer coming (an undo can un-stall a flight
            // that a timeout had left to the persist timer).
            if SeqNum.gt c.SndMax c.SndUna then
                armRetransmitTimer c now

/// The persist timer expired: probe a zero window with a segment the receiver must answer
/// (one below SND.UNA, as Linux does), or, when some window is open but too small for
/// silly-window avoidance, send what fits (the override timeout of 3.8.6.2.1).
let onPersist (c: Connection) (now: int64) (box: Outbox) =
    let unsent = c.SndQueued - c.SndMax
    let length = min unsent (min c.SndMss (min (congestionRoom c) (receiveRoom c)))

    if length > 0 then
        c.SndNxt <- transmitRange c now box c.SndMax length
    else
        send c now box (c.SndUna - 1) TcpFlags.None 0

    c.PersistBackoffs <- c.PersistBackoffs + 1
    Timers.stop Timers.Persist &c.Timers
    output c now box

    if stalled c then
        Timers.put Timers.Persist (now + persistInterval c) &c.Timers

/// One round-trip sample, from an ACK of `ack`: the estimator and HyStart++ learn it.
let private learn (c: Connection) (now: int64) (ack: SeqNum) (rtt: int64) =
    c.Rtt <- Rtt.sample rtt c.Rtt
    c.Note(now, NoteKind.RttSample, ack, rtt)

    // HyStart++ runs in the initial slow start only (RFC 9406 4.3): ssthresh is still
    // unset; after any loss, slow start is the standard one.
    if c.Congestion.SlowStartThreshold = System.Int32.MaxValue && c.Recovery.IsOpen then
        let struct (verdict, state) = HyStart.onSample rtt ack c.SndNxt c.SlowStart
        c.SlowStart <- state

        if verdict.IsExit then
            c.Congestion <- c.Congestion.OnSlowStartExit()

/// The peer echoes the timestamp of a SYN or SYN-ACK of ours older than the latest: it
/// answers a copy sent before a timeout (a server echoes the first SYN's timestamp on
/// the SYN-ACK it sends for a retransmitted SYN), so the time since spans that timeout.
let private staleSynEcho (c: Connection) (tsecr: uint32) = int (tsecr - tsClock c c.SynSentAt) < 0

/// A round-trip sample from the ACK of our SYN: from the echoed timestamp when on
/// (RFC 7323 RTTM), else from the timed SYN.
let measure (c: Connection) (now: int64) (ack: SeqNum) (options: KnownOptions) =
    let sample =
        match options.Timestamps with
        | ValueSome(struct (_, tsecr)) when c.TimestampsOn && tsecr <> 0u ->
            let elapsedMs = int (tsClock c now - tsecr)

            if elapsedMs >= 0 && not (staleSynEcho c tsecr) then
                ValueSome(int64 elapsedMs * 1000L)
            else
                ValueNone
        | _ ->
            match c.Timing with
            | ValueSome(struct (seq, sentAt)) when SeqNum.gt ack seq ->
                c.Timing <- ValueNone
                ValueSome(now - sentAt)
            | _ -> ValueNone

    match sample with
    | ValueSome rtt -> learn c now ack rtt
    | ValueNone -> ()

/// The peer's window from a segment's field (scaled except on a SYN, RFC 7323 2.2).
let windowOf (c: Connection) (h: TcpHeader) =
    if h.Has TcpFlags.Syn || not c.ScalingOn then
        int h.Window
    else
        int h.Window <<< c.SndShift

/// RFC 9293 3.10.7.4: take the send window from the newest segment only.
let private updateWindow (c: Connection) (seq: SeqNum) (ack: SeqNum) (window: int) =
    if SeqNum.lt c.SndWl1 seq || (c.SndWl1 = seq && SeqNum.le c.SndWl2 ack) then
        c.SndWnd <- window
        c.SndWl1 <- seq
        c.SndWl2 <- ack
        c.MaxSndWnd <- max c.MaxSndWnd window

/// The flight size a loss halves: what is outstanding, but no more than the window that
/// was allowed (after a burst of losses the outstanding data can be far more than the
/// network held, and halving that would start the next overshoot).
let private flightSize (c: Connection) =
    min (c.SndMax - c.SndUna) (max c.SndMss c.Congestion.Window)

/// The bytes in [left, right) are SACKed: every entry inside the range is marked, and
/// RACK hears of each one newly delivered. An entry that straddles an edge is cut there
/// (unless the board is full: then it waits for a block that covers it whole).
let private sackRange (c: Connection) (now: int64) (left: SeqNum) (right: SeqNum) (tsecr: uint32 voption) =
    let board = c.Board
    board.SplitAt(left, false) |> ignore
    board.SplitAt(right, false) |> ignore
    let mutable i = max 0 (board.IndexOf left)

    while i < board.Count && SeqNum.lt (board.At i).Start right do
        let e = &board.At i

        if SeqNum.ge e.Start left && SeqNum.le e.End right && board.MarkSacked i > 0 then
            Rack.onDelivered &c.Rack &e now tsecr c.TsOffset

        i <- i + 1

/// Takes the SACK blocks of an ACK (RFC 2018). Blocks that do not lie within what is
/// outstanding are ignored. Returns whether the first block was a D-SACK (RFC 2883: below
/// the cumulative ACK, or inside the second block), which reports a duplicate, not data.
let private recordSacks
    (c: Connection)
    (now: int64)
    (ack: SeqNum)
    (tsecr: uint32 voption)
    (options: inref<KnownOptions>)
    =
    let floor = SeqNum.max ack c.SndUna
    let mutable dsack = false

    for i in 0 .. options.SackBlockCount - 1 do
        let struct (left, right) = options.SackBlock i
        let left = SeqNum left
        let right = SeqNum right

        let duplicate =
            i = 0
            && SeqNum.lt left right
            && (SeqNum.le right ack
                || (options.SackBlockCount > 1
                    && (let struct (l2, r2) = options.SackBlock 1
                        SeqNum.le (SeqNum l2) left && SeqNum.le right (SeqNum r2))))

        if duplicate then
            dsack <- true
            c.Note(now, NoteKind.DuplicateReported, left, int64 (right - left))
        elif SeqNum.lt floor right && SeqNum.lt left right && SeqNum.le right c.SndMax then
            sackRange c now (SeqNum.max left floor) right tsecr

    dsack

/// A reduction begins: remember what it changes, so it can be undone if it proves
/// spurious. A timeout during a reduction keeps the values from before the first.
let private beginUndo (c: Connection) (now: int64) =
    if c.Undo.Cwnd = 0 then
        c.Undo <-
            {
                Cwnd = c.Congestion.Window
                Ssthresh = c.Congestion.SlowStartThreshold
                Start = c.SndUna
                End = c.SndMax
                FirstRetransmitAt = now
                Retransmits = 0
            }

/// The reduction proved spurious: the window and threshold come back (as Linux's undo
/// does, never lower than they are now), nothing stays judged lost, and recovery ends.
let private undo (c: Connection) =
    let u = c.Undo

    c.Congestion <-
        c.Congestion
            .WithThreshold(max c.Congestion.SlowStartThreshold u.Ssthresh)
            .WithWindow(max c.Congestion.Window u.Cwnd)

    c.Board.ClearLost()
    c.Recovery <- Recovery.Open
    c.Recover <- c.SndUna
    c.DuplicateAcks <- 0
    c.Undo <- Unchecked.defaultof<Undo>
    c.Undone <- c.Undone + 1L

/// Whether this ACK proves the reduction spurious: its echoed timestamp is older than the
/// episode's first retransmission, so it answers an original copy (Eifel, RFC 3522 and
/// RFC 4015), or its D-SACK showed the last of the episode's retransmissions needless
/// (RFC 3708).
let private spurious (c: Connection) (ack: SeqNum) (tsecr: uint32 voption) (lastNeedless: bool) =
    let u = c.Undo

    u.Cwnd > 0
    && (lastNeedless
        || (SeqNum.gt ack u.Start
            && (match tsecr with
                | ValueSome echo -> int (echo - tsClock c u.FirstRetransmitAt) < 0
                | ValueNone -> false)))

/// F-RTO's decisions on an ACK after a timeout (RFC 5682 3.1): the first ACK must move
/// SND.UNA without reaching `recover` for new data to be tried; the ACK after the new
/// data decides: if it moves SND.UNA again, segments never resent arrived, so the
/// timeout was spurious and is undone; otherwise it was real.
let private frtoStep (c: Connection) (advanced: bool) (ack: SeqNum) =
    match c.Recovery with
    | Recovery.AfterTimeout Frto.Waiting ->
        c.Recovery <-
            Recovery.AfterTimeout(
                if advanced && SeqNum.lt ack c.Recover then
                    Frto.SendNew
                else
                    Frto.Off
            )
    | Recovery.AfterTimeout Frto.SendNew -> c.Recovery <- Recovery.AfterTimeout Frto.Off
    | Recovery.AfterTimeout Frto.Deciding ->
        if advanced && c.Undo.Cwnd > 0 then
            undo c
        else
            c.Recovery <- Recovery.AfterTimeout Frto.Off
    | _ -> ()

/// Fast recovery begins (RFC 6675, RFC 6582): `recover` is SND.MAX, the window is cut
/// once, and PRR starts counting.
let private enterRecovery (c: Connection) (now: int64) =
    beginUndo c now
    c.Recover <- c.SndMax

    c.Recovery <-
        Recovery.Fast
            {
                Delivered = 0
                Out = 0
                Flight = c.SndMax - c.SndUna
                Rescued = false
            }

    c.Congestion <- c.Congestion.OnLoss(flightSize c)
    Timers.stop Timers.LossProbe &c.Timers

/// Runs loss detection, and starts fast recovery when it found a loss outside any.
let private detectLosses (c: Connection) (now: int64) (dsack: bool) (kind: NoteKind) =
    let lostBefore = c.Board.LostBytes
    LossDetection.detect c now dsack
    c.NoteLosses(now, kind, lostBefore)

    if c.Board.LostBytes > 0 && c.Recovery.IsOpen then
        enterRecovery c now

/// What judges losses on an ACK, for the notes.
let private lossKindOnAck (c: Connection) =
    if not c.SackOn then NoteKind.LostByDuplicateAcks
    elif c.Options.LossDetection.IsRack then NoteKind.LostByRack
    else NoteKind.LostByThreshold

/// An episode ended without proving spurious: its undo state is dropped unless
/// retransmissions still wait for the D-SACKs that would show them needless.
let private endUndo (c: Connection) =
    if c.Undo.Retransmits = 0 then
        c.Undo <- Unchecked.defaultof<Undo>

/// What a cumulative ACK that moves SND.UNA to `ack` does: RACK hears of the segments it
/// delivers, they leave the scoreboard, their buffer space is released, and recovery ends
/// once everything sent before it began is acknowledged.
let private onNewAck (c: Connection) (now: int64) (box: Outbox) (ack: SeqNum) (tsecr: uint32 voption) =
    let board = c.Board
    let mutable i = 0
    // The first newly acknowledged segment, for an RTT sample; none when the ACK covers
    // a segment sent twice or given up for lost (Karn: it may answer either copy, or a
    // retransmission of an earlier segment).
    let mutable firstSentAt = Timers.Unset
    let mutable ambiguous = false
    // The echoed timestamp is older than our last copy of a segment this ACK covers: it
    // answers an earlier copy, and `now - echo` would span a timeout, not the path.
    let mutable staleEcho = false

    while i < board.Count && SeqNum.le (board.At i).End ack do
        let e = &board.At i

        if not (e.Has Scoreboard.Marks.Sacked) then
            Rack.onDelivered &c.Rack &e now tsecr c.TsOffset

            if not (e.Has Scoreboard.Marks.Retransmitted || e.Has Scoreboard.Marks.Lost) then
                firstSentAt <- min firstSentAt e.SentAt
            else
                ambiguous <- true

                match tsecr with
                | ValueSome echo when int (echo - tsClock c e.SentAt) < 0 -> staleEcho <- true
                | _ -> ()

        i <- i + 1

    board.AckTo ack |> ignore
    // The ACK stops at a segment the peer SACKed: it dropped what it SACKed (RFC 2018 8).
    let reneged = board.Count > 0 && (board.At 0).Has Scoreboard.Marks.Sacked

    if reneged then
        board.ForgetSacks()

    let acked = ack - c.SndUna
    let synAcked = c.SynAcked
    let dataStart = if synAcked then c.SndUna else c.SndUna + 1
    c.SynAcked <- true
    let dataEnd = SeqNum.min ack c.SndQueued
    box.Released <- box.Released + max 0 (dataEnd - dataStart)

    // Microseconds from the scoreboard, as Linux does; else the echoed timestamp.
    if firstSentAt <> Timers.Unset && not ambiguous then
        learn c now ack (now - firstSentAt)
    else
        match tsecr with
        | ValueSome echo when
            not staleEcho
            && int (tsClock c now - echo) >= 0
            && (synAcked || not (staleSynEcho c echo))
            ->
            learn c now ack (int64 (tsClock c now - echo) * 1000L)
        | _ ->
            // The ACK of a timed SYN-ACK (the SYN's own is `measure`'s).
            match c.Timing with
            | ValueSome(struct (seq, sentAt)) when SeqNum.gt ack seq -> learn c now ack (now - sentAt)
            | _ -> ()

    c.Timing <- ValueNone
    c.SndUna <- ack
    c.SndNxt <- SeqNum.max c.SndNxt ack
    c.Retries <- 0
    // Progress ends the backoff (RFC 6298 5.7): the path delivers again.
    c.Rtt <- Rtt.endBackoff c.Rtt

    match c.Recovery with
    | Recovery.Fast _ when SeqNum.ge ack c.Recover ->
        // With SACK, PRR paced the recovery and the window ends at ssthresh (RFC 6937);
        // NewReno's end (RFC 6582) caps it at the flight to avoid a burst.
        c.Congestion <-
            if c.SackOn then
                c.Congestion.WithWindow(max c.SndMss c.Congestion.SlowStartThreshold)
            else
                c.Congestion.OnRecoveryEnd(c.SndMax - ack)

        c.Recovery <- Recovery.Open
        c.DuplicateAcks <- 0
        Rack.onRecoveryEnd &c.Rack
        endUndo c
    | Recovery.Fast _ when not c.SackOn ->
        // A partial ACK (RFC 6582 3.2 step 3): the next hole is lost too.
        let lostBefore = board.LostBytes
        board.MarkLost 0
        c.NoteLosses(now, NoteKind.LostByPartialAck, lostBefore)
        c.Congestion <- c.Congestion.OnPartialAck acked
    | Recovery.Fast _ -> ()
    | Recovery.AfterTimeout _
    | Recovery.Open ->
        if c.Recovery.IsAfterTimeout && SeqNum.ge ack c.Recover then
            c.Recovery <- Recovery.Open
            Rack.onRecoveryEnd &c.Rack
            endUndo c

        let rtt = c.Rtt.Srtt |> ValueOption.defaultValue c.Rack.Rtt

        // In Conservative Slow Start the window grows at a quarter of slow start's rate.
        let growth =
            if
                c.SlowStart.Conservative
                && c.Congestion.Window < c.Congestion.SlowStartThreshold
            then
                acked / HyStart.CssGrowthDivisor
            else
                acked

        if windowInUse c then
            Congestion.ackInPlace &c.Congestion growth now rtt

        c.DuplicateAcks <- 0
        // `recover` trails SND.UNA outside recovery, so the two stay comparable however
        // far the connection goes (they are 32-bit numbers on a circle).
        if c.Recovery.IsOpen && SeqNum.ge ack c.Recover then
            c.Recover <- ack

    if c.SndUna = c.SndMax then
        Timers.stop Timers.Retransmit &c.Timers
        Timers.stop Timers.Reorder &c.Timers
        Timers.stop Timers.LossProbe &c.Timers
    elif reneged then
        // Half an RTT (at most 10 ms, as Linux waits) for the peer to say what it holds
        // now; then the timeout sends everything again.
        let srtt = c.Rtt.Srtt |> ValueOption.defaultValue c.Rack.Rtt
        Timers.put Timers.Retransmit (now + max 1L (min (srtt / 2L) 10_000L)) &c.Timers
    else
        restartRetransmitTimer c now

/// The ACK covers a tail loss probe's episode (RFC 8985 7.4): when the probe was a
/// retransmission and no D-SACK says the original arrived, the probe repaired a loss, and
/// the window answers it as one.
let private closeProbeEpisode (c: Connection) (ack: SeqNum) (dsack: bool) =
    match c.TlpEnd with
    | ValueSome e when SeqNum.ge ack e ->
        c.TlpEnd <- ValueNone

        if c.TlpRetransmitted && not dsack && c.Recovery.IsOpen then
            let flight = flightSize c
            c.Congestion <- c.Congestion.OnLoss(flight).OnRecoveryEnd(c.SndMax - c.SndUna)
    | _ -> ()

/// What an acceptable segment's ACK field does to the send side, in a synchronized state
/// (RFC 9293 3.10.7.4 fifth step, with RFC 5961 5.2's check). False when the segment is
/// to be dropped (after answering it with an ACK).
let onAck (c: Connection) (now: int64) (box: Outbox) (incoming: inref<Incoming>) (options: inref<KnownOptions>) =
    let h = &incoming.Header
    let ack = SeqNum h.AcknowledgmentNumber
    let seq = SeqNum h.SequenceNumber

    if SeqNum.gt ack c.SndMax then
        // It acknowledges something not yet sent (RFC 5961 5.2).
        Emit.challengeAck c now box
        false
    elif SeqNum.lt ack (c.SndUna - c.MaxSndWnd) then
        // Too old to be believed: a challenge ACK (RFC 5961 5.2).
        Emit.challengeAck c now box
        false
    else
        c.UnansweredProbes <- 0
        let window = windowOf c h

        let tsecr =
            match options.Timestamps with
            | ValueSome(struct (_, echo)) when c.TimestampsOn && echo <> 0u -> ValueSome echo
            | _ -> ValueNone

        let sackedBefore = c.Board.SackedBytes
        let advanced = SeqNum.gt ack c.SndUna
        let acked = max 0 (ack - c.SndUna)

        let dsack =
            if c.SackOn && options.SackBlockCount > 0 then
                recordSacks c now ack tsecr &options
            else
                false

        let newlySacked = c.Board.SackedBytes > sackedBefore

        // A D-SACK of data from the episode shows one retransmission needless; the last
        // one shown needless proves the whole episode spurious.
        let lastNeedless = dsack && c.Undo.Cwnd > 0 && c.Undo.Retransmits = 1

        if dsack && c.Undo.Cwnd > 0 && c.Undo.Retransmits > 0 then
            c.Undo <-
                { c.Undo with
                    Retransmits = c.Undo.Retransmits - 1
                }

        if spurious c ack tsecr lastNeedless then
            undo c

        frtoStep c advanced ack

        if advanced then
            onNewAck c now box ack tsecr
        elif
            ack = c.SndUna
            && incoming.PayloadLength = 0
            && not (h.Has TcpFlags.Syn || h.Has TcpFlags.Fin)
            && (window = c.SndWnd || newlySacked)
            && SeqNum.gt c.SndMax c.SndUna
        then
            // A duplicate ACK (RFC 5681 section 2; with SACK, one that reports new data
            // held, RFC 6675).
            c.DuplicateAcks <- c.DuplicateAcks + 1

            if c.Recovery.IsFast && not c.SackOn then
                c.Congestion <- c.Congestion.OnDuplicateAck()

        // Delivered: newly acknowledged plus newly SACKed, less what was SACKed before
        // and is now acknowledged (it left the board with the ACK).
        c.LastDelivered <- acked + (c.Board.SackedBytes - sackedBefore)

        if SeqNum.gt c.SndMax c.SndUna then
            detectLosses c now dsack (lossKindOnAck c)

        closeProbeEpisode c ack dsack

        if SeqNum.ge ack c.SndUna then
            updateWindow c seq ack window

        if advanced then
            scheduleProbe c now

        true

/// The reordering timer expired: what RACK was waiting for is lost now (RFC 8985 6.3).
let onReorderTimeout (c: Connection) (now: int64) (box: Outbox) =
    if SeqNum.gt c.SndMax c.SndUna then
        detectLosses c now false NoteKind.LostByReorderTimer
        output c now box

/// The loss probe timer expired (RFC 8985 7.3): send one segment to draw an ACK, new data
/// if the peer's window allows, else the last segment again; the retransmission timer
/// starts over.
let onProbeTimeout (c: Connection) (now: int64) (box: Outbox) =
    if mayTransmit c.State && c.Recovery.IsOpen && SeqNum.gt c.SndMax c.SndUna then
        let unsent = c.SndQueued - c.SndMax

        if unsent > 0 && receiveRoom c > 0 then
            c.SndNxt <- transmitRange c now box c.SndMax (min unsent (min c.SndMss (receiveRoom c)))
            c.TlpRetransmitted <- false
        else
            let board = c.Board
            let last = board.Count - 1

            if last >= 0 && not ((board.At last).Has Scoreboard.Marks.Sacked) then
                // Only the tail of an entry longer than a segment.
                let entry = board.At last

                let last =
                    if entry.Length > c.SndMss && board.SplitAt(entry.End - c.SndMss, true) then
                        last + 1
                    else
                        last

                resend c now box last c.SndMss |> ignore

            c.TlpRetransmitted <- true

        c.LossProbes <- c.LossProbes + 1L
        // One probe per episode: sending new data above did not arm another.
        c.TlpEnd <- ValueSome c.SndMax
        Timers.stop Timers.LossProbe &c.Timers
        restartRetransmitTimer c now

/// The path MTU dropped (an ICMP error): what was sent in segments larger than the new
/// MSS is lost and goes again at the new size; what fits went through and is left alone.
let resendOversized (c: Connection) (now: int64) (box: Outbox) =
    let board = c.Board
    let lostBefore = board.LostBytes

    for i in 0 .. board.Count - 1 do
        if (board.At i).Length > c.SndMss then
            board.MarkLost i

    c.NoteLosses(now, NoteKind.LostByPathMtu, lostBefore)

    output c now box

/// The retransmission timer expired with data or FIN outstanding: back off, shrink the
/// window to one segment, forget what the peer SACKed (it may have dropped it), and send
/// everything again from SND.UNA as the window grows (RFC 6298 5.4-5.6, RFC 5681 3.1,
/// RFC 6675 5.1).
let onRetransmitTimeout (c: Connection) (now: int64) (box: Outbox) =
    // A timeout after an episode that ended keeps no stale undo state from it.
    if c.Recovery.IsOpen && c.Undo.Cwnd > 0 && SeqNum.ge c.SndUna c.Undo.End then
        c.Undo <- Unchecked.defaultof<Undo>

    beginUndo c now
    c.Timeouts <- c.Timeouts + 1L
    let threshold = c.Congestion.SlowStartThreshold
    c.Congestion <- c.Congestion.OnTimeout(flightSize c)

    // A timeout of data that a timeout already resent keeps ssthresh (RFC 5681 3.1): the
    // window that collapsed to one segment says nothing about the path.
    if c.Retries > 1 then
        c.Congestion <- c.Congestion.WithThreshold threshold

    c.Rtt <- Rtt.backoff c.Rtt
    c.Recover <- c.SndMax
    // F-RTO on the first timeout of an episode, with SACK and more than one segment out.
    c.Recovery <-
        Recovery.AfterTimeout(
            if c.SackOn && c.Retries = 1 && c.Board.Count > 1 then
                Frto.Waiting
            else
                Frto.Off
        )

    c.DuplicateAcks <- 0
    c.Timing <- ValueNone
    let lostBefore = c.Board.LostBytes
    c.Board.MarkAllLost()
    c.NoteLosses(now, NoteKind.LostByTimeout, lostBefore)
    c.TlpEnd <- ValueNone
    c.SlowStart <- HyStart.create c.SndMax
    Timers.stop Timers.Retransmit &c.Timers
    Timers.stop Timers.Reorder &c.Timers
    Timers.stop Timers.LossProbe &c.Timers
    // What `output` sends arms the timer again. When the peer's window lets nothing go,
    // the persist timer it arms probes instead, for as long as the peer answers
    // (RFC 9293 3.8.6.1): those timeouts are not failed retransmissions.
    output c now box
