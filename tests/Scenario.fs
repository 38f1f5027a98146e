/// Helpers for scenario tests of one connection: segments in, segments out. A test holds
/// an `Exchange`: our connection, a clock, and a scripted `Peer` that keeps its own
/// sequence numbers, so it can say "the peer sends a SYN-ACK", "the peer sends 1000 bytes"
/// and then look at what we sent.
module Stack.Tests.Scenario

open Expecto
open Stack.Core.Host
open Stack.Core.Tcp
open Stack.Core.Wire

let ourAddress = IpAddress.Parse "10.0.0.1"
let ourPort = 40000us
let peerAddress = IpAddress.Parse "10.0.0.2"
let peerPort = 80us

/// When scenarios start: one second in, so our first timestamp is not 0.
let start = 1_000_000L

/// The peer's ISN unless a test picks one.
let peerIss = 7_000_000u

/// What Linux offers on a SYN. The peer fills in the timestamp values with its own clock.
let allOptions =
    [ Mss 1460us; SackPermitted; Timestamps(0u, 0u); Nop; WindowScale 7uy ]

/// A segment from the peer to us.
let incoming (flags: TcpFlags) (seq: SeqNum) (ack: SeqNum) (window: int) (options: TcpOption list) (length: int) =
    {
        Source = peerAddress
        Destination = ourAddress
        Header =
            { Tcp.header peerPort ourPort with
                SequenceNumber = seq.Value
                AcknowledgmentNumber = ack.Value
                Flags = flags
                Window = uint16 window
                Options = TcpOptions.ofList options
            }
        PayloadLength = length
    }

/// One segment we sent, read back.
type Sent =
    {
        Flags: TcpFlags
        Seq: SeqNum
        Ack: SeqNum
        /// The window field as sent (unscaled).
        Window: int
        Length: int
        Options: KnownOptions
    }

    member s.Has(flag: TcpFlags) = s.Flags &&& flag = flag

    /// The sequence number after the segment (SYN and FIN count one each).
    member s.End =
        s.Seq
        + s.Length
        + (if s.Has TcpFlags.Syn then 1 else 0)
        + (if s.Has TcpFlags.Fin then 1 else 0)

    /// The SACK blocks it carries, as (left, right) pairs.
    member s.SackBlocks =
        [ for i in 0 .. s.Options.SackBlockCount - 1 -> s.Options.SackBlock i ]
        |> List.map (fun (struct (l, r)) -> SeqNum l, SeqNum r)

let read (o: Outgoing) =
    {
        Flags = o.Header.Flags
        Seq = SeqNum o.Header.SequenceNumber
        Ack = SeqNum o.Header.AcknowledgmentNumber
        Window = int o.Header.Window
        Length = o.PayloadLength
        Options = TcpOptions.summarize o.Header.Options
    }

/// The segments a step sent, in order.
let sent (out: Output) = out.Segments |> List.map read

/// The one segment a step sent; fails the test when it sent none or several.
let single (out: Output) =
    match sent out with
    | [ s ] -> s
    | other -> failtestf "expected one segment, got %d: %A" other.Length other

let synAck = TcpFlags.Syn ||| TcpFlags.Ack
let rstAck = TcpFlags.Rst ||| TcpFlags.Ack
let finAck = TcpFlags.Fin ||| TcpFlags.Ack

/// The steps of `Connection`, returning the new connection and the output as a pair.
let receive now segment connection =
    let struct (c: Connection, out: Output) =
        Connection.handleSegment now segment connection

    c, out

let user now command connection =
    let struct (c: Connection, out: Output) =
        Connection.handleUser now command connection

    c, out

let timeout now connection =
    let struct (c: Connection, out: Output) = Connection.handleTimeout now connection
    c, out

/// When a timer of the connection is due, if it runs.
let deadline (kind: Timers.Kind) (c: Connection) = Timers.get kind c.Deadlines

/// A clock reading at which `Connection.connect` picks `iss` for the scenario's 4-tuple:
/// the ISN is a 4-microsecond clock plus a hash of the tuple (RFC 6528).
let nowForIss (key: Isn.IsnKey) (iss: uint32) =
    let offset = Isn.generate key 0L ourAddress ourPort peerAddress peerPort
    4L * int64 (iss - offset.Value)

