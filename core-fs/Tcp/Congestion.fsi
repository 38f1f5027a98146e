/// Congestion control behind one small interface (RFC 5681): CUBIC (RFC 9438, the
/// default, as on Linux) and NewReno (RFC 6582). The sender keeps the loss-recovery state (duplicate-ACK
/// count, recovery point) and tells the controller what happened; the controller only
/// answers how many bytes may be in flight. Values, not objects with state: every event
/// returns the next controller.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Congestion

/// What every controller keeps: the window, the threshold, a byte counter for
/// congestion avoidance, and CUBIC's curve (unused by NewReno). A struct, so a
/// controller's step allocates nothing.
[<Struct>]
type State =
    {
        Mss: int

        /// Bytes that may be in flight.
        Cwnd: int
        Ssthresh: int

        /// Bytes acknowledged since cwnd last grew in congestion avoidance.
        AckedInAvoidance: int

        /// CUBIC: the window before the last reduction (W_max), in bytes.
        WindowMax: int

        /// CUBIC: when the current congestion-avoidance epoch began, 0 before it has.
        EpochStart: int64

        /// CUBIC: the time from the epoch's start to the plateau at W_max (K), microseconds.
        PlateauMicros: int64

        /// CUBIC: the window Reno would have now (W_est), in bytes.
        RenoWindow: int
    }

/// A congestion control algorithm: how each event changes the state. The algorithm keeps
/// nothing itself; its state travels in the connection.
type ICongestionControl =

    /// New data acknowledged outside loss recovery, at `now` on a path of round trip `rtt`
    /// (both microseconds).
    abstract OnAck: state: State * ackedBytes: int * now: int64 * rtt: int64 -> State

    /// Another duplicate ACK during recovery: one more segment has left the network.
    abstract OnDuplicateAck: state: State -> State

    /// Loss detected by duplicate ACKs: fast retransmit, recovery begins.
    abstract OnLoss: state: State * flightSize: int -> State

    /// A partial ACK during recovery, acknowledging `ackedBytes` of new data.
    abstract OnPartialAck: state: State * ackedBytes: int -> State

    /// A full ACK: recovery is over.
    abstract OnRecoveryEnd: state: State * flightSize: int -> State

    /// Delay says the path is full (HyStart++): leave slow start at the current window.
    abstract OnSlowStartExit: state: State -> State

    /// The retransmission timer expired.
    abstract OnTimeout: state: State * flightSize: int -> State

/// A controller as the sender sees it: an algorithm and its state, a value whose every
/// event returns the next one.
[<NoComparison; Struct>]
type Controller =
    {
        Algorithm: ICongestionControl

        /// Mutable only for `ackInPlace`.
        mutable State: State
    }

    member OnAck: ackedBytes: int -> Controller

    member OnAck: ackedBytes: int * now: int64 * rtt: int64 -> Controller

    member OnDuplicateAck: unit -> Controller

    member OnLoss: flightSize: int -> Controller

    member OnPartialAck: ackedBytes: int -> Controller

    member OnRecoveryEnd: flightSize: int -> Controller

    member OnSlowStartExit: unit -> Controller

    member OnTimeout: flightSize: int -> Controller

    /// The same window with this slow-start threshold.
    member WithThreshold: ssthresh: int -> Controller

    /// This window (an undo restores one), the rest as it is.
    member WithWindow: cwnd: int -> Controller

    /// The slow-start threshold.
    member SlowStartThreshold: int

    /// Bytes that may be in flight (cwnd).
    member Window: int

/// `OnAck` on a controller where it lies (a connection's own field), the state written
/// straight from the algorithm's answer: a new controller value, copied in, would read
/// that answer back in one wide load before its two stores reach the cache, once per ACK.
val ackInPlace: controller: byref<Controller> -> ackedBytes: int -> now: int64 -> rtt: int64 -> unit

/// The initial window of RFC 6928: min(10 MSS, max(2 MSS, 14600 bytes)).
val initialWindow: mss: int -> int

/// The largest congestion window: the largest window RFC 7323 can announce (2^30 bytes).
/// Without a cap, a connection that never loses a packet would overflow it.
[<Literal>]
val MaxWindow: int = 1073741824

/// NewReno: slow start and congestion avoidance of RFC 5681 with appropriate byte counting
/// (`slowStart`), fast recovery with partial-ACK deflation (RFC 6582).
type NewReno =
    interface ICongestionControl

    new: unit -> NewReno

/// A NewReno controller for a connection with this MSS, starting in slow start.
val newReno: mss: int -> Controller

/// CUBIC (RFC 9438), Linux's default: after a loss the window grows along a cubic curve
/// in time, fast while far below the window where the loss happened, flat near it, then
/// probing beyond; never slower than Reno would grow (the Reno-friendly region). Fast
/// recovery on duplicate ACKs without SACK is NewReno's.
type Cubic =
    interface ICongestionControl

    new: unit -> Cubic

/// A CUBIC controller for a connection with this MSS, starting in slow start.
val cubic: mss: int -> Controller
