/// A TCP connection as a pure transition function (RFC 9293): `handleSegment`,
/// `handleUser` and `handleTimeout` take a connection and return the next one with the
/// output of the step; `nextDeadline` says when to call `handleTimeout`. The argument is
/// never changed: each step works on its own copy.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Stack.Core.Tcp.Connection

open Stack.Core.Wire
open Stack.Core.Tcp.Emit

/// The smallest MSS a peer or an ICMP error can give us, before options (Linux's
/// TCP_MIN_SND_MSS): below it, headers would outweigh the data many times over.
[<Literal>]
let MinMss = 48

/// The smallest path MTU an ICMP error can set (Linux's min_pmtu): a forged error cannot
/// shrink segments below what every IPv4 path carries in practice.
[<Literal>]
let MinPathMtu = 552

let private create (options: ConnectionOptions) (localAddress: IpAddress) (localPort: uint16) (state: State) =
    let zero = SeqNum 0u

    {
        Options = options
        LocalAddress = localAddress
        LocalPort = localPort
        RemoteAddress = IpAddress(0UL, 0UL)
        RemotePort = 0us
        State = state
        ActiveOpen = false
        Iss = zero
        SndUna = zero
        SndNxt = zero
        SndMax = zero
        SndWnd = 0
        MaxSndWnd = 0
        SndWl1 = zero
        SndWl2 = zero
        SndQueued = zero
        FinQueued = false
        Detached = false
        SynAcked = false
        SndMss = min options.Mss 536
        SndShift = 0
        ScalingOn = false
        Irs = zero
        RcvNxt = zero
        RcvEdge = zero
        RcvUnread = 0
        RcvBuffer = min options.ReceiveBufferSize (max 4096 options.InitialReceiveBufferSize)
        RcvBufferMax = options.ReceiveBufferSize
        RcvCopied = 0
        RcvMeasuredAt = 0L
        RcvShift =
            if options.WindowScaling then
                shiftFor options.ReceiveBufferSize
            else
                0
        OutOfOrder = Reassembly.empty ()
        Dsack = ValueNone
        PeerFin = ValueNone
        TimestampsOn = false
        SackOn = false
        TsRecent = 0u
        TsOffset = 0u
        TsRecentAt = 0L
        LastAckSent = zero
        Rtt = Rtt.create options.Rtt
        Timing = ValueNone
        SynSentAt = 0L
        Congestion = options.CongestionControl options.Mss
        SlowStart = HyStart.create zero
        FlightMax = 0
        CwndUsageEnd = zero
        CwndLimited = false
        Board = Scoreboard.Board()
        Rack = Rack.create zero
        TlpEnd = ValueNone
        TlpRetransmitted = false
        Recovery = Recovery.Open
        Undo = Unchecked.defaultof<Undo>
        Undone = 0L
        LastDelivered = 0
        DuplicateAcks = 0
        Recover = zero
        Retries = 0
        PersistBackoffs = 0
        UnansweredProbes = 0
        KeepaliveProbes = 0
        LastHeard = 0L
        Timers = Timers.empty
        UnackedSegments = 0
        LastOutOfWindowAck = System.Int64.MinValue / 2L
        Retransmissions = 0L
        Timeouts = 0L
        LossProbes = 0L
        SegmentsSent = 0L
        SegmentsReceived = 0L
        Notes = if options.Trace then ResizeArray() else null
        ReportedState = State.Closed
        ReportedRetransmissions = 0L
    }

/// A copy with a scoreboard of its own: the value steps change the copy in place.
let private copy (c: Connection) =
    { c with
        Board = c.Board.Clone()
        OutOfOrder = c.OutOfOrder.Clone()
    }

/// Lays out the send sequence space behind the ISS `iss`.
let private initSendFrom (c: Connection) (iss: SeqNum) =
    c.Iss <- iss
    c.TsOffset <- Isn.timestampOffset c.Options.IsnKey c.LocalAddress c.LocalPort c.RemoteAddress c.RemotePort
    c.SndUna <- iss
    c.SndNxt <- iss + 1
    c.SndMax <- iss + 1
    c.SndQueued <- iss + 1
    c.Recover <- iss
    c.Rack <- Rack.create (iss + 1)
    c.SlowStart <- HyStart.create (iss + 1)

/// Picks the ISS (RFC 6528) and lays out the send sequence space behind it.
let private initSend (c: Connection) (now: int64) =
    initSendFrom c (Isn.generate c.Options.IsnKey now c.LocalAddress c.LocalPort c.RemoteAddress c.RemotePort)

