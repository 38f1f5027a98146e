/// Congestion control behind one small interface (RFC 5681), so CUBIC and others can
/// follow NewReno (RFC 6582). The sender keeps the loss-recovery state (duplicate-ACK
/// count, recovery point) and tells the controller what happened; the controller only
/// answers how many bytes may be in flight. Values, not objects with state: every event
/// returns the next controller.
module Stack.Core.Tcp.Congestion

/// A congestion controller, as the sender sees it.
type ICongestionControl =
    /// Bytes that may be in flight (cwnd).
    abstract Window: int
    /// The slow-start threshold.
    abstract SlowStartThreshold: int
    /// New data acknowledged outside loss recovery.
    abstract OnAck: ackedBytes: int -> ICongestionControl
    /// Loss detected by duplicate ACKs: fast retransmit, recovery begins.
    abstract OnLoss: flightSize: int -> ICongestionControl
    /// Another duplicate ACK during recovery: one more segment has left the network.
    abstract OnDuplicateAck: unit -> ICongestionControl
    /// A partial ACK during recovery, acknowledging `ackedBytes` of new data.
    abstract OnPartialAck: ackedBytes: int -> ICongestionControl
    /// A full ACK: recovery is over.
    abstract OnRecoveryEnd: flightSize: int -> ICongestionControl
    /// The retransmission timer expired.
    abstract OnTimeout: flightSize: int -> ICongestionControl
    /// Delay says the path is full (HyStart++): leave slow start at the current window.
    abstract OnSlowStartExit: unit -> ICongestionControl

/// The initial window of RFC 6928: min(10 MSS, max(2 MSS, 14600 bytes)).
let initialWindow (mss: int) = min (10 * mss) (max (2 * mss) 14600)

/// The largest congestion window: the largest window RFC 7323 can announce (2^30 bytes).
/// Without a cap, a connection that never loses a packet would overflow it.
[<Literal>]
let MaxWindow = 1073741824

/// NewReno: slow start and congestion avoidance of RFC 5681 with appropriate byte counting
/// (RFC 3465, L = 2 MSS), fast recovery with partial-ACK deflation (RFC 6582).
type NewReno =
    {
        Mss: int
        Cwnd: int
        Ssthresh: int
        /// Bytes acknowledged since cwnd last grew in congestion avoidance.
        AckedInAvoidance: int
    }

    /// ssthresh after a loss: half the flight, at least 2 MSS (RFC 5681 equation 4).
    member private r.Halved(flightSize: int) = max (flightSize / 2) (2 * r.Mss)

    interface ICongestionControl with
        member r.Window = r.Cwnd
        member r.SlowStartThreshold = r.Ssthresh

        member r.OnAck(ackedBytes) =
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

        member r.OnLoss(flightSize) =
            let ssthresh = r.Halved flightSize

            { r with
                Ssthresh = ssthresh
                Cwnd = ssthresh + 3 * r.Mss
                AckedInAvoidance = 0
            }

        member r.OnDuplicateAck() =
            { r with
                Cwnd = min MaxWindow (r.Cwnd + r.Mss)
            }

        member r.OnPartialAck(ackedBytes) =
            let deflated = r.Cwnd - ackedBytes + (if ackedBytes >= r.Mss then r.Mss else 0)
            { r with Cwnd = max r.Mss deflated }

        member r.OnRecoveryEnd(flightSize) =
            { r with
                Cwnd = min r.Ssthresh (max flightSize r.Mss + r.Mss)
            }

        member r.OnSlowStartExit() =
            { r with
                Ssthresh = min r.Ssthresh r.Cwnd
            }

        member r.OnTimeout(flightSize) =
            { r with
                Ssthresh = r.Halved flightSize
                Cwnd = r.Mss
                AckedInAvoidance = 0
            }

/// A NewReno controller for a connection with this MSS, starting in slow start.
let newReno (mss: int) : ICongestionControl =
    {
        Mss = mss
        Cwnd = initialWindow mss
        Ssthresh = System.Int32.MaxValue
        AckedInAvoidance = 0
    }
