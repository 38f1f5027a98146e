/// The sending half of a connection: what to send now (window, Nagle, silly-window
/// avoidance, FIN), what an acknowledgment releases, round-trip samples, and loss recovery
/// (fast retransmit and NewReno, RFC 5681 and RFC 6582).
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

/// Sends `length` bytes of the send buffer from `seq`, with FIN when they end the queued
/// data and the user closed. Returns the sequence number after the segment.
let transmitRange (c: Connection) (now: int64) (box: Outbox) (seq: SeqNum) (length: int) =
    let withFin = c.FinQueued && seq + length = c.SndQueued
    let reachesEnd = length > 0 && seq + length = c.SndQueued

    let flags =
        (if reachesEnd then TcpFlags.Psh else TcpFlags.None)
        ||| (if withFin then TcpFlags.Fin else TcpFlags.None)

    let retransmission = SeqNum.lt seq c.SndMax

    if retransmission then
        c.Retransmissions <- c.Retransmissions + 1L
        // Karn's algorithm: a retransmitted segment gives no round-trip sample.
        c.Timing <- ValueNone

    send c now box seq flags length
    let after = seq + length + (if withFin then 1 else 0)
    c.SndMax <- SeqNum.max c.SndMax after

    if not retransmission && not c.TimestampsOn && c.Timing.IsNone then
        c.Timing <- ValueSome(struct (seq, now))

    if after <> seq then
        armRetransmitTimer c now

    after

/// Retransmits the first unacknowledged segment (fast retransmit, partial ACKs).
let retransmitFirst (c: Connection) (now: int64) (box: Outbox) =
    let length = max 0 (min c.SndMss (c.SndQueued - c.SndUna))

    if length > 0 || (c.FinQueued && c.SndUna = c.SndQueued) then
        transmitRange c now box c.SndUna length |> ignore

/// The persist timer's interval: the RTO, doubled per unanswered probe, within the bounds.
let private persistInterval (c: Connection) =
    let mutable t = Rtt.rto c.Rtt
    let mutable i = 0

    while i < c.PersistBackoffs && t < c.Options.Rtt.MaxRto do
        t <- t * 2L
        i <- i + 1

    min t c.Options.Rtt.MaxRto

/// The start of the first block the peer holds at or after `seq`, if any.
let private nextSackedStart (c: Connection) (seq: SeqNum) =
    let mutable found = ValueNone

    for b in c.Sacked.Blocks do
        if found.IsNone && SeqNum.ge b.Start seq then
            found <- ValueSome b.Start

    found

/// `seq`, moved past any block the peer already holds.
let private pastSacked (c: Connection) (seq: SeqNum) =
    let mutable s = seq

    for b in c.Sacked.Blocks do
        if SeqNum.le b.Start s && SeqNum.lt s b.End then
            s <- b.End

    s

/// Sends what the windows, Nagle's algorithm and sender silly-window avoidance
/// (RFC 9293 3.8.6.2.1) allow, then FIN when it is due; arms the persist timer when data
/// waits for a window and nothing is in flight to bring one. After a timeout, the bytes
/// the peer reported holding (SACK) are not sent again.
let private normalOutput (c: Connection) (now: int64) (box: Outbox) =
    let mutable go = true

    while go do
        if SeqNum.lt c.SndNxt c.SndMax then
            c.SndNxt <- SeqNum.min c.SndMax (pastSacked c c.SndNxt)

        let inFlight = c.SndNxt - c.SndUna
        let usable = (min c.SndWnd c.Congestion.Window) - inFlight
        let unsent = c.SndQueued - c.SndNxt

        let untilSacked =
            match nextSackedStart c c.SndNxt with
            | ValueSome start when SeqNum.lt c.SndNxt c.SndMax -> start - c.SndNxt
            | _ -> System.Int32.MaxValue

        if unsent > 0 then
            let length = min (min unsent untilSacked) (min c.SndMss usable)
            let full = length = c.SndMss || length = untilSacked
            let last = length = unsent && (c.Options.NoDelay || inFlight = 0 || c.FinQueued)
            let halfWindow = inFlight = 0 && length >= c.MaxSndWnd / 2

            if length > 0 && (full || last || halfWindow) then
                c.SndNxt <- transmitRange c now box c.SndNxt length
            else
                go <- false
        elif unsent = 0 && c.FinQueued then
            c.SndNxt <- transmitRange c now box c.SndNxt 0
        else
            go <- false