/// A connection waiting in LISTEN on a local address and port (passive open).
let listen (options: ConnectionOptions) (localAddress: IpAddress) (localPort: uint16) =
    create options localAddress localPort State.Listen

/// What a step changed that a driver tracks, since the last report: segments sent again,
/// and the new state with the stream bases when the state changed. Remembers what it told.
let internal report (c: Connection) : struct (int * Transition option) =
    let retransmitted = int (c.Retransmissions - c.ReportedRetransmissions)
    c.ReportedRetransmissions <- c.Retransmissions

    if LanguagePrimitives.PhysicalEquality c.State c.ReportedState then
        struct (retransmitted, None)
    else
        // The peer's SYN is in everywhere but LISTEN, SYN-SENT and a CLOSED reached from
        // those (or from nothing).
        let before = c.ReportedState
        c.ReportedState <- c.State

        let synchronized =
            match c.State with
            | State.Listen
            | State.SynSent -> false
            | State.Closed -> not (before.IsListen || before.IsSynSent || before.IsClosed)
            | _ -> true

        let transition =
            {
                State = c.State
                SendBase = c.Iss + 1
                ReceiveBase = if synchronized then ValueSome(c.Irs + 1) else ValueNone
            }

        struct (retransmitted, Some transition)

let private finish (c: Connection) (box: Outbox) =
    struct (c, box.ToOutput(Timers.earliest c.Timers, report c))

/// The outbox of a value step: a new one, so no step shares state with another thread's.
let private scratch () = Outbox()

let inline private startTimer (kind: Timers.Kind) (deadline: int64) (c: Connection) = Timers.put kind deadline &c.Timers

/// Active open: a connection in SYN-SENT, its SYN put in `box`.
let private open'
    (options: ConnectionOptions)
    (now: int64)
    (localAddress: IpAddress)
    (localPort: uint16)
    (remoteAddress: IpAddress)
    (remotePort: uint16)
    (box: Outbox)
    =
    let c = create options localAddress localPort State.SynSent
    c.RemoteAddress <- remoteAddress
    c.RemotePort <- remotePort
    c.ActiveOpen <- true
    initSend c now
    c.LastHeard <- now

    if not options.Timestamps then
        c.Timing <- ValueSome(struct (c.Iss, now))

    syn c now box
    startTimer Timers.Retransmit (now + Rtt.rto c.Rtt) c
    c

/// Active open: a connection in SYN-SENT and its SYN.
let connect options now localAddress localPort remoteAddress remotePort : struct (Connection * Output) =
    let box = scratch ()
    let c = open' options now localAddress localPort remoteAddress remotePort box
    finish c box

/// The reset that answers a segment nobody owns (RFC 9293 3.10.7.1), if any.
let resetFor (incoming: Incoming) =
    resetFor incoming.Header incoming.PayloadLength

/// When `handleTimeout` is next due, if any timer runs.
let nextDeadline (c: Connection) = Timers.next c.Timers

let private enterClosed (c: Connection) (box: Outbox) =
    c.State <- State.Closed
    c.Timers <- Timers.empty
    box.Raise Event.Closed

/// Bounds how long a detached connection waits in FIN-WAIT-2 for a silent peer
/// (`FinWait2TimeoutMicros`), with the TIME-WAIT timer, unused until then.
let private armFinWait2Timeout (c: Connection) (now: int64) =
    if c.Detached && c.Options.FinWait2TimeoutMicros < System.Int64.MaxValue - now then
        startTimer Timers.TimeWait (now + c.Options.FinWait2TimeoutMicros) c

/// Our FIN was acknowledged; the peer's may take a while. An application that still
/// reads (a half-close) waits as long as the peer takes, as Linux applies tcp_fin_timeout
/// to orphaned sockets only; a detached connection gives a silent peer a bounded time.
let private enterFinWait2 (c: Connection) (now: int64) =
    c.State <- State.FinWait2
    armFinWait2Timeout c now

let private enterTimeWait (c: Connection) (now: int64) =
    c.State <- State.TimeWait
    c.Timers <- Timers.set Timers.TimeWait (now + 2L * c.Options.MslMicros) Timers.empty

let private armKeepalive (c: Connection) (now: int64) =
    match c.Options.Keepalive with
    | ValueSome k when c.State.IsEstablished || c.State.IsCloseWait || c.State.IsFinWait2 ->
        c.KeepaliveProbes <- 0
        startTimer Timers.Keepalive (now + k.IdleMicros) c
    | ValueSome _ -> Timers.stop Timers.Keepalive &c.Timers
    // Off: nothing was ever armed (this runs for every segment).
    | ValueNone -> ()