/// The far end, scripted by the test. It sends from its own sequence numbers, acknowledges
/// what it heard from us in order, echoes our timestamps and scales its window once both
/// sides offered the options.
type Peer(iss: uint32) =
    /// The next sequence number the peer sends.
    member val Seq = SeqNum iss with get, set
    /// What the peer acknowledges: the end of what it heard from us in order.
    member val Ack = SeqNum 0u with get, set
    /// The peer's receive window in bytes.
    member val Window = 65535 with get, set
    member val TsVal = 100u with get, set
    member val TsEcr = 0u with get, set
    /// The options of the peer's SYN and of ours, once sent.
    member val PeerSyn: KnownOptions voption = ValueNone with get, set
    member val OurSyn: KnownOptions voption = ValueNone with get, set

    member private p.Both(has: KnownOptions -> bool) =
        match p.PeerSyn, p.OurSyn with
        | ValueSome a, ValueSome b -> has a && has b
        | _ -> false

    member p.Timestamps = p.Both(fun o -> o.Timestamps.IsSome)

    /// The shift the peer applies to its window field.
    member p.Shift =
        match p.PeerSyn with
        | ValueSome o when p.Both(fun o -> o.WindowScale.IsSome) -> int o.WindowScale.Value
        | _ -> 0

    /// The peer reads a segment we sent.
    member p.Hear(s: Sent) =
        if s.Has TcpFlags.Syn then
            p.OurSyn <- ValueSome s.Options
            p.Ack <- s.End
        elif s.Seq = p.Ack && not (s.Has TcpFlags.Rst) then
            p.Ack <- s.End

        match s.Options.Timestamps with
        | ValueSome(struct (tsval, _)) -> p.TsEcr <- tsval
        | ValueNone -> ()

    /// A segment from the peer: from `Seq` (which then moves past it) unless `seq` is
    /// given, acknowledging `Ack` unless `ack` is given, with the peer's window (in bytes;
    /// scaled here) unless `window` is given. A `Timestamps` option on a SYN is filled in
    /// with the peer's clock; other segments carry timestamps once both sides agreed.
    member p.Segment(flags: TcpFlags, length: int, ?seq: SeqNum, ?ack: SeqNum, ?window: int, ?options: TcpOption list) =
        let syn = flags &&& TcpFlags.Syn = TcpFlags.Syn
        let fin = flags &&& TcpFlags.Fin = TcpFlags.Fin
        let options = defaultArg options []

        let options =
            if syn then
                options
                |> List.map (function
                    | Timestamps _ -> Timestamps(p.TsVal, p.TsEcr)
                    | o -> o)
            elif p.Timestamps then
                [ Nop; Nop; Timestamps(p.TsVal, p.TsEcr) ] @ options
            else
                options

        if syn then
            p.PeerSyn <- ValueSome(TcpOptions.summarize (TcpOptions.ofList options))

        let bytes = defaultArg window p.Window

        let field =
            if syn then
                min 65535 bytes
            else
                min 65535 (bytes >>> p.Shift)

        let hasAck = flags &&& TcpFlags.Ack = TcpFlags.Ack
        let ackNumber = if hasAck then defaultArg ack p.Ack else SeqNum 0u
        let from = defaultArg seq p.Seq

        if seq.IsNone then
            p.Seq <- from + length + (if syn then 1 else 0) + (if fin then 1 else 0)

        p.TsVal <- p.TsVal + 1u
        incoming flags from ackNumber field options length