/// SACK-based loss recovery (after RFC 6675, counting every hole below the highest
/// SACKed byte as lost), paced by proportional rate reduction (RFC 6937): each ACK lets
/// out about as much as it says left the network, scaled down towards ssthresh, so the
/// retransmissions do not land on a queue that is still full. The next hole goes first,
/// then new data.
let private recoveryOutput (c: Connection) (now: int64) (box: Outbox) =
    // The segment at SND.UNA counts as lost even when no SACK block said so: the
    // duplicate ACKs did (RFC 6675 5.1), and after a partial ACK its successor is next.
    let firstSegmentEnd = c.SndUna + max 0 (min c.SndMss (c.SndMax - c.SndUna))

    let highSack =
        match List.tryLast c.Sacked.Blocks with
        | Some b -> SeqNum.max b.End firstSegmentEnd
        | None -> firstSegmentEnd

    let retransmittedEnd = SeqNum.max c.HighRxt c.SndUna

    let pipe =
        max 0 (c.SndMax - highSack)
        + max
            0
            ((retransmittedEnd - c.SndUna)
             - Reassembly.coveredBetween c.SndUna retransmittedEnd c.Sacked)

    let ssthresh = max c.SndMss c.Congestion.SlowStartThreshold
    c.PrrDelivered <- c.PrrDelivered + c.LastDelivered

    let allowance =
        if pipe > ssthresh then
            let target =
                (int64 c.PrrDelivered * int64 ssthresh + int64 (max 1 c.RecoverFlight) - 1L)
                / int64 (max 1 c.RecoverFlight)

            int target - c.PrrOut
        else
            // Slow-start reduction bound: back up to ssthresh, no faster than the ACKs.
            min (ssthresh - pipe) (max (c.PrrDelivered - c.PrrOut) c.LastDelivered + c.SndMss)

    // The fast retransmit itself always goes.
    let mutable budget = if c.PrrOut = 0 then max allowance c.SndMss else allowance
    c.LastDelivered <- 0

    while budget > 0 do
        let hole = pastSacked c (SeqNum.max c.HighRxt c.SndUna)

        if SeqNum.lt hole highSack then
            let untilSacked =
                match nextSackedStart c hole with
                | ValueSome start -> start - hole
                | ValueNone -> highSack - hole

            // Data ends where the user's data ends; past it only our FIN can be missing.
            let length = max 0 (min c.SndMss (min untilSacked (c.SndQueued - hole)))
            let after = transmitRange c now box hole length
            c.HighRxt <- after
            c.PrrOut <- c.PrrOut + max 1 length
            budget <- budget - max 1 length
        else
            let unsent = c.SndQueued - c.SndNxt
            let room = c.SndWnd - (c.SndNxt - c.SndUna)
            let length = min unsent (min c.SndMss room)

            if length > 0 then
                c.SndNxt <- transmitRange c now box c.SndNxt length
                c.PrrOut <- c.PrrOut + length
                budget <- budget - length
            else
                if unsent = 0 && c.FinQueued then
                    c.SndNxt <- transmitRange c now box c.SndNxt 0

                budget <- 0

/// Sends what may be sent now (see `normalOutput` and `recoveryOutput`).
let output (c: Connection) (now: int64) (box: Outbox) =
    if mayTransmit c.State && c.SynAcked then
        if c.InRecovery && c.SackOn then
            recoveryOutput c now box
        else
            normalOutput c now box

        let waiting = c.SndQueued - c.SndNxt > 0

        if waiting && c.SndNxt = c.SndUna then
            if not (Timers.isSet Timers.Persist &c.Timers) then
                Timers.put Timers.Persist (now + persistInterval c) &c.Timers
        else
            Timers.stop Timers.Persist &c.Timers
            c.PersistBackoffs <- 0