/// Reads what the peer's SYN offers and settles what both sides use (RFC 7323, RFC 2018,
/// and the MSS of RFC 9293 3.7.1).
let private negotiate (c: Connection) (now: int64) (incoming: inref<Incoming>) (offered: inref<KnownOptions>) =
    let o = c.Options
    let h = &incoming.Header
    c.Irs <- SeqNum h.SequenceNumber
    c.RcvNxt <- c.Irs + 1
    c.RcvEdge <- c.RcvNxt
    c.TimestampsOn <- o.Timestamps && offered.Timestamps.IsSome
    c.SackOn <- o.Sack && offered.SackPermitted
    c.ScalingOn <- o.WindowScaling && offered.WindowScale.IsSome

    c.SndShift <-
        match offered.WindowScale with
        | ValueSome s when c.ScalingOn -> min 14 (int s)
        | _ -> 0

    if not c.ScalingOn then
        c.RcvShift <- 0

    // An MSS of 0 says nothing (Linux ignores it); a tiny one is raised to the floor, so a
    // peer cannot make us send one-byte segments.
    let peerMss =
        match offered.Mss with
        | ValueSome m when m > 0us -> max MinMss (int m)
        | _ -> 536

    c.SndMss <- (max MinMss (min peerMss c.LocalMss)) - (if c.TimestampsOn then 12 else 0)
    c.Congestion <- o.CongestionControl c.SndMss

    match offered.Timestamps with
    | ValueSome(struct (tsval, _)) when c.TimestampsOn ->
        c.TsRecent <- tsval
        c.TsRecentAt <- now
    | _ -> ()

    c.SndWnd <- int h.Window
    c.MaxSndWnd <- c.SndWnd
    c.SndWl1 <- c.Irs

let private connected (c: Connection) (now: int64) (box: Outbox) =
    c.State <- (if c.FinQueued then State.FinWait1 else State.Established)
    c.Retries <- 0
    box.Raise Event.Connected
    armKeepalive c now

/// A SYN in LISTEN: SYN-RECEIVED, and our SYN-ACK. With `cookie`, the ISS is that SYN
/// cookie and the SYN-ACK is all that is kept of the connection: what a rebuilt
/// connection must agree with rides in it (the options in the TSval's low bits; no
/// window scaling or SACK without timestamps to carry them).
let private acceptSyn (c: Connection) (now: int64) (box: Outbox) (incoming: inref<Incoming>) (cookie: uint32 voption) =
    let h = &incoming.Header
    c.LocalAddress <- incoming.Destination
    c.RemoteAddress <- incoming.Source
    c.RemotePort <- h.SourcePort
    let offered = TcpOptions.summarizeIn &h.Options
    negotiate c now &incoming &offered

    match cookie with
    | ValueSome iss ->
        initSendFrom c (SeqNum iss)

        if c.TimestampsOn then
            let bits =
                Isn.SynCookie.optionBits (if c.ScalingOn then ValueSome c.SndShift else ValueNone) c.SackOn

            let clock = tsClock c now
            let wanted = (clock &&& ~~~Isn.SynCookie.optionMask) ||| bits
            // Never ahead of the clock, so later TSvals still grow.
            let wanted =
                if int (wanted - clock) > 0 then
                    wanted - (Isn.SynCookie.optionMask + 1u)
                else
                    wanted

            c.TsOffset <- c.TsOffset + (wanted - clock)
        else
            c.ScalingOn <- false
            c.SackOn <- false
            c.SndShift <- 0
            c.RcvShift <- 0
    | ValueNone -> initSend c now

    c.State <- State.SynReceived
    c.LastHeard <- now

    if not c.TimestampsOn then
        c.Timing <- ValueSome(struct (c.Iss, now))

    syn c now box
    c.RcvEdge <- c.RcvNxt + min 65535 c.RcvBuffer
    startTimer Timers.Retransmit (now + Rtt.rto c.Rtt) c

/// RFC 9293 3.10.7.2: a segment for a connection in LISTEN.
let private onListen (c: Connection) (now: int64) (box: Outbox) (incoming: inref<Incoming>) =
    let h = &incoming.Header

    if h.Has TcpFlags.Rst then
        ()
    elif h.Has TcpFlags.Ack then
        match Emit.resetFor h incoming.PayloadLength with
        | ValueSome rst -> box.Send { Header = rst; PayloadLength = 0 }
        | ValueNone -> ()
    elif h.Has TcpFlags.Syn then
        acceptSyn c now box &incoming ValueNone

