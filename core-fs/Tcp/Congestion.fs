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
    /// Loss detected by duplicate ACKs: fast retransmit, recovery begins.
    abstract OnLoss: state: State * flightSize: int -> State
    /// Another duplicate ACK during recovery: one more segment has left the network.
    abstract OnDuplicateAck: state: State -> State
    /// A partial ACK during recovery, acknowledging `ackedBytes` of new data.
    abstract OnPartialAck: state: State * ackedBytes: int -> State
    /// A full ACK: recovery is over.
    abstract OnRecoveryEnd: state: State * flightSize: int -> State
    /// The retransmission timer expired.
    abstract OnTimeout: state: State * flightSize: int -> State
    /// Delay says the path is full (HyStart++): leave slow start at the current window.
    abstract OnSlowStartExit: state: State -> State

/// A controller as the sender sees it: an algorithm and its state, a value whose every
/// event returns the next one.
[<Struct>]
type Controller =
    {
        Algorithm: ICongestionControl
        /// Mutable only for `ackInPlace`.
        mutable State: State
    }

    /// Bytes that may be in flight (cwnd).
    member c.Window = c.State.Cwnd
    /// The slow-start threshold.
    member c.SlowStartThreshold = c.State.Ssthresh

    member private c.With(state: State) =
        {
            Algorithm = c.Algorithm
            State = state
        }

    member c.OnAck(ackedBytes) =
        c.With(c.Algorithm.OnAck(c.State, ackedBytes, 0L, 0L))

    member c.OnAck(ackedBytes, now, rtt) =
        c.With(c.Algorithm.OnAck(c.State, ackedBytes, now, rtt))

    member c.OnLoss(flightSize) =
        c.With(c.Algorithm.OnLoss(c.State, flightSize))

    member c.OnDuplicateAck() =
        c.With(c.Algorithm.OnDuplicateAck c.State)

    member c.OnPartialAck(ackedBytes) =
        c.With(c.Algorithm.OnPartialAck(c.State, ackedBytes))

    member c.OnRecoveryEnd(flightSize) =
        c.With(c.Algorithm.OnRecoveryEnd(c.State, flightSize))

    member c.OnTimeout(flightSize) =
        c.With(c.Algorithm.OnTimeout(c.State, flightSize))

    member c.OnSlowStartExit() =
        c.With(c.Algorithm.OnSlowStartExit c.State)

    /// The same window with this slow-start threshold.
    member c.WithThreshold(ssthresh) =
        c.With { c.State with Ssthresh = ssthresh }

    /// This window (an undo restores one), the rest as it is.
    member c.WithWindow(cwnd) =
        c.With
            { c.State with
                Cwnd = cwnd
                EpochStart = 0L
            }

/// `OnAck` on a controller where it lies (a connection's own field), the state written
/// straight from the algorithm's answer: a new controller value, copied in, would read
/// that answer back in one wide load before its two stores reach the cache, once per ACK.
let ackInPlace (controller: byref<Controller>) (ackedBytes: int) (now: int64) (rtt: int64) =
    let next = controller.Algorithm.OnAck(controller.State, ackedBytes, now, rtt)

    controller.State <-
        {
            Mss = next.Mss
            Cwnd = next.Cwnd
            Ssthresh = next.Ssthresh
            AckedInAvoidance = next.AckedInAvoidance
            WindowMax = next.WindowMax
            EpochStart = next.EpochStart
            PlateauMicros = next.PlateauMicros
            RenoWindow = next.RenoWindow
        }

/// The initial window of RFC 6928: min(10 MSS, max(2 MSS, 14600 bytes)).
let initialWindow (mss: int) = min (10 * mss) (max (2 * mss) 14600)

/// The largest congestion window: the largest window RFC 7323 can announce (2^30 bytes).
/// Without a cap, a connection that never loses a packet would overflow it.
[<Literal>]
let MaxWindow = 1073741824

