namespace Stack.Core.Tcp

open Stack.Core.Wire

/// Proportional rate reduction's counts during one fast recovery (RFC 6937).
[<Struct>]
type Prr =
    {
        /// Bytes the peer got since recovery began (prr_delivered).
        Delivered: int
        /// Bytes sent since recovery began (prr_out).
        Out: int
        /// Bytes in flight when it began (RecoverFS).
        Flight: int
        /// RFC 6675's rescue retransmission went out (RescueRxt).
        Rescued: bool
    }

/// What undoing a window reduction needs (RFC 4015, RFC 3708, Linux's undo): the
/// window and threshold before it, the sequence range of the episode, when its first
/// retransmission left, and how many of its retransmissions no D-SACK has yet shown to
/// be needless. `Cwnd` 0: nothing to undo.
[<Struct>]
type Undo =
    {
        Cwnd: int
        Ssthresh: int
        Start: SeqNum
        End: SeqNum
        FirstRetransmitAt: int64
        Retransmits: int
    }

/// F-RTO's steps after a timeout (RFC 5682 3.1, with SACK): it tells a spurious timeout
/// from a real one by sending new data instead of resending the rest.
[<RequireQualifiedAccess>]
type Frto =
    /// Not running, or the timeout proved real: resend what is lost.
    | Off = 0
    /// The timeout's retransmission is out; waiting for the first ACK.
    | Waiting = 1
    /// That ACK moved SND.UNA: up to two new segments may go, nothing else.
    | SendNew = 2
    /// The new segments are out; the next ACK decides.
    | Deciding = 3

/// Where loss recovery stands.
[<Struct; RequireQualifiedAccess>]
type Recovery =
    /// Nothing being repaired.
    | Open
    /// Fast recovery until SND.UNA reaches `Recover` (RFC 6675, RFC 6582), paced by PRR.
    | Fast of prr: Prr
    /// After a retransmission timeout, until what was sent before it is acknowledged:
    /// the window grows from one segment in slow start, and losses found meanwhile do
    /// not cut it again. `frto` is where F-RTO (RFC 5682) stands.
    | AfterTimeout of frto: Frto