/// RFC 9293 3.10.7.4, second check, with RFC 5961 3.2: only a reset exactly at RCV.NXT
/// resets; one elsewhere in the window gets a challenge ACK.
let private onReset (c: Connection) (now: int64) (box: Outbox) (incoming: inref<Incoming>) =
    if SeqNum incoming.Header.SequenceNumber = c.RcvNxt then
        match c.State with
        | State.SynReceived ->
            if c.ActiveOpen then
                box.Raise Event.Refused

            enterClosed c box
        | State.Established
        | State.FinWait1
        | State.FinWait2
        | State.CloseWait ->
            box.Raise Event.Reset
            enterClosed c box
        | _ -> enterClosed c box
    else
        challengeAck c now box

/// The peer's FIN, once everything before it has arrived (RFC 9293 3.10.7.4 eighth step).
let private takeFin (c: Connection) (now: int64) (box: Outbox) =
    match c.PeerFin with
    | ValueSome fin when fin = c.RcvNxt ->
        match c.State with
        | State.Established
        | State.FinWait1
        | State.FinWait2 ->
            c.RcvNxt <- c.RcvNxt + 1
            c.PeerFin <- ValueNone
            box.Raise Event.PeerClosed

            match c.State with
            | State.Established ->
                c.State <- State.CloseWait
                armKeepalive c now
            | State.FinWait1 when not (Sender.finAcked c) -> c.State <- State.Closing
            | _ -> enterTimeWait c now

            true
        | _ -> false
    | _ -> false

/// RFC 9293 3.10.7.3: a segment for a connection in SYN-SENT.
let private onSynSent (c: Connection) (now: int64) (box: Outbox) (incoming: inref<Incoming>) =
    let h = &incoming.Header
    let ackNumber = SeqNum h.AcknowledgmentNumber
    let hasAck = h.Has TcpFlags.Ack

    if hasAck && (SeqNum.le ackNumber c.Iss || SeqNum.gt ackNumber c.SndMax) then
        // It acknowledges something we never sent.
        if not (h.Has TcpFlags.Rst) then
            match Emit.resetFor h incoming.PayloadLength with
            | ValueSome rst -> box.Send { Header = rst; PayloadLength = 0 }
            | ValueNone -> ()
    elif h.Has TcpFlags.Rst then
        // Only a reset that acknowledges our SYN refuses the connection.
        if hasAck then
            box.Raise Event.Refused
            enterClosed c box
    elif h.Has TcpFlags.Syn then
        let offered = TcpOptions.summarizeIn &h.Options
        negotiate c now &incoming &offered

        if hasAck then
            c.SndWl2 <- ackNumber
            Sender.measure c now ackNumber offered
            c.SndUna <- ackNumber
            c.SynAcked <- true
            Timers.stop Timers.Retransmit &c.Timers
            connected c now box
            // Text and FIN on the SYN-ACK are taken as in any segment (3.10.7.3, "continue
            // at the sixth step"), within the window our SYN offered.
            c.RcvEdge <- c.RcvNxt + min 65535 (c.RcvBuffer - c.RcvUnread)

            if incoming.PayloadLength > 0 then
                Receiver.onText c box &incoming |> ignore

            if h.Has TcpFlags.Fin then
                c.PeerFin <- ValueSome(c.Irs + 1 + incoming.PayloadLength)

            takeFin c now box |> ignore
            ack c now box
            Sender.output c now box
        else
            // Simultaneous open: both SYNs crossed.
            c.State <- State.SynReceived
            syn c now box
            c.RcvEdge <- c.RcvNxt + min 65535 c.RcvBuffer

/// The peer's SYN-ACK after crossing SYNs: its ACK is taken as any other, and the
/// connection is established without waiting for a further segment.
let private simultaneousSynAck
    (c: Connection)
    (now: int64)
    (box: Outbox)
    (incoming: inref<Incoming>)
    (offered: inref<KnownOptions>)
    =
    let h = &incoming.Header
    c.LastHeard <- now
    c.SndWnd <- Sender.windowOf c h
    c.MaxSndWnd <- max c.MaxSndWnd c.SndWnd
    c.SndWl1 <- SeqNum h.SequenceNumber
    c.SndWl2 <- SeqNum h.AcknowledgmentNumber
    connected c now box

    if Sender.onAck c now box &incoming &offered then
        Receiver.recordTimestamp c now &incoming &offered
        Sender.output c now box

