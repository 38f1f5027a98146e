/// RACK-TLP (RFC 8985): loss detection by time instead of by counting. A segment is lost
/// when a segment sent after it was delivered and more than an RTT plus a reordering
/// window has passed since it left. This finds lost retransmissions and losses at the
/// tail that duplicate ACKs never reveal; the tail loss probe (TLP) makes the peer
/// report a lost tail with a SACK instead of leaving it to the retransmission timer.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Rack

open Stack.Core.Tcp.Scoreboard

/// What RACK remembers of the deliveries so far (the RFC's RACK.* variables).
[<Struct>]
type State =
    {
        /// When the most recently sent segment that was delivered left (RACK.xmit_ts), and
        /// its place in the order of sending, for ties (the RFC's RACK.end_seq serves
        /// this; the order also ranks a retransmission sent beside new data).
        mutable XmitTs: int64
        mutable XmitOrder: int
        /// The RTT of that segment (RACK.rtt).
        mutable Rtt: int64
        /// The smallest RTT seen (RACK.min_RTT); Int64.MaxValue before any.
        mutable MinRtt: int64
        /// The highest sequence number delivered (RACK.fack).
        mutable Fack: SeqNum
        /// A segment was delivered after one sent later than it (RACK.reordering_seen).
        mutable ReorderingSeen: bool
        /// The reordering window in quarters of the minimum RTT (RACK.reo_wnd_mult).
        mutable ReoWndMult: int
        /// Recoveries left before the window shrinks back (RACK.reo_wnd_persist).
        mutable ReoWndPersist: int
        /// A D-SACK round is open until SND.UNA passes this (RACK.dsack_round).
        mutable DsackRound: SeqNum
        mutable DsackRoundOpen: bool
    }

/// Nothing delivered yet, at this point of sequence space.
let create (sndUna: SeqNum) =
    {
        XmitTs = 0L
        XmitOrder = 0
        Rtt = 0L
        MinRtt = System.Int64.MaxValue
        Fack = sndUna
        ReorderingSeen = false
        ReoWndMult = 1
        ReoWndPersist = 0
        DsackRound = sndUna
        DsackRoundOpen = false
    }

/// RFC 8985's RACK_sent_after: (t1, order1) left after (t2, order2). Orders wrap.
let inline private sentAfter (t1: int64) (order1: int) (t2: int64) (order2: int) =
    t1 > t2 || (t1 = t2 && order1 - order2 > 0)

/// The peer newly holds the segment `e` (acknowledged or SACKed) at `now`; `tsecr`, when
/// the ACK echoed a timestamp, tells which copy of a retransmitted segment it answers
/// (RFC 8985 6.2 steps 2 and 3). Timestamps count milliseconds plus the connection's
/// `tsOffset`.
let onDelivered (s: byref<State>) (e: inref<Entry>) (now: int64) (tsecr: uint32 voption) (tsOffset: uint32) =
    let rtt = now - e.SentAt

    // For a retransmitted segment the ACK may answer the first copy: take it only when
    // the echoed timestamp or the minimum RTT says it answers the last one.
    let ambiguous =
        e.Has Marks.Retransmitted
        && (rtt < s.MinRtt
            || (match tsecr with
                | ValueSome echo -> int (echo - (uint32 (e.SentAt / 1000L) + tsOffset)) < 0
                | ValueNone -> false))

    if not ambiguous then
        s.MinRtt <- min s.MinRtt (max 1L rtt)

        if sentAfter e.SentAt e.Order s.XmitTs s.XmitOrder then
            s.Rtt <- rtt
            s.XmitTs <- e.SentAt
            s.XmitOrder <- e.Order

    if SeqNum.lt e.End s.Fack then
        if not (e.Has Marks.Retransmitted) then
            s.ReorderingSeen <- true
    else
        s.Fack <- e.End

/// D-SACK adapts the window (RFC 8985 6.2 step 4): a D-SACK says a retransmission was
/// spurious, so the window grows by a quarter RTT, once per round trip, and keeps its size
/// for 16 recoveries.
let onAck (s: byref<State>) (sndUna: SeqNum) (sndMax: SeqNum) (dsack: bool) =
    if s.DsackRoundOpen && SeqNum.ge sndUna s.DsackRound then
        s.DsackRoundOpen <- false

    if dsack && not s.DsackRoundOpen then
        s.DsackRoundOpen <- true
        s.DsackRound <- sndMax
        s.ReoWndMult <- min 64 (s.ReoWndMult + 1)
        s.ReoWndPersist <- 16

/// A recovery ended: one step closer to the window's base size.
let onRecoveryEnd (s: byref<State>) =
    if s.ReoWndPersist > 0 then
        s.ReoWndPersist <- s.ReoWndPersist - 1

        if s.ReoWndPersist = 0 then
            s.ReoWndMult <- 1

/// The reordering window (RFC 8985 6.2 step 4): none while recovering or once a
/// duplicate threshold's worth is SACKed, unless reordering was seen; otherwise a quarter
/// of the minimum RTT per step, at most the smoothed RTT.
let reorderWindow (s: inref<State>) (srtt: int64) (inRecovery: bool) (manySacked: bool) =
    if not s.ReorderingSeen && (inRecovery || manySacked) then
        0L
    elif s.MinRtt = System.Int64.MaxValue then
        0L
    else
        min (int64 s.ReoWndMult * (s.MinRtt / 4L)) srtt

/// Marks lost every segment in flight that left before the latest delivered one by more
/// than RACK.rtt plus the window (RFC 8985 6.2 step 5). Returns how long until the next
/// one would be lost, or 0 when none waits: the reordering timer's delay.
let detectLoss (s: inref<State>) (board: Board) (now: int64) (reoWnd: int64) =
    let mutable timeout = 0L
    let mutable i = 0

    while i < board.Count do
        let e = &board.At i

        if e.Has Marks.Sacked || e.Has Marks.Lost then
            i <- i + 1
        elif sentAfter s.XmitTs s.XmitOrder e.SentAt e.Order then
            let remaining = e.SentAt + s.Rtt + reoWnd - now

            if remaining <= 0L then
                board.MarkLost i
            else
                timeout <- max timeout remaining

            i <- i + 1
        elif not (e.Has Marks.Retransmitted) then
            // Data sent for the first time after the latest delivered segment: so is
            // everything after it.
            i <- board.Count
        else
            i <- i + 1

    timeout

/// When to send a tail loss probe (RFC 8985 7.2): two smoothed RTTs, plus the peer's
/// longest delayed ACK when only one segment is out (its ACK may be held back), or plus
/// 2 ms otherwise; one second before any RTT sample.
let probeTimeout (srtt: int64 voption) (oneSegment: bool) (delayedAckAllowance: int64) =
    match srtt with
    | ValueSome s -> 2L * s + (if oneSegment then delayedAckAllowance else 2_000L)
    | ValueNone -> 1_000_000L