/// Our connection, the clock and the peer. Every step lets the peer hear what we sent
/// and returns the step's output; `Connection` is the connection after it.
type Exchange(connection: Connection, first: Output, peer: Peer, now: int64) =
    do
        for s in sent first do
            peer.Hear s

    member val Connection = connection with get, set
    member val Now = now with get, set
    /// The output of the latest step.
    member val Last = first with get, set
    member x.Peer = peer
    member x.State = x.Connection.CurrentState

    member private x.Take(struct (c: Connection, out: Output)) =
        x.Connection <- c
        x.Last <- out

        for s in sent out do
            peer.Hear s

        out

    /// A segment arrives now.
    member x.Deliver(segment: Incoming) =
        x.Take(Connection.handleSegment x.Now segment x.Connection)

    /// The user's command, now.
    member x.User(command: Command) =
        x.Take(Connection.handleUser x.Now command x.Connection)

    member x.Wait(micros: int64) = x.Now <- x.Now + micros

    /// Moves the clock to the next deadline and runs the timers due then.
    member x.Fire() =
        match Connection.nextDeadline x.Connection with
        | ValueSome d ->
            x.Now <- max x.Now d
            x.Take(Connection.handleTimeout x.Now x.Connection)
        | ValueNone -> failtest "no timer is running"

    /// Runs the retransmission timer: a tail loss probe due before it goes first.
    member x.FireRetransmit() =
        let probe = Timers.get Timers.LossProbe x.Connection.Deadlines

        if probe.IsSome && probe = Connection.nextDeadline x.Connection then
            x.Fire() |> ignore

        x.Fire()

    /// The peer sends a segment (see `Peer.Segment`).
    member x.PeerSends
        (flags: TcpFlags, ?length: int, ?seq: SeqNum, ?ack: SeqNum, ?window: int, ?options: TcpOption list)
        =
        x.Deliver(
            peer.Segment(flags, defaultArg length 0, ?seq = seq, ?ack = ack, ?window = window, ?options = options)
        )

    member x.PeerSyn(?options: TcpOption list) =
        x.PeerSends(TcpFlags.Syn, options = defaultArg options allOptions)

    /// The peer answers our SYN with the options it supports that our SYN offered.
    member x.PeerSynAck(?options: TcpOption list) =
        let ours =
            peer.OurSyn |> ValueOption.defaultValue (TcpOptions.summarize OptionBytes.Empty)

        let answered =
            defaultArg options allOptions
            |> List.filter (function
                | SackPermitted -> ours.SackPermitted
                | Timestamps _ -> ours.Timestamps.IsSome
                | WindowScale _ -> ours.WindowScale.IsSome
                | _ -> true)

        x.PeerSends(synAck, options = answered)

    member x.PeerAck(?ack: SeqNum, ?window: int, ?options: TcpOption list) =
        x.PeerSends(TcpFlags.Ack, ?ack = ack, ?window = window, ?options = options)

    /// The peer sends `length` bytes of data from its `Seq`.
    member x.PeerData(length: int, ?seq: SeqNum, ?ack: SeqNum) =
        x.PeerSends(TcpFlags.Ack ||| TcpFlags.Psh, length = length, ?seq = seq, ?ack = ack)

    member x.PeerFin(?ack: SeqNum) = x.PeerSends(finAck, ?ack = ack)

    /// A reset from the peer, at its `Seq` unless `seq` is given.
    member x.PeerRst(?seq: SeqNum) =
        x.PeerSends(TcpFlags.Rst, seq = defaultArg seq peer.Seq)

/// Active open at `now` to a peer: our SYN is out, the connection in SYN-SENT.
let connectAt (now: int64) (options: ConnectionOptions) (peer: Peer) =
    let struct (c, out) =
        Connection.connect options now ourAddress ourPort peerAddress peerPort

    Exchange(c, out, peer, now)

let connect (options: ConnectionOptions) = connectAt start options (Peer peerIss)

/// Passive open: a connection in LISTEN.
let listenFor (options: ConnectionOptions) (peer: Peer) =
    Exchange(Connection.listen options ourAddress ourPort, Output.empty, peer, start)

let listen (options: ConnectionOptions) = listenFor options (Peer peerIss)

let private expectEstablished (x: Exchange) =
    Expect.equal x.State State.Established "the handshake completes"
    Expect.contains x.Last.Events Event.Connected "Connected is told"
    x

/// Completes an active open: the peer's SYN-ACK with `peerOptions`, and our ACK.
let handshake (peerOptions: TcpOption list) (x: Exchange) =
    x.PeerSynAck peerOptions |> ignore
    expectEstablished x

let established (options: ConnectionOptions) = connect options |> handshake allOptions

/// Completes a passive open: the peer's SYN with `peerOptions`, our SYN-ACK, its ACK.
let acceptFrom (peerOptions: TcpOption list) (x: Exchange) =
    x.PeerSyn peerOptions |> ignore
    Expect.equal x.State State.SynReceived "SYN-RECEIVED after the SYN"
    x.PeerAck() |> ignore
    expectEstablished x

let accepted (options: ConnectionOptions) = listen options |> acceptFrom allOptions

/// ESTABLISHED, with some data sent and acknowledged first (so a loss is not in the first
/// flight), then `n` full segments in flight. Returns the exchange and the MSS.
let inFlightWith (options: ConnectionOptions) (n: int) =
    let x = established options
    let mss = x.Connection.MaxSegmentSize
    x.User(Command.Send(2 * mss)) |> ignore
    x.PeerAck() |> ignore
    let segments = sent (x.User(Command.Send(n * mss)))
    Expect.equal segments.Length n "all in flight"
    x, mss