/// ssthresh after a loss: half the flight, at least 2 MSS (RFC 5681 equation 4).
let private halved (r: State) (flightSize: int) = max (flightSize / 2) (2 * r.Mss)

/// Fast recovery without SACK (RFC 6582): each further duplicate ACK inflates the window
/// by a segment that left the network.
let private inflate (r: State) =
    { r with
        Cwnd = min MaxWindow (r.Cwnd + r.Mss)
    }

/// A partial ACK deflates the window by the data it acknowledged, plus a segment when it
/// acknowledged at least one (RFC 6582 3.2 step 3).
let private deflate (r: State) (ackedBytes: int) =
    let deflated = r.Cwnd - ackedBytes + (if ackedBytes >= r.Mss then r.Mss else 0)
    { r with Cwnd = max r.Mss deflated }

/// Slow start with appropriate byte counting: at most L segments per ACK. L is 8 in the
/// initial slow start (ssthresh still unset), as RFC 9406 4.2 asks of a sender without
/// pacing, so stretch ACKs (a receiver's coalescing, receive offload) do not slow it;
/// after a loss, RFC 3465's L = 2, against a burst when a cumulative ACK fills holes.
let private slowStart (r: State) (ackedBytes: int) =
    let limit = if r.Ssthresh = System.Int32.MaxValue then 8 else 2

    { r with
        Cwnd = min MaxWindow (r.Cwnd + min ackedBytes (limit * r.Mss))
    }

/// NewReno: slow start and congestion avoidance of RFC 5681 with appropriate byte counting
/// (`slowStart`), fast recovery with partial-ACK deflation (RFC 6582).
type NewReno() =
    interface ICongestionControl with
        member _.OnAck(r, ackedBytes, _, _) =
            if r.Cwnd < r.Ssthresh then
                slowStart r ackedBytes
            else
                let acked = r.AckedInAvoidance + ackedBytes

                if acked >= r.Cwnd then
                    { r with
                        Cwnd = min MaxWindow (r.Cwnd + r.Mss)
                        AckedInAvoidance = acked - r.Cwnd
                    }
                else
                    { r with AckedInAvoidance = acked }

        member _.OnLoss(r, flightSize) =
            let ssthresh = halved r flightSize

            { r with
                Ssthresh = ssthresh
                Cwnd = ssthresh + 3 * r.Mss
                AckedInAvoidance = 0
            }

        member _.OnDuplicateAck r = inflate r

        member _.OnPartialAck(r, ackedBytes) = deflate r ackedBytes

        member _.OnRecoveryEnd(r, flightSize) =
            { r with
                Cwnd = min r.Ssthresh (max flightSize r.Mss + r.Mss)
            }

        member _.OnSlowStartExit r =
            { r with
                Ssthresh = min r.Ssthresh r.Cwnd
            }

        member _.OnTimeout(r, flightSize) =
            { r with
                Ssthresh = halved r flightSize
                Cwnd = r.Mss
                AckedInAvoidance = 0
            }

let private newRenoAlgorithm = NewReno() :> ICongestionControl

/// The state every controller starts from: slow start from the initial window.
let private initial (mss: int) =
    {
        Mss = mss
        Cwnd = initialWindow mss
        Ssthresh = System.Int32.MaxValue
        AckedInAvoidance = 0
        WindowMax = 0
        EpochStart = 0L
        PlateauMicros = 0L
        RenoWindow = 0
    }

/// A NewReno controller for a connection with this MSS, starting in slow start.
let newReno (mss: int) : Controller =
    {
        Algorithm = newRenoAlgorithm
        State = initial mss
    }

/// CUBIC's constants (RFC 9438 4.1): the multiplicative decrease, the scaling of the
/// cubic curve (segments per second cubed), and Reno's additive increase that keeps the
/// same average window as Reno would under the same loss (3(1 - beta)/(1 + beta)).
[<Literal>]
let private Beta = 0.7

[<Literal>]
let private C = 0.4

let private alpha = 3.0 * (1.0 - Beta) / (1.0 + Beta)

