/// Congestion control behind one small interface (RFC 5681), so CUBIC and others can
/// follow NewReno (RFC 6582). The sender keeps the loss-recovery state (duplicate-ACK
/// count, recovery point) and tells the controller what happened; the controller only
/// answers how many bytes may be in flight. Values, not objects with state: every event
/// returns the next controller.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Congestion

/// What every controller keeps: the window, the threshold, and a byte counter for
/// congestion avoidance. A struct, so a controller's step allocates nothing.
[<Struct>]
type State =
    {
        Mss: int
        /// Bytes that may be in flight.
        Cwnd: int
        Ssthresh: int
        /// Bytes acknowledged since cwnd last grew in congestion avoidance.
        AckedInAvoidance: int
    }

/// A congestion control algorithm: how each event changes the state. The algorithm keeps
/// nothing itself; its state travels in the connection.
type ICongestionControl =
    /// New data acknowledged outside loss recovery.
    abstract OnAck: state: State * ackedBytes: int -> State
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
        c.With(c.Algorithm.OnAck(c.State, ackedBytes))

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

/// `OnAck` on a controller where it lies (a connection's own field), the state written
/// straight from the algorithm's answer: a new controller value, copied in, would read
/// that answer back in one wide load before its two stores reach the cache, once per ACK.
let ackInPlace (controller: byref<Controller>) (ackedBytes: int) =
    let next = controller.Algorithm.OnAck(controller.State, ackedBytes)

    controller.State <-
        {
            Mss = next.Mss
            Cwnd = next.Cwnd
            Ssthresh = next.Ssthresh
            AckedInAvoidance = next.AckedInAvoidance
        }

/// The initial window of RFC 6928: min(10 MSS, max(2 MSS, 14600 bytes)).
let initialWindow (mss: int) = min (10 * mss) (max (2 * mss) 14600)

/// The largest congestion window: the largest window RFC 7323 can announce (2^30 bytes).
/// Without a cap, a connection that never loses a packet would overflow it.
[<Literal>]
let MaxWindow = 1073741824

/// ssthresh after a loss: half the flight, at least 2 MSS (RFC 5681 equation 4).
let private halved (r: State) (flightSize: int) = max (flightSize / 2) (2 * r.Mss)

/// NewReno: slow start and congestion avoidance of RFC 5681 with appropriate byte counting
/// (RFC 3465, L = 2 MSS), fast recovery with partial-ACK deflation (RFC 6582).
type NewReno() =
    interface ICongestionControl with
        member _.OnAck(r, ackedBytes) =
            if r.Cwnd < r.Ssthresh then
                { r with
                    Cwnd = min MaxWindow (r.Cwnd + min ackedBytes (2 * r.Mss))
                }
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

        member _.OnDuplicateAck r =
            { r with
                Cwnd = min MaxWindow (r.Cwnd + r.Mss)
            }

        member _.OnPartialAck(r, ackedBytes) =
            let deflated = r.Cwnd - ackedBytes + (if ackedBytes >= r.Mss then r.Mss else 0)
            { r with Cwnd = max r.Mss deflated }

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

/// A NewReno controller for a connection with this MSS, starting in slow start.
let newReno (mss: int) : Controller =
    {
        Algorithm = newRenoAlgorithm
        State =
            {
                Mss = mss
                Cwnd = initialWindow mss
                Ssthresh = System.Int32.MaxValue
                AckedInAvoidance = 0
            }
    }