/// One connection: its state and transmission control block, with the RFC's names.
/// Callers see it as a value: every step of `Connection` works on a private copy and
/// returns it, and the fields can only be read.
type Connection =
    internal
        {
            /// Fixed at open but for what `Command.SetNoDelay` and `SetKeepalive` change.
            mutable Options: ConnectionOptions
            mutable LocalAddress: IpAddress
            LocalPort: uint16
            mutable RemoteAddress: IpAddress
            mutable RemotePort: uint16
            mutable State: State
            /// Opened by connect (or a simultaneous open), not from LISTEN.
            mutable ActiveOpen: bool

            // Send sequence space (RFC 9293 3.3.1).
            mutable Iss: SeqNum
            mutable SndUna: SeqNum
            mutable SndNxt: SeqNum
            /// The highest sequence number sent so far plus one; SND.NXT goes back to
            /// SND.UNA after a timeout and climbs again.
            mutable SndMax: SeqNum
            /// The peer's window in bytes (scale applied).
            mutable SndWnd: int
            /// The largest window the peer has offered (RFC 5961's MAX.SND.WND).
            mutable MaxSndWnd: int
            mutable SndWl1: SeqNum
            mutable SndWl2: SeqNum
            /// The end of the data the user queued: data is [ISS+1, SndQueued), and our FIN,
            /// once queued, takes the number SndQueued.
            mutable SndQueued: SeqNum
            /// Our SYN was acknowledged. A flag, not a comparison with the ISS: after 2^31
            /// bytes, SND.UNA no longer compares as after it.
            mutable SynAcked: bool
            mutable FinQueued: bool
            /// The application let go (`Command.Detach`): it reads and queues no more.
            mutable Detached: bool
            /// The largest payload we send: the peer's MSS and ours, less the options
            /// every segment carries.
            mutable SndMss: int
            mutable SndShift: int
            /// Both sides offered window scaling (RFC 7323): the shifts apply.
            mutable ScalingOn: bool

            // Receive sequence space.
            mutable Irs: SeqNum
            mutable RcvNxt: SeqNum
            /// The right edge of the window last advertised: it never moves left.
            mutable RcvEdge: SeqNum
            /// Readable bytes the application has not consumed yet.
            mutable RcvUnread: int
            /// The receive buffer now (unread bytes plus the window), grown by autotuning
            /// up to `RcvBufferMax`.
            mutable RcvBuffer: int
            /// How far autotuning may grow the buffer: the option, or where the buffer is
            /// while the host is short of memory.
            mutable RcvBufferMax: int
            /// Bytes the application read since `RcvMeasuredAt` (autotuning's measure).
            mutable RcvCopied: int
            mutable RcvMeasuredAt: int64
            mutable RcvShift: int
            mutable OutOfOrder: Reassembly.Ranges
            /// A duplicate that arrived, to report once in a D-SACK block (RFC 2883).
            mutable Dsack: Reassembly.Block voption
            /// Where the peer's FIN is, once seen beyond RCV.NXT.
            mutable PeerFin: SeqNum voption

            // Negotiated options.
            mutable TimestampsOn: bool
            mutable SackOn: bool
            mutable TsRecent: uint32
            /// Added to the timestamp clock in our TSvals (RFC 7323 5.4), per connection.
            mutable TsOffset: uint32
            mutable TsRecentAt: int64
            mutable LastAckSent: SeqNum

            // Retransmission and congestion.
            mutable Rtt: Rtt.Estimator
            /// The segment being timed when timestamps are off: its sequence number and
            /// when it left (Karn: never a retransmitted one).
            mutable Timing: struct (SeqNum * int64) voption
            /// When our latest SYN or SYN-ACK left: an echoed timestamp older than that
            /// answers an earlier copy, so the time since it spans a timeout (Karn).
            mutable SynSentAt: int64
            mutable Congestion: Congestion.Controller
            mutable SlowStart: HyStart.State
            /// Whether the congestion window is what limits the sender (RFC 7661, as
            /// Linux's cwnd validation): the most bytes in flight since `CwndUsageEnd`
            /// was sent, and whether the window held data back meanwhile. cwnd grows
            /// only while it is used, so an application-limited sender keeps it honest.
            mutable FlightMax: int
            mutable CwndUsageEnd: SeqNum
            mutable CwndLimited: bool
            /// Every segment in flight, with what the peer SACKed (RFC 2018) and what
            /// loss detection judged lost. Owned by this connection alone.
            mutable Board: Scoreboard.Board
            /// RACK's record of deliveries (RFC 8985).
            mutable Rack: Rack.State
            /// The end of a tail loss probe's episode, while one is open, and whether the
            /// probe was a retransmission (RFC 8985 7.4).
            mutable TlpEnd: SeqNum voption
            mutable TlpRetransmitted: bool
            mutable Recovery: Recovery
            /// The reduction that may yet prove spurious.
            mutable Undo: Undo
            /// Reductions undone because they proved spurious.
            mutable Undone: int64
            /// Bytes the last ACK reported delivered (cumulatively or by SACK).
            mutable LastDelivered: int
            mutable DuplicateAcks: int
            /// RFC 6582's "recover": SND.MAX when loss recovery began.
            mutable Recover: SeqNum
            /// Consecutive timeouts without progress.
            mutable Retries: int
            mutable PersistBackoffs: int
            /// Zero-window probes sent since the peer last acknowledged anything.
            mutable UnansweredProbes: int
            mutable KeepaliveProbes: int
            mutable LastHeard: int64
            mutable Timers: Timers.Table

            // Acknowledgment policy.
            /// Data segments received since we last sent an ACK.
            mutable UnackedSegments: int
            /// When we last answered a segment outside the window that carried nothing.
            mutable LastOutOfWindowAck: int64

            // Counters.
            mutable Retransmissions: int64
            /// Retransmission timeouts of data (not of a SYN, not persist probes).
            mutable Timeouts: int64
            /// Tail loss probes sent (RFC 8985 7).
            mutable LossProbes: int64
            mutable SegmentsSent: int64
            mutable SegmentsReceived: int64

            /// The engine's notes for a trace, oldest first, when the options ask for them
            /// (null otherwise). The driver reads and clears them.
            mutable Notes: ResizeArray<Note>

            // What the last step's output told the driver (see `Connection.report`).
            mutable ReportedState: State
            mutable ReportedRetransmissions: int64
        }

    member c.CurrentState = c.State

    /// The MSS this end offers: the options' (set for IPv4's 40 bytes of headers) less
    /// the 20 more an IPv6 header takes.
    member c.LocalMss =
        if c.RemoteAddress.IsIpv4 then
            c.Options.Mss
        else
            c.Options.Mss - 20

    /// The smallest path MTU believed from ICMP: IPv4's 552 (as Linux), IPv6's 1280
    /// (RFC 8200 5).
    member c.MinPathMtu = if c.RemoteAddress.IsIpv4 then 552 else 1280

    /// IP and TCP header bytes of a segment without options.
    member c.HeadersLength = if c.RemoteAddress.IsIpv4 then 40 else 60
    member c.Local = struct (c.LocalAddress, c.LocalPort)
    member c.Remote = struct (c.RemoteAddress, c.RemotePort)
    member c.InitialSendSequence = c.Iss
    member c.InitialReceiveSequence = c.Irs
    member c.SendUnacknowledged = c.SndUna
    member c.SendNext = c.SndNxt
    /// One past the highest sequence number sent (SND.MAX).
    member c.SendMaximum = c.SndMax
    member c.SendWindow = c.SndWnd
    member c.ReceiveNext = c.RcvNxt
    /// The receive window last advertised, in bytes.
    member c.ReceiveWindow = max 0 (c.RcvEdge - c.RcvNxt)
    /// The receive buffer now: unread bytes plus the window, as autotuning left it.
    member c.ReceiveBuffer = c.RcvBuffer
    member c.SendShift = c.SndShift
    member c.ReceiveShift = c.RcvShift
    member c.TimestampsEnabled = c.TimestampsOn
    member c.SackEnabled = c.SackOn
    member c.MaxSegmentSize = c.SndMss
    member c.CongestionWindow = c.Congestion.Window
    member c.SlowStartThreshold = c.Congestion.SlowStartThreshold
    member c.RetransmissionTimeout = Rtt.rto c.Rtt
    member c.SmoothedRtt = c.Rtt.Srtt

    /// The smoothed RTT in microseconds, once there is a sample (for C#).
    member c.TryGetSmoothedRtt([<System.Runtime.InteropServices.Out>] srtt: byref<int64>) =
        match c.Rtt.Srtt with
        | ValueSome s ->
            srtt <- s
            true
        | ValueNone -> false

    member c.RetransmissionCount = c.Retransmissions
    /// Window reductions undone because the retransmissions proved needless.
    member c.UndoneCount = c.Undone
    member c.TimeoutCount = c.Timeouts
    member c.LossProbeCount = c.LossProbes
    member c.SegmentsSentCount = c.SegmentsSent
    member c.SegmentsReceivedCount = c.SegmentsReceived
    member c.Deadlines = c.Timers

    /// Bytes in flight as loss recovery counts them (RFC 6675's pipe): sent and not
    /// acknowledged, less what the peer SACKed and what is judged lost.
    member c.InRecovery = c.Recovery.IsFast

    member c.Pipe = (c.SndMax - c.SndUna) - c.Board.SackedBytes - c.Board.LostBytes

    /// Notes a decision, when the options asked for notes (`ConnectionOptions.Trace`).
    member inline c.Note(time: int64, kind: NoteKind, seq: SeqNum, value: int64) =
        if not (isNull c.Notes) then
            c.Notes.Add
                {
                    Time = time
                    Kind = kind
                    Seq = seq
                    Value = value
                }

    /// Notes the bytes judged lost since the scoreboard held `lostBefore` lost bytes, from
    /// the lowest lost sequence number, when the options asked for notes.
    member c.NoteLosses(time: int64, kind: NoteKind, lostBefore: int) =
        if not (isNull c.Notes) && c.Board.LostBytes > lostBefore then
            let first = c.Board.FirstLost 0
            let from = if first >= 0 then (c.Board.At first).Start else c.SndUna
            c.Note(time, kind, from, int64 (c.Board.LostBytes - lostBefore))

    /// Data queued by the user and not yet acknowledged, in bytes.
    member c.SendBuffered =
        max 0 (c.SndQueued - (if c.SynAcked then c.SndUna else c.Iss + 1))

    /// Room left in the send buffer.
    member c.SendSpace = max 0 (c.Options.SendBufferSize - c.SendBuffered)
    /// Readable bytes the application has not consumed.
    member c.Unread = c.RcvUnread
    member c.ConnectionOptions = c.Options