/// The window CUBIC aims at `t` microseconds into its epoch (RFC 9438 equation 1), in bytes.
let private cubicWindow (r: State) (t: int64) =
    let seconds = float (t - r.PlateauMicros) / 1e6
    C * seconds * seconds * seconds * float r.Mss + float r.WindowMax

/// A reduction: the window before it becomes W_max (less, with fast convergence, when it
/// did not regain the last W_max: another flow is taking a share), ssthresh is beta of the
/// flight, and a new epoch starts with the next ACK (RFC 9438 4.6, 4.7).
let private reduce (r: State) (flightSize: int) =
    let windowMax =
        if r.Cwnd < r.WindowMax then
            int (float r.Cwnd * (1.0 + Beta) / 2.0)
        else
            r.Cwnd

    let ssthresh = max (int (float (max flightSize r.Mss) * Beta)) (2 * r.Mss)

    { r with
        WindowMax = windowMax
        Ssthresh = ssthresh
        EpochStart = 0L
        AckedInAvoidance = 0
    }

/// CUBIC (RFC 9438), Linux's default: after a loss the window grows along a cubic curve
/// in time, fast while far below the window where the loss happened, flat near it, then
/// probing beyond; never slower than Reno would grow (the Reno-friendly region). Fast
/// recovery on duplicate ACKs without SACK is NewReno's.
type Cubic() =
    interface ICongestionControl with
        member _.OnAck(r, ackedBytes, now, rtt) =
            if r.Cwnd < r.Ssthresh then
                slowStart r ackedBytes
            else
                // The epoch starts with the first ACK of congestion avoidance (RFC 9438 4.2).
                let r =
                    if r.EpochStart <> 0L then
                        r
                    else
                        let windowMax = max r.WindowMax r.Cwnd
                        let below = float (windowMax - r.Cwnd) / float r.Mss

                        { r with
                            EpochStart = now
                            WindowMax = windowMax
                            PlateauMicros = int64 (System.Math.Cbrt(below / C) * 1e6)
                            RenoWindow = r.Cwnd
                            AckedInAvoidance = 0
                        }

                // Where the curve will be one RTT from now, kept between cwnd and 1.5 cwnd.
                let target =
                    cubicWindow r (now - r.EpochStart + rtt)
                    |> max (float r.Cwnd)
                    |> min (1.5 * float r.Cwnd)

                let cubicGrowth = int ((target - float r.Cwnd) * float ackedBytes / float r.Cwnd)

                // Reno's window, grown by alpha segments per window acknowledged (4.3);
                // what a step's division leaves over is carried to the next ACK.
                let credit = r.AckedInAvoidance + int (alpha * float r.Mss * float ackedBytes)
                let reno = r.RenoWindow + credit / r.Cwnd
                let cwnd = max (r.Cwnd + cubicGrowth) reno

                { r with
                    Cwnd = min MaxWindow cwnd
                    RenoWindow = reno
                    AckedInAvoidance = credit % r.Cwnd
                }

        member _.OnLoss(r, flightSize) =
            let r = reduce r flightSize
            { r with Cwnd = r.Ssthresh + 3 * r.Mss }

        member _.OnDuplicateAck r = inflate r

        member _.OnPartialAck(r, ackedBytes) = deflate r ackedBytes

        member _.OnRecoveryEnd(r, flightSize) =
            { r with
                Cwnd = min r.Ssthresh (max flightSize r.Mss + r.Mss)
                EpochStart = 0L
            }

        member _.OnSlowStartExit r =
            { r with
                Ssthresh = min r.Ssthresh r.Cwnd
                WindowMax = r.Cwnd
                EpochStart = 0L
            }

        member _.OnTimeout(r, flightSize) =
            { reduce r flightSize with
                Cwnd = r.Mss
            }

let private cubicAlgorithm = Cubic() :> ICongestionControl

/// A CUBIC controller for a connection with this MSS, starting in slow start.
let cubic (mss: int) : Controller =
    {
        Algorithm = cubicAlgorithm
        State = initial mss
    }