/// RFC 9293 3.10.7.4: a segment in any synchronized state (SYN-RECEIVED to TIME-WAIT).
let private onSynchronized (c: Connection) (now: int64) (box: Outbox) (incoming: inref<Incoming>) =
    let h = &incoming.Header
    let seq = SeqNum h.SequenceNumber
    let offered = TcpOptions.summarizeIn &h.Options

    if
        c.State.IsSynReceived
        && h.Has TcpFlags.Syn
        && not (h.Has TcpFlags.Ack)
        && seq = c.Irs
    then
        // The peer did not get our SYN-ACK: send it again.
        syn c now box
    elif
        c.State.IsSynReceived
        && c.ActiveOpen
        && h.Has TcpFlags.Syn
        && h.Has TcpFlags.Ack
        && not (h.Has TcpFlags.Rst)
        && seq = c.Irs
        && SeqNum.betweenExclusiveInclusive c.SndUna (SeqNum h.AcknowledgmentNumber) c.SndMax
    then
        // Simultaneous open (RFC 9293 Figure 7, line 6): the peer's SYN-ACK acknowledges
        // our SYN and completes the handshake; its SYN is the one we already took.
        simultaneousSynAck c now box &incoming &offered
    elif Receiver.staleTimestamp c now &incoming &offered then
        Receiver.answerUnacceptable c now box &incoming
    elif not (Receiver.acceptable c &incoming) then
        Receiver.answerUnacceptable c now box &incoming

        // Bytes we have, sent again with an ACK of all we sent: the peer is there and has
        // not heard our ACKs. It is not silent, so FIN-WAIT-2 does not time out on it.
        if
            c.State.IsFinWait2
            && h.Has TcpFlags.Ack
            && SeqNum h.AcknowledgmentNumber = c.SndNxt
        then
            c.LastHeard <- now

        if c.State.IsTimeWait && h.Has TcpFlags.Fin then
            // The peer's FIN again: our last ACK was lost; wait 2 MSL afresh.
            enterTimeWait c now
    else
        c.LastHeard <- now

        if h.Has TcpFlags.Rst then
            onReset c now box &incoming
        elif h.Has TcpFlags.Syn then
            // RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK.
            challengeAck c now box
        elif not (h.Has TcpFlags.Ack) then
            ()
        else
            let ackNumber = SeqNum h.AcknowledgmentNumber

            let proceed =
                if not c.State.IsSynReceived then
                    true
                elif SeqNum.betweenExclusiveInclusive c.SndUna ackNumber c.SndMax then
                    c.SndWnd <- Sender.windowOf c h
                    c.MaxSndWnd <- max c.MaxSndWnd c.SndWnd
                    c.SndWl1 <- seq
                    c.SndWl2 <- ackNumber
                    connected c now box
                    true
                else
                    match Emit.resetFor h incoming.PayloadLength with
                    | ValueSome rst -> box.Send { Header = rst; PayloadLength = 0 }
                    | ValueNone -> ()

                    false

            if proceed && Sender.onAck c now box &incoming &offered then
                // Only a segment that passed every check may move TS.Recent (RFC 7323 4.3
                // with RFC 5961): a blind one with a huge TSval would fail all later ones.
                Receiver.recordTimestamp c now &incoming &offered
                let finAcked = Sender.finAcked c

                match c.State with
                | State.FinWait1 when finAcked -> enterFinWait2 c now
                | State.Closing when finAcked -> enterTimeWait c now
                | State.LastAck when finAcked -> enterClosed c box
                | _ -> ()

                if not c.State.IsClosed then
                    let receiving = c.State.IsEstablished || c.State.IsFinWait1 || c.State.IsFinWait2

                    let mutable ackNow = false

                    if receiving && incoming.PayloadLength > 0 then
                        ackNow <- Receiver.onText c box &incoming

                    if h.Has TcpFlags.Fin && receiving then
                        c.PeerFin <- ValueSome(seq + incoming.PayloadLength)

                    if takeFin c now box then
                        ackNow <- true

                    let sentBefore = c.SegmentsSent
                    Sender.output c now box

                    if c.SegmentsSent = sentBefore && c.LastAckSent <> c.RcvNxt then
                        if ackNow then
                            ack c now box
                        elif not (Timers.isSet Timers.DelayedAck &c.Timers) then
                            startTimer Timers.DelayedAck (now + c.Options.DelayedAckMicros) c
                    elif c.SegmentsSent = sentBefore && ackNow && incoming.PayloadLength > 0 then
                        // Data we already had: our ACK was lost, say it again.
                        ack c now box

                    if not c.State.IsTimeWait then
                        armKeepalive c now