/// The persist timer expired: probe a zero window with a segment the receiver must answer
/// (one below SND.UNA, as Linux does), or, when some window is open but too small for
/// silly-window avoidance, send what fits (the override timeout of 3.8.6.2.1).
let onPersist (c: Connection) (now: int64) (box: Outbox) =
    let unsent = c.SndQueued - c.SndNxt
    let usable = (min c.SndWnd c.Congestion.Window) - (c.SndNxt - c.SndUna)
    let length = min unsent (min c.SndMss usable)

    if length > 0 then
        c.SndNxt <- transmitRange c now box c.SndNxt length
    else
        send c now box (c.SndUna - 1) TcpFlags.None 0

    c.PersistBackoffs <- c.PersistBackoffs + 1
    Timers.stop Timers.Persist &c.Timers
    output c now box

    if unsent > 0 && c.SndNxt = c.SndUna then
        Timers.put Timers.Persist (now + persistInterval c) &c.Timers

/// A round-trip sample from an ACK of new data: from the echoed timestamp when on
/// (RFC 7323 RTTM), else from the one timed segment.
let measure (c: Connection) (now: int64) (ack: SeqNum) (options: KnownOptions) =
    let sample =
        match options.Timestamps with
        | ValueSome(struct (_, tsecr)) when c.TimestampsOn && tsecr <> 0u ->
            let elapsedMs = int (tsClock now - tsecr)

            if elapsedMs >= 0 then
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
    | ValueSome rtt ->
        c.Rtt <- Rtt.sample rtt c.Rtt

        if c.Congestion.Window < c.Congestion.SlowStartThreshold && not c.InRecovery then
            let struct (exit, state) = HyStart.onSample rtt ack c.SndNxt c.SlowStart
            c.SlowStart <- state

            if exit then
                c.Congestion <- c.Congestion.OnSlowStartExit()
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

/// Adds the SACK blocks of an ACK to the scoreboard, ignoring any that do not lie within
/// what is outstanding (RFC 2018; D-SACK blocks below the ACK are among them).
let private recordSacks (c: Connection) (ack: SeqNum) (options: inref<KnownOptions>) =
    let floor = SeqNum.max ack c.SndUna
    let mutable sacked = Reassembly.dropBelow floor c.Sacked

    for i in 0 .. options.SackBlockCount - 1 do
        let struct (left, right) = options.SackBlock i
        let left = SeqNum left
        let right = SeqNum right

        if SeqNum.lt floor left && SeqNum.lt left right && SeqNum.le right c.SndMax then
            let struct (_, next) = Reassembly.add floor left (right - left) sacked
            sacked <- next

    c.Sacked <- sacked

