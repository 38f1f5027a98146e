/// RACK-TLP (RFC 8985): loss detection by time instead of by counting. A segment is lost
/// when a segment sent after it was delivered and more than an RTT plus a reordering
/// window has passed since it left. This finds lost retransmissions and losses at the
/// tail that duplicate ACKs never reveal; the tail loss probe (TLP) makes the peer
/// report a lost tail with a SACK instead of leaving it to the retransmission timer.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Rack

/// What RACK remembers of the deliveries so far (the RFC's RACK.* variables).
[<NoComparison; Struct>]
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
        mutable Fack: Stack.Core.Tcp.SeqNum

        /// A segment was delivered after one sent later than it (RACK.reordering_seen).
        mutable ReorderingSeen: bool

        /// The reordering window in quarters of the minimum RTT (RACK.reo_wnd_mult).
        mutable ReoWndMult: int

        /// Recoveries left before the window shrinks back (RACK.reo_wnd_persist).
        mutable ReoWndPersist: int

        /// A D-SACK round is open until SND.UNA passes this (RACK.dsack_round).
        mutable DsackRound: Stack.Core.Tcp.SeqNum
        mutable DsackRoundOpen: bool
    }

/// Nothing delivered yet, at this point of sequence space.
val create: sndUna: Stack.Core.Tcp.SeqNum -> State

/// The peer newly holds the segment `e` (acknowledged or SACKed) at `now`; `tsecr`, when
/// the ACK echoed a timestamp, tells which copy of a retransmitted segment it answers
/// (RFC 8985 6.2 steps 2 and 3). Timestamps count milliseconds plus the connection's
/// `tsOffset`.
val onDelivered:
    s: byref<State> ->
    e: inref<Stack.Core.Tcp.Scoreboard.Entry> ->
    now: int64 ->
    tsecr: uint32 voption ->
    tsOffset: uint32 ->
        unit

/// D-SACK adapts the window (RFC 8985 6.2 step 4): a D-SACK says a retransmission was
/// spurious, so the window grows by a quarter RTT, once per round trip, and keeps its size
/// for 16 recoveries.
val onAck: s: byref<State> -> sndUna: Stack.Core.Tcp.SeqNum -> sndMax: Stack.Core.Tcp.SeqNum -> dsack: bool -> unit

/// A recovery ended: one step closer to the window's base size.
val onRecoveryEnd: s: byref<State> -> unit

/// The reordering window (RFC 8985 6.2 step 4): none while recovering or once a
/// duplicate threshold's worth is SACKed, unless reordering was seen; otherwise a quarter
/// of the minimum RTT per step, at most the smoothed RTT.
val reorderWindow: s: inref<State> -> srtt: int64 -> inRecovery: bool -> manySacked: bool -> int64

/// Marks lost every segment in flight that left before the latest delivered one by more
/// than RACK.rtt plus the window (RFC 8985 6.2 step 5). Returns how long until the next
/// one would be lost, or 0 when none waits: the reordering timer's delay.
val detectLoss: s: inref<State> -> board: Stack.Core.Tcp.Scoreboard.Board -> now: int64 -> reoWnd: int64 -> int64

/// When to send a tail loss probe (RFC 8985 7.2): two smoothed RTTs, plus the peer's
/// longest delayed ACK when only one segment is out (its ACK may be held back), or plus
/// 2 ms otherwise; one second before any RTT sample.
val probeTimeout: srtt: int64 voption -> oneSegment: bool -> delayedAckAllowance: int64 -> int64