/// A segment's arrival, on the connection `c` itself.
let private segmentStep (now: int64) (incoming: inref<Incoming>) (c: Connection) (box: Outbox) =
    c.SegmentsReceived <- c.SegmentsReceived + 1L

    match c.State with
    | State.Closed ->
        match Emit.resetFor incoming.Header incoming.PayloadLength with
        | ValueSome rst -> box.Send { Header = rst; PayloadLength = 0 }
        | ValueNone -> ()
    | State.Listen -> onListen c now box &incoming
    | State.SynSent -> onSynSent c now box &incoming
    | _ -> onSynchronized c now box &incoming

/// A segment arrives for this connection.
let handleSegment (now: int64) (incoming: Incoming) (connection: Connection) : struct (Connection * Output) =
    let c = copy connection
    let box = scratch ()
    segmentStep now &incoming c box
    finish c box

/// A user command, on the connection `c` itself.
let private userStep (now: int64) (command: Command) (c: Connection) (box: Outbox) =
    match command with
    | Command.Send bytes ->
        match c.State with
        | State.SynSent
        | State.SynReceived
        | State.Established
        | State.CloseWait when not c.FinQueued ->
            let queued = max 0 (min bytes c.SendSpace)
            c.SndQueued <- c.SndQueued + queued
            box.Queued <- queued
            Sender.output c now box
        | _ -> ()
    | Command.Consumed bytes ->
        let consumed = max 0 (min bytes c.RcvUnread)
        c.RcvUnread <- c.RcvUnread - consumed
        Receiver.autotune c now consumed

        match c.State with
        | State.Established
        | State.FinWait1
        | State.FinWait2 when consumed > 0 -> Receiver.windowUpdate c now box
        | _ -> ()
    | Command.Close ->
        match c.State with
        | State.Listen
        | State.SynSent -> enterClosed c box
        | State.SynReceived -> c.FinQueued <- true
        | State.Established ->
            c.FinQueued <- true
            c.State <- State.FinWait1
            Sender.output c now box
        | State.CloseWait ->
            c.FinQueued <- true
            c.State <- State.LastAck
            Sender.output c now box
        | _ -> ()
    | Command.SetNoDelay noDelay ->
        c.Options <- { c.Options with NoDelay = noDelay }

        if noDelay && (c.State.IsEstablished || c.State.IsCloseWait) then
            Sender.output c now box
    | Command.SetKeepalive keepalive ->
        c.Options <- { c.Options with Keepalive = keepalive }

        match keepalive with
        | ValueSome _ -> armKeepalive c now
        // Turned off: armKeepalive leaves alone a timer it never armed, so stop it here.
        | ValueNone -> Timers.stop Timers.Keepalive &c.Timers
    | Command.Detach ->
        if not c.Detached then
            c.Detached <- true

            if c.State.IsFinWait2 then
                armFinWait2Timeout c now
    | Command.Abort ->
        match c.State with
        | State.SynReceived
        | State.Established
        | State.FinWait1
        | State.FinWait2
        | State.CloseWait ->
            box.Send
                {
                    Header = baseHeader c c.SndMax TcpFlags.Rst
                    PayloadLength = 0
                }

            enterClosed c box
        | State.Closed -> ()
        | _ -> enterClosed c box

/// A user command.
let handleUser (now: int64) (command: Command) (connection: Connection) : struct (Connection * Output) =
    let c = copy connection
    let box = scratch ()
    userStep now command c box
    finish c box

let private timedOut (c: Connection) (box: Outbox) =
    box.Raise Event.TimedOut
    enterClosed c box

let private onRetransmit (c: Connection) (now: int64) (box: Outbox) =
    c.Retries <- c.Retries + 1

    match c.State with
    | State.SynSent
    | State.SynReceived ->
        let limit =
            if c.ActiveOpen then
                c.Options.MaxSynRetries
            else
                c.Options.MaxSynAckRetries

        if c.Retries > limit then
            timedOut c box
        else
            c.Rtt <- Rtt.backoff c.Rtt
            c.Timing <- ValueNone
            c.Retransmissions <- c.Retransmissions + 1L
            syn c now box

            if c.State.IsSynReceived then
                c.RcvEdge <- SeqNum.max c.RcvEdge (c.RcvNxt + min 65535 c.RcvBuffer)

            startTimer Timers.Retransmit (now + Rtt.rto c.Rtt) c
    | State.Established
    | State.CloseWait
    | State.FinWait1
    | State.Closing
    | State.LastAck when SeqNum.gt c.SndMax c.SndUna ->
        if c.Retries > c.Options.MaxRetries then
            timedOut c box
        else
            Sender.onRetransmitTimeout c now box
    | _ -> ()