/// What an acceptable segment's ACK field does to the send side, in a synchronized state
/// (RFC 9293 3.10.7.4 fifth step, with RFC 5961 5.2's check). False when the segment is
/// to be dropped (after answering it with an ACK).
let onAck (c: Connection) (now: int64) (box: Outbox) (incoming: inref<Incoming>) (options: inref<KnownOptions>) =
    let h = &incoming.Header
    let ack = SeqNum h.AcknowledgmentNumber
    let seq = SeqNum h.SequenceNumber

    if SeqNum.gt ack c.SndMax then
        // It acknowledges something not yet sent.
        Emit.ack c now box
        false
    elif SeqNum.lt ack (c.SndUna - c.MaxSndWnd) then
        // Too old to be believed: a challenge ACK (RFC 5961 5.2).
        Emit.ack c now box
        false
    else
        c.UnansweredProbes <- 0
        let window = windowOf c h
        let sackedBefore = Reassembly.coveredBetween c.SndUna c.SndMax c.Sacked

        if c.SackOn then
            recordSacks c ack &options

        let sackedNow =
            Reassembly.coveredBetween (SeqNum.max ack c.SndUna) c.SndMax c.Sacked

        let newlySacked = sackedNow > sackedBefore

        c.LastDelivered <- max 0 (ack - c.SndUna) + sackedNow - sackedBefore

        if SeqNum.gt ack c.SndUna then
            let acked = ack - c.SndUna
            let dataStart = if c.SynAcked then c.SndUna else c.SndUna + 1
            c.SynAcked <- true
            let dataEnd = SeqNum.min ack c.SndQueued
            box.Released <- box.Released + max 0 (dataEnd - dataStart)
            measure c now ack options
            c.SndUna <- ack
            c.SndNxt <- SeqNum.max c.SndNxt ack
            c.Retries <- 0
            // Progress ends the backoff (RFC 6298 5.7): the path delivers again.
            c.Rtt <- Rtt.endBackoff c.Rtt

            if c.InRecovery then
                if SeqNum.ge ack c.Recover then
                    c.Congestion <- c.Congestion.OnRecoveryEnd(c.SndMax - ack)
                    c.InRecovery <- false
                    c.DuplicateAcks <- 0
                elif not c.SackOn then
                    // A partial ACK (RFC 6582 3.2 step 3): the next hole is lost too.
                    retransmitFirst c now box
                    c.Congestion <- c.Congestion.OnPartialAck acked
            else
                Congestion.ackInPlace &c.Congestion acked
                c.DuplicateAcks <- 0
                // `recover` trails SND.UNA outside recovery, so the two stay comparable
                // however far the connection goes (they are 32-bit numbers on a circle).
                if SeqNum.ge ack c.Recover then
                    c.Recover <- ack

            if c.SndUna = c.SndMax then
                Timers.stop Timers.Retransmit &c.Timers
            else
                restartRetransmitTimer c now
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

            if c.InRecovery then
                if not c.SackOn then
                    c.Congestion <- c.Congestion.OnDuplicateAck()
            elif
                (c.DuplicateAcks >= 3
                 || (c.SackOn && Reassembly.coveredBetween c.SndUna c.SndMax c.Sacked >= 3 * c.SndMss))
                && SeqNum.ge c.SndUna c.Recover
            then
                // Fast retransmit, and fast recovery until `recover` is acked. `recover`
                // holds SND.MAX, one past the highest number sent, so the ACK covers more
                // than that number (RFC 6582 3.2 step 2) when it has reached `recover`.
                // From its start at the ISS, a loss in the first flight qualifies.
                c.Recover <- c.SndMax
                c.InRecovery <- true
                c.HighRxt <- c.SndUna
                c.PrrDelivered <- 0
                c.PrrOut <- 0
                c.RecoverFlight <- c.SndMax - c.SndUna
                c.Congestion <- c.Congestion.OnLoss(flightSize c)

                if not c.SackOn then
                    retransmitFirst c now box

        if SeqNum.ge ack c.SndUna then
            updateWindow c seq ack window

        true

/// The path MTU dropped (an ICMP error): send again, at the new MSS, what was sent in
/// larger segments; data that fits went through and is left alone.
let resendOversized (c: Connection) (now: int64) (box: Outbox) =
    c.SndNxt <- c.SndUna
    output c now box

/// The retransmission timer expired with data or FIN outstanding: back off, shrink the
/// window to one segment, and send again from SND.UNA (RFC 6298 5.4-5.6, RFC 5681 3.1).
let onRetransmitTimeout (c: Connection) (now: int64) (box: Outbox) =
    let threshold = c.Congestion.SlowStartThreshold
    c.Congestion <- c.Congestion.OnTimeout(flightSize c)

    // A timeout of data that a timeout already resent keeps ssthresh (RFC 5681 3.1): the
    // window that collapsed to one segment says nothing about the path.
    if c.Retries > 1 then
        c.Congestion <- c.Congestion.WithThreshold threshold

    c.Rtt <- Rtt.backoff c.Rtt
    c.Recover <- c.SndMax
    c.InRecovery <- false
    c.DuplicateAcks <- 0
    c.Timing <- ValueNone
    c.SndNxt <- c.SndUna
    c.HighRxt <- c.SndUna
    c.SlowStart <- HyStart.create c.SndMax
    Timers.stop Timers.Retransmit &c.Timers
    // What `output` sends arms the timer again. When the peer's window lets nothing go,
    // the persist timer it arms probes instead, for as long as the peer answers
    // (RFC 9293 3.8.6.1): those timeouts are not failed retransmissions.
    output c now box