let private onKeepalive (c: Connection) (now: int64) (box: Outbox) =
    match c.Options.Keepalive with
    | ValueSome k ->
        if now - c.LastHeard < k.IdleMicros then
            startTimer Timers.Keepalive (c.LastHeard + k.IdleMicros) c
        elif c.KeepaliveProbes >= k.Count then
            timedOut c box
        else
            // A probe one below SND.UNA: the peer must answer it with an ACK.
            send c now box (c.SndUna - 1) TcpFlags.None 0
            c.KeepaliveProbes <- c.KeepaliveProbes + 1
            startTimer Timers.Keepalive (now + k.IntervalMicros) c
    | ValueNone -> ()

/// What an ICMP error said about a segment this connection sent.
[<RequireQualifiedAccess>]
type IcmpProblem =
    /// Port or protocol unreachable: nobody listens there (a hard error, RFC 5461).
    | Unreachable
    /// Fragmentation needed and DF set, with the next hop's MTU (RFC 1191).
    | PacketTooBig of mtu: int
    /// Any other error: soft, only worth counting.
    | Other

/// An ICMP error, on the connection `c` itself (see `handleIcmpError`).
let private icmpErrorStep (now: int64) (problem: IcmpProblem) (quotedSeq: SeqNum) (c: Connection) (box: Outbox) =
    if SeqNum.le c.SndUna quotedSeq && SeqNum.lt quotedSeq c.SndMax then
        match problem with
        | IcmpProblem.Unreachable when c.State.IsSynSent ->
            box.Raise Event.Refused
            enterClosed c box
        | IcmpProblem.PacketTooBig mtu ->
            let options = if c.TimestampsOn then 12 else 0
            let mss = max c.MinPathMtu mtu - c.HeadersLength - options

            // Only a smaller path MTU means anything (RFC 1191): an error that repeats
            // the current size, or a larger one, changes nothing.
            if mss < c.SndMss then
                c.SndMss <- mss
                // Send again, at the new size and without waiting for the timer, what no
                // longer fits the path.
                if SeqNum.gt c.SndMax c.SndUna && not c.State.IsSynSent then
                    Sender.resendOversized c now box
        | _ -> ()

/// An ICMP error quoting a segment of this connection whose sequence number was
/// `quotedSeq`. Believed only when that number is outstanding (RFC 5927 4.1).
let handleIcmpError (now: int64) (problem: IcmpProblem) (quotedSeq: SeqNum) (connection: Connection) =
    let c = copy connection
    let box = scratch ()
    icmpErrorStep now problem quotedSeq c box
    finish c box

/// The timers due at `now`, run on the connection `c` itself.
let private timeoutStep (now: int64) (c: Connection) (box: Outbox) =
    let mutable handled = 0
    let mutable due = Timers.earliestDue now handled c.Timers

    while due.IsSome do
        let kind = due.Value
        handled <- Timers.withKind kind handled

        if not c.State.IsClosed then
            Timers.stop kind &c.Timers

            match kind with
            | Timers.Retransmit -> onRetransmit c now box
            | Timers.DelayedAck ->
                if c.LastAckSent <> c.RcvNxt || c.UnackedSegments > 0 then
                    ack c now box
            | Timers.Persist ->
                // A peer that answers keeps its shut window as long as it likes (3.8.6.1);
                // one that answers nothing is gone, as with retransmissions.
                if c.UnansweredProbes >= c.Options.MaxRetries then
                    timedOut c box
                else
                    c.UnansweredProbes <- c.UnansweredProbes + 1
                    Sender.onPersist c now box
            | Timers.Keepalive -> onKeepalive c now box
            | Timers.TimeWait when c.State.IsFinWait2 ->
                // Silence counts from the last segment the peer sent.
                let quietUntil = c.LastHeard + c.Options.FinWait2TimeoutMicros

                if now < quietUntil then
                    startTimer Timers.TimeWait quietUntil c
                else
                    timedOut c box
            | Timers.TimeWait -> enterClosed c box
            | Timers.Reorder -> Sender.onReorderTimeout c now box
            | Timers.LossProbe -> Sender.onProbeTimeout c now box

        due <- Timers.earliestDue now handled c.Timers

/// Runs every timer due at `now`.
let handleTimeout (now: int64) (connection: Connection) : struct (Connection * Output) =
    let c = copy connection
    let box = scratch ()
    timeoutStep now c box
    finish c box

/// The same steps for a caller that owns its connection outright, as a Rust stack takes
/// `&mut self`: the connection changes in place and the step's output replaces what the
/// outbox held, so a step in steady state allocates nothing. A connection handed to these
/// must not be shared: every earlier value of it changes too.
module Owned =
    /// An independent copy, for an owner that takes over a connection value.
    let copy (connection: Connection) = copy connection

    /// Active open (see `connect`): the SYN goes to `outbox`, emptied first.
    let connect (options: ConnectionOptions) now localAddress localPort remoteAddress remotePort (outbox: Outbox) =
        outbox.Clear()
        open' options now localAddress localPort remoteAddress remotePort outbox

    /// A segment arrives for this connection.
    let handleSegment (now: int64) (incoming: Incoming) (connection: Connection) (outbox: Outbox) =
        outbox.Clear()
        segmentStep now &incoming connection outbox

    /// `handleSegment` with the segment passed by reference: the host's path, once per
    /// packet.
    let internal handleSegmentIn (now: int64) (incoming: inref<Incoming>) (connection: Connection) (outbox: Outbox) =
        outbox.Clear()
        segmentStep now &incoming connection outbox

    /// A user command.
    let handleUser (now: int64) (command: Command) (connection: Connection) (outbox: Outbox) =
        outbox.Clear()
        userStep now command connection outbox

    /// Runs every timer due at `now`.
    let handleTimeout (now: int64) (connection: Connection) (outbox: Outbox) =
        outbox.Clear()
        timeoutStep now connection outbox

    /// An ICMP error quoting a segment of this connection (see `handleIcmpError`).
    let handleIcmpError
        (now: int64)
        (problem: IcmpProblem)
        (quotedSeq: SeqNum)
        (connection: Connection)
        (outbox: Outbox)
        =
        outbox.Clear()
        icmpErrorStep now problem quotedSeq connection outbox

    /// SYN cookies (RFC 4987 3.6): the SYN-ACK that `template`, a listener, sends for `syn`
    /// with the cookie `iss` as its ISS, keeping nothing; it goes to `outbox`.
    let internal answerWithCookie
        (now: int64)
        (syn: inref<Incoming>)
        (iss: uint32)
        (template: Connection)
        (outbox: Outbox)
        =
        outbox.Clear()
        acceptSyn (copy template) now outbox &syn (ValueSome iss)

    /// The connection that a returned cookie `iss` (carrying `mssIndex`) rebuilds from
    /// the handshake's last segment `ack`: the SYN it answered, remade from the cookie and
    /// the options the echoed TSval carries, then `ack` itself, which establishes it. Its
    /// output goes to `outbox`.
    let internal fromCookie
        (now: int64)
        (ack: inref<Incoming>)
        (iss: uint32)
        (mssIndex: int)
        (template: Connection)
        (outbox: Outbox)
        =
        let last = ack
        let offered = TcpOptions.summarizeIn &last.Header.Options
        let mss = Mss(uint16 Isn.SynCookie.mssTable[mssIndex])

        let options =
            match offered.Timestamps with
            | ValueSome(struct (tsval, echo)) ->
                let struct (shift, sack) = Isn.SynCookie.optionsOf echo

                [
                    mss
                    Timestamps(tsval, 0u)
                    if shift.IsSome then
                        WindowScale(byte shift.Value)
                    if sack then
                        SackPermitted
                ]
            | ValueNone -> [ mss ]

        let synthetic =
            { last with
                Header =
                    { last.Header with
                        Flags = TcpFlags.Syn
                        SequenceNumber = last.Header.SequenceNumber - 1u
                        AcknowledgmentNumber = 0u
                        Options = TcpOptions.ofList options
                    }
                PayloadLength = 0
            }

        let c = copy template
        acceptSyn c now outbox &synthetic (ValueSome iss)
        // Our clock runs as usual; the SYN-ACK is long gone, so no round trip is timed
        // from it, and what it sent is not sent again.
        c.TsOffset <- Isn.timestampOffset c.Options.IsnKey c.LocalAddress c.LocalPort c.RemoteAddress c.RemotePort
        c.Timing <- ValueNone
        outbox.Clear()
        segmentStep now &ack c outbox
        c
