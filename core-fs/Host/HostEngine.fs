/// The host engine: every step of one stack instance, in place on a host its caller owns
/// (RFC 9293 3.10.7.1 for segments nobody owns, RFC 792 echo): packets in, packets and
/// per-connection outputs out. `Host` is the API over it.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module internal Stack.Core.Host.HostEngine

open System
open System.Collections.Immutable
open Stack.Core.Tcp
open Stack.Core.Wire

let zeroCounters =
    {
        PacketsIn = 0L
        PacketsOut = 0L
        NotIpv4 = 0L
        Malformed = 0L
        NotForUs = 0L
        BadSource = 0L
        Fragments = 0L
        Reassembled = 0L
        FragmentsDropped = 0L
        FragmentBytesHeld = 0L
        ParameterProblemsSent = 0L
        UnknownProtocol = 0L
        SynsDropped = 0L
        SynCookiesSent = 0L
        SynCookiesAccepted = 0L
        ConnectionLimitHits = 0L
        ResetsSent = 0L
        EchoReplies = 0L
        IcmpErrors = 0L
    }

/// One step at work: the host it changes in place (the caller's own, or for a value step
/// a copy nobody else holds) and where its output goes.
[<Struct>]
type Step =
    {
        Host: Host
        Out: HostOutbox
    }

    member s.Count(f: Counters -> Counters) = s.Host.Tally <- f s.Host.Tally

    member s.Send(t: Transmit) =
        s.Out.Send t

        s.Host.PacketsOut <- s.Host.PacketsOut + 1L

/// An independent copy of `host`: its connections are copied too, so steps on the copy
/// leave every earlier value as it was.
let deepCopy (host: Host) =
    let mutable table = ImmutableDictionary<FourTuple, Connection>.Empty

    for KeyValue(tuple, c) in host.Table do
        table <- table.SetItem(tuple, Connection.Owned.copy c)

    { host with
        Table = table
        MemoTable = null
        MemoConnection = Unchecked.defaultof<Connection>
    }

/// A value step begins: the in-place steps run on a copy of `host`, into an outbox of
/// their own. Value steps are for tests and scripts: the copy costs a step O(connections).
let valueStart (host: Host) =
    {
        Host = deepCopy host
        Out = HostOutbox()
    }

/// A value step ends: the new host (the one it was given if nothing changed) and the
/// output as a value.
let valueEnd (host: Host) (step: Step) =
    let copy = step.Host

    // Nothing sent and no connection stepped: then the connections are as they were too.
    let unchanged =
        step.Out.Transmits.IsEmpty
        && step.Out.Connections.IsEmpty
        && copy.Table.Count = host.Table.Count
        && obj.ReferenceEquals(copy.ListenerTable, host.ListenerTable)
        && obj.ReferenceEquals(copy.ListenerTable6, host.ListenerTable6)
        && copy.NextEphemeral = host.NextEphemeral
        && copy.Tally = host.Tally
        && copy.PacketsIn = host.PacketsIn
        && copy.PacketsOut = host.PacketsOut
        && obj.ReferenceEquals(copy.Reassembly, host.Reassembly)

    struct ((if unchanged then host else copy), step.Out.ToOutput())

/// A value step: on a copy of `host`, its output as a value.
let valueStep (host: Host) (run: Step -> unit) : struct (Host * HostOutput) =
    let step = valueStart host
    run step
    valueEnd host step

/// An in-place step of the caller's own host.
let ownedStep (host: Host) (out: HostOutbox) =
    out.Clear()
    { Host = host; Out = out }

/// The connection of `tuple`, kept in the host's memo for the next step.
let tryFindIn (step: Step) (tuple: FourTuple) = step.Host.FindAndRemember tuple

/// The listener on `port` that takes connections from `remote`'s family: an IPv6-only
/// one before one for both families.
let tryListenerFor (host: Host) (port: uint16) (remote: IpAddress) =
    if remote.IsIpv4 then
        match host.ListenerTable.TryGetValue port with
        | true, l -> ValueSome l
        | _ -> ValueNone
    else
        match host.ListenerTable6.TryGetValue port with
        | true, l -> ValueSome l
        | _ ->
            match host.ListenerTable.TryGetValue port with
            | true, l when l.Family = ListenFamily.Both -> ValueSome l
            | _ -> ValueNone

/// The listener on `port` for exactly `family`.
let tryListenerOf (host: Host) (port: uint16) (family: ListenFamily) =
    let table =
        if family = ListenFamily.Ipv6 then
            host.ListenerTable6
        else
            host.ListenerTable

    match table.TryGetValue port with
    | true, l when l.Family = family -> ValueSome l
    | _ -> ValueNone

/// The family of a listener on `port`: the one for both families or IPv4, else the
/// IPv6 one (what the calls that name a port alone mean).
let familyOn (host: Host) (port: uint16) =
    match host.ListenerTable.TryGetValue port with
    | true, l -> l.Family
    | _ -> ListenFamily.Ipv6

/// Keeps `l` in its family's table (replacing what it was).
let storeListener (host: Host) (l: Listener) =
    if l.Family = ListenFamily.Ipv6 then
        host.ListenerTable6 <- host.ListenerTable6.Add(l.Port, l)
    else
        host.ListenerTable <- host.ListenerTable.Add(l.Port, l)

/// This host's address of the family of `remote`. (A packet of a family the host has no
/// address of never gets this far.)
let ourAddressFor (host: Host) (remote: IpAddress) =
    if remote.IsIpv4 then
        IpAddress.OfIpv4 host.Options.Address
    else
        match host.Options.Address6 with
        | ValueSome a -> IpAddress.OfIpv6 a
        | ValueNone -> IpAddress(0UL, 0UL)

/// A whole TCP packet from this host to `destination` (resets for closed ports).
let datagram (host: Host) (destination: IpAddress) (tcp: TcpHeader) =
    Packet.tcpBetweenToArray (ourAddressFor host destination) destination host.Options.Ttl tcp

let isConnected (output: Output) =
    not output.Events.IsEmpty && output.Events |> List.contains Event.Connected

/// A passive open that completed or a connection that closed moves in or out of its
/// listener's queues.
let updateListener (host: Host) (tuple: FourTuple) (closed: bool) (connected: bool) =
    match tryListenerFor host tuple.LocalPort tuple.RemoteAddress with
    | ValueSome l when
        l.HalfOpen.Contains tuple
        || l.Ready |> List.exists (fun t -> FourTuple.Same(t, tuple))
        ->
        let l =
            if closed then
                { l with
                    HalfOpen = l.HalfOpen.Remove tuple
                    Ready = l.Ready |> List.filter (fun t -> not (FourTuple.Same(t, tuple)))
                }
            else
                { l with
                    HalfOpen = l.HalfOpen.Remove tuple
                    Ready = l.Ready @ [ tuple ]
                }

        storeListener host l
    | _ -> ()

/// Files the step of connection `c` (whose output is in the step's connection outbox):
/// its segments to send, its output, and its place in the tables (gone once CLOSED; from
/// half-open to ready when a passive open completes). `fresh`: the connection is new to
/// the table. `payloadStart` is where the received segment's payload starts in its packet.
let record (step: Step) (tuple: FourTuple) (c: Connection) (fresh: bool) (payloadStart: int) =
    let box = step.Out.ConnectionOutbox

    for o in box.Segments do
        step.Send(Segment(tuple, o))

    let output =
        box.Summary(payloadStart, Timers.earliest c.Timers, Connection.report c)

    step.Out.File(tuple, output)
    let host = step.Host
    let closed = c.CurrentState.IsClosed
    let connected = isConnected output

    if closed || connected then
        updateListener host tuple closed connected

    if closed then
        host.Table <- host.Table.Remove tuple
    elif fresh then
        host.Table <- host.Table.SetItem(tuple, c)

let reset (step: Step) (source: IpAddress) (incoming: Incoming) =
    match Connection.resetFor incoming with
    | ValueSome rst ->
        step.Count(fun c ->
            { c with
                ResetsSent = c.ResetsSent + 1L
            })

        step.Send(Datagram(datagram step.Host source rst))
    | ValueNone -> ()

/// A listener's new connection `c`, filed as half-open; its step's output moves it on
/// (to the accept queue once established).
/// `payloadStart` is where the segment that made the connection has its payload (in a
/// final ACK that returns a SYN cookie, the data it may carry).
let private fileHalfOpen (step: Step) (l: Listener) (tuple: FourTuple) (c: Connection) (payloadStart: int) =
    storeListener
        step.Host
        { l with
            HalfOpen = l.HalfOpen.Add tuple
        }

    record step tuple c true payloadStart

/// The host holds as many connections as it may; counted when so.
let private atConnectionLimit (step: Step) =
    let full = step.Host.Table.Count >= step.Host.Options.MaxConnections

    if full then
        step.Count(fun c ->
            { c with
                ConnectionLimitHits = c.ConnectionLimitHits + 1L
            })

    full

/// How long after its last cookie a listener still takes cookies back: the two ticks a
/// cookie is valid for.
let private cookieWindow = 2L <<< 26

let private endsOf (t: FourTuple) : Isn.SynCookie.Ends =
    struct (t.LocalAddress, t.LocalPort, t.RemoteAddress, t.RemotePort)

/// A SYN for a listener whose SYN queue is full: a SYN-ACK with a cookie, and no state.
let private answerWithCookie (step: Step) (now: int64) (l: Listener) (tuple: FourTuple) (incoming: Incoming) =
    let h = incoming.Header

    let offeredMss =
        match (TcpOptions.summarize h.Options).Mss with
        | ValueSome m when m > 0us -> int m
        | _ -> 536

    let iss =
        Isn.SynCookie.make
            step.Host.Options.Connection.IsnKey
            now
            (endsOf tuple)
            h.SequenceNumber
            (Isn.SynCookie.mssIndex offeredMss)

    let box = step.Out.ConnectionOutbox
    Connection.Owned.answerWithCookie now &incoming iss l.Template box

    for o in box.Segments do
        step.Send(Datagram(datagram step.Host tuple.RemoteAddress o.Header))

    storeListener step.Host { l with LastCookieAt = now }

    step.Count(fun c ->
        { c with
            SynCookiesSent = c.SynCookiesSent + 1L
        })

/// The handshake's last ACK for a listener that has no connection for it: if it returns
/// a cookie of ours, the connection it rebuilds joins the accept queue. False if not.
let tryCookie
    (step: Step)
    (now: int64)
    (l: Listener)
    (tuple: FourTuple)
    (incoming: inref<Incoming>)
    (payloadStart: int)
    =
    let h = &incoming.Header

    if
        now - l.LastCookieAt > cookieWindow
        || not (h.Has TcpFlags.Ack)
        || h.Has TcpFlags.Syn
        || h.Has TcpFlags.Rst
        || l.Ready.Length >= l.Backlog
    then
        false
    else
        let iss = h.AcknowledgmentNumber - 1u

        match
            Isn.SynCookie.check step.Host.Options.Connection.IsnKey now (endsOf tuple) (h.SequenceNumber - 1u) iss
        with
        | ValueNone -> false
        | ValueSome _ when atConnectionLimit step -> false
        | ValueSome mssIndex ->
            let c =
                Connection.Owned.fromCookie now &incoming iss mssIndex l.Template step.Out.ConnectionOutbox

            step.Count(fun c ->
                { c with
                    SynCookiesAccepted = c.SynCookiesAccepted + 1L
                })

            // Filed as a half-open connection that just completed: the step moves it to
            // the accept queue.
            fileHalfOpen step l tuple c payloadStart
            true

/// A SYN for a listener: a new connection in SYN-RECEIVED; a cookie instead when the SYN
/// queue is full (and cookies are on); dropped when the accept queue is full.
let openPassive (step: Step) (now: int64) (l: Listener) (tuple: FourTuple) (incoming: Incoming) =
    if atConnectionLimit step then
        ()
    elif l.Ready.Length >= l.Backlog then
        step.Count(fun c ->
            { c with
                SynsDropped = c.SynsDropped + 1L
            })
    elif l.HalfOpen.Count >= step.Host.Options.SynBacklog then
        if step.Host.Options.SynCookies then
            answerWithCookie step now l tuple incoming
        else
            step.Count(fun c ->
                { c with
                    SynsDropped = c.SynsDropped + 1L
                })
    else
        // The template stays as it is: every SYN gets its own copy.
        let c = Connection.Owned.copy l.Template
        Connection.Owned.handleSegment now incoming c step.Out.ConnectionOutbox

        if c.CurrentState.IsSynReceived then
            fileHalfOpen step l tuple c 0
        else
            record step tuple c true 0

/// A TCP segment for no connection, or a SYN for one in TIME-WAIT: kept out of `onTcp`,
/// whose usual case is lighter without it.
[<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)>]
let onTcpUnusual
    (step: Step)
    (now: int64)
    (tuple: FourTuple)
    (found: Connection voption)
    (incoming: Incoming)
    (payloadStart: int)
    =
    let h = incoming.Header

    let isSyn =
        h.Has TcpFlags.Syn && not (h.Has TcpFlags.Ack) && not (h.Has TcpFlags.Rst)

    match found with
    | ValueSome c ->
        let reincarnation =
            isSyn
            && c.CurrentState.IsTimeWait
            && SeqNum.gt (SeqNum h.SequenceNumber) c.ReceiveNext

        match
            (if reincarnation then
                 tryListenerFor step.Host h.DestinationPort incoming.Source
             else
                 ValueNone)
        with
        | ValueSome l ->
            // A new incarnation of a connection in TIME-WAIT (RFC 9293 3.6.1, RFC 6191).
            step.Host.Table <- step.Host.Table.Remove tuple
            openPassive step now l tuple incoming
        | ValueNone ->
            Connection.Owned.handleSegmentIn now &incoming c step.Out.ConnectionOutbox
            record step tuple c false payloadStart
    | ValueNone ->
        match tryListenerFor step.Host h.DestinationPort incoming.Source with
        | ValueSome l when isSyn -> openPassive step now l tuple incoming
        | ValueSome l when tryCookie step now l tuple &incoming payloadStart -> ()
        | ValueSome l ->
            // Not a SYN: LISTEN answers an ACK with a reset and ignores the rest.
            let struct (_, output) = Connection.handleSegment now incoming l.Template

            for o in output.Segments do
                step.Count(fun c ->
                    { c with
                        ResetsSent = c.ResetsSent + 1L
                    })

                step.Send(Datagram(datagram step.Host incoming.Source o.Header))
        | ValueNone -> reset step incoming.Source incoming

/// A TCP segment (`body`, the IP payload from `payloadBase` in the packet) arrives.
/// The usual case, a segment for a connection the host has, takes no detour.
let onTcp
    (step: Step)
    (now: int64)
    (source: IpAddress)
    (destination: IpAddress)
    (payloadBase: int)
    (body: ReadOnlySpan<byte>)
    =
    if (Tcp.problemVerified source destination body).IsSome then
        step.Count(fun c -> { c with Malformed = c.Malformed + 1L })
    else
        let headerLength = Tcp.headerLengthOf body

        let incoming =
            {
                Source = source
                Destination = destination
                Header = Tcp.readHeader body
                PayloadLength = body.Length - headerLength
            }

        let tuple =
            {
                LocalAddress = destination
                LocalPort = incoming.Header.DestinationPort
                RemoteAddress = source
                RemotePort = incoming.Header.SourcePort
            }

        // Where the payload starts in the whole packet, for `Arrived`.
        let payloadStart = payloadBase + headerLength
        let found = tryFindIn step tuple

        if found.IsSome && not (incoming.Header.Has TcpFlags.Syn) then
            let c = found.Value
            Connection.Owned.handleSegmentIn now &incoming c step.Out.ConnectionOutbox
            record step tuple c false payloadStart
        else
            onTcpUnusual step now tuple found incoming payloadStart

/// The largest packet the link takes: the MSS the options give is the MTU less 40.
let private linkMtu (host: Host) = host.Options.Connection.Mss + 40

/// The next identification of a datagram this host fragments.
let private fragmentId (host: Host) =
    host.NextFragmentId <- host.NextFragmentId + 1u
    host.NextFragmentId

/// Sends a datagram this host built (an echo reply, say), in fragments when it is larger
/// than the link takes (RFC 791 3.2, RFC 8200 4.5).
let private sendFragmented (step: Step) (packet: byte array) =
    let mtu = linkMtu step.Host

    if packet.Length <= mtu then
        step.Send(Datagram packet)
    elif packet[0] >>> 4 = 4uy then
        let headerLength = int (packet[0] &&& 0x0Fuy) * 4
        let chunk = (mtu - headerLength) / 8 * 8
        let id = uint16 (fragmentId step.Host)

        for offset in headerLength..chunk .. packet.Length - 1 do
            let n = min chunk (packet.Length - offset)
            let last = offset + n = packet.Length
            let fragment = Array.zeroCreate (headerLength + n)
            Array.blit packet 0 fragment 0 headerLength
            Array.blit packet offset fragment headerLength n
            Bytes.put16 (Span fragment) 2 (uint16 fragment.Length)
            Bytes.put16 (Span fragment) 4 id
            let units = uint16 ((offset - headerLength) / 8)
            Bytes.put16 (Span fragment) 6 (if last then units else units ||| 0x2000us)
            Bytes.put16 (Span fragment) 10 0us
            Bytes.put16 (Span fragment) 10 (Checksum.compute (ReadOnlySpan(fragment, 0, headerLength)))
            step.Send(Datagram fragment)
    else
        let chunk = (mtu - Ipv6.HeaderLength - 8) / 8 * 8
        let id = fragmentId step.Host

        for offset in Ipv6.HeaderLength .. chunk .. packet.Length - 1 do
            let n = min chunk (packet.Length - offset)
            let last = offset + n = packet.Length
            let fragment = Array.zeroCreate (Ipv6.HeaderLength + 8 + n)
            Array.blit packet 0 fragment 0 Ipv6.HeaderLength
            fragment[6] <- 44uy
            Bytes.put16 (Span fragment) 4 (uint16 (8 + n))
            fragment[40] <- packet[6]
            let at = uint16 (offset - Ipv6.HeaderLength)
            Bytes.put16 (Span fragment) 42 (if last then at else at ||| 1us)
            Bytes.put32 (Span fragment) 44 id
            Array.blit packet offset fragment 48 n
            step.Send(Datagram fragment)

/// An ICMP error of either family that quotes a TCP segment we sent: it goes to that
/// segment's connection, if we have it.
let private quotedError
    (step: Step)
    (now: int64)
    (local: IpAddress)
    (localPort: uint16)
    (remote: IpAddress)
    (remotePort: uint16)
    (quotedSeq: uint32)
    (problem: Connection.IcmpProblem)
    =
    let tuple =
        {
            LocalAddress = local
            LocalPort = localPort
            RemoteAddress = remote
            RemotePort = remotePort
        }

    match tryFindIn step tuple with
    | ValueSome c ->
        Connection.Owned.handleIcmpError now problem (SeqNum quotedSeq) c step.Out.ConnectionOutbox
        record step tuple c false 0
    | ValueNone -> ()

let onIcmp (step: Step) (now: int64) (ip: Ipv4Header) (body: ReadOnlySpan<byte>) =
    match Icmpv4.tryParse body with
    | Error _ -> step.Count(fun c -> { c with Malformed = c.Malformed + 1L })
    | Ok icmp when icmp.Header.Type = IcmpType.EchoRequest ->
        if step.Host.Options.AnswerPings then
            let reply =
                { Ipv4.header IpProtocol.Icmp step.Host.Options.Address ip.Source 0 with
                    Ttl = step.Host.Options.Ttl
                }

            let echo = Icmpv4.echoReply icmp.Header.Identifier icmp.Header.SequenceNumber

            let bytes =
                Packet.icmpToArray reply echo (body.Slice(icmp.PayloadOffset, icmp.PayloadLength))

            step.Count(fun c ->
                { c with
                    EchoReplies = c.EchoReplies + 1L
                })

            sendFragmented step bytes
    | Ok icmp when icmp.Header.IsError ->
        step.Count(fun c ->
            { c with
                IcmpErrors = c.IcmpErrors + 1L
            })

        match icmp.Original with
        | ValueSome q when q.Header.Protocol = IpProtocol.Tcp && q.TransportPrefixLength >= 8 ->
            let problem =
                match icmp.Header.Type, icmp.Header.Code with
                | IcmpType.DestinationUnreachable, (2uy | 3uy) -> Connection.IcmpProblem.Unreachable
                | IcmpType.DestinationUnreachable, 4uy ->
                    Connection.IcmpProblem.PacketTooBig(int icmp.Header.NextHopMtu)
                | _ -> Connection.IcmpProblem.Other

            quotedError
                step
                now
                (IpAddress.OfIpv4 q.Header.Source)
                q.SourcePort.Value
                (IpAddress.OfIpv4 q.Header.Destination)
                q.DestinationPort.Value
                q.TcpSequenceNumber.Value
                problem
        | _ -> ()
    | Ok _ -> ()

/// Answers an IPv6 `packet` from `source` to our `destination` with a parameter problem
/// (RFC 4443 3.4) quoting as much of it as fits the minimum MTU, within the budget.
let private parameterProblem
    (step: Step)
    (now: int64)
    (source: IpAddress)
    (destination: IpAddress)
    (code: byte)
    (pointer: int)
    (packet: ReadOnlySpan<byte>)
    =
    let host = step.Host

    if now - host.IcmpErrorSecondStart >= 1_000_000L then
        host.IcmpErrorSecondStart <- now
        host.IcmpErrorsLeft <- HostOptions.IcmpErrorsPerSecond

    if host.IcmpErrorsLeft > 0 then
        host.IcmpErrorsLeft <- host.IcmpErrorsLeft - 1

        let quoted =
            min packet.Length (Icmpv6.MinimumMtu - Ipv6.HeaderLength - Icmpv6.HeaderLength)

        let bytes =
            Packet.icmpv6ToArray
                destination
                source
                host.Options.Ttl
                (Icmpv6.parameterProblem code (uint32 pointer))
                (packet.Slice(0, quoted))

        step.Count(fun c ->
            { c with
                ParameterProblemsSent = c.ParameterProblemsSent + 1L
            })

        step.Send(Datagram bytes)

/// An ICMPv6 message (`body`, from `source` to our `destination`) arrives: echo
/// requests are answered; packet too big and unreachable errors that quote one of our
/// connections go to it, as their ICMPv4 counterparts do.
let onIcmp6 (step: Step) (now: int64) (source: IpAddress) (destination: IpAddress) (body: ReadOnlySpan<byte>) =
    match Icmpv6.tryParse source destination body with
    | Error _ -> step.Count(fun c -> { c with Malformed = c.Malformed + 1L })
    | Ok icmp when icmp.Header.Type = Icmpv6Type.EchoRequest ->
        if step.Host.Options.AnswerPings then
            let echo = Icmpv6.echoReply icmp.Header.Identifier icmp.Header.SequenceNumber

            let bytes =
                Packet.icmpv6ToArray
                    destination
                    source
                    step.Host.Options.Ttl
                    echo
                    (body.Slice(icmp.PayloadOffset, icmp.PayloadLength))

            step.Count(fun c ->
                { c with
                    EchoReplies = c.EchoReplies + 1L
                })

            sendFragmented step bytes
    | Ok icmp when icmp.Header.IsError ->
        step.Count(fun c ->
            { c with
                IcmpErrors = c.IcmpErrors + 1L
            })

        match icmp.Original with
        | ValueSome q when q.Protocol = IpProtocol.Tcp && q.TransportPrefixLength >= 8 ->
            let problem =
                match icmp.Header.Type, icmp.Header.Code with
                // Port unreachable and administratively prohibited end a connect, as
                // Linux's icmpv6_err_convert has them.
                | Icmpv6Type.DestinationUnreachable, (1uy | 4uy) -> Connection.IcmpProblem.Unreachable
                | Icmpv6Type.PacketTooBig, _ -> Connection.IcmpProblem.PacketTooBig(int (min icmp.Header.Mtu 65535u))
                | _ -> Connection.IcmpProblem.Other

            quotedError
                step
                now
                (IpAddress.OfIpv6 q.Header.Source)
                q.SourcePort.Value
                (IpAddress.OfIpv6 q.Header.Destination)
                q.DestinationPort.Value
                q.TcpSequenceNumber.Value
                problem
        | _ -> ()
    | Ok _ -> ()

/// A TCP segment's step may send challenge ACKs from the stack's budget for this second
/// (RFC 5961 7): the connection outbox carries it through the step, and the host takes
/// back what is left.
let private lendChallengeAcks (step: Step) (now: int64) =
    let host = step.Host

    if now - host.ChallengeSecondStart >= 1_000_000L then
        host.ChallengeSecondStart <- now
        host.ChallengeAcksLeft <- host.Options.ChallengeAckLimit

    step.Out.ConnectionOutbox.ChallengeAcksLeft <- host.ChallengeAcksLeft

let private takeBackChallengeAcks (step: Step) =
    step.Host.ChallengeAcksLeft <- step.Out.ConnectionOutbox.ChallengeAcksLeft

/// Counts a packet that is not a readable IPv4 packet.
[<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)>]
let unreadable (step: Step) (problem: ParseError) =
    match problem with
    | BadVersion _ -> step.Count(fun c -> { c with NotIpv4 = c.NotIpv4 + 1L })
    | _ -> step.Count(fun c -> { c with Malformed = c.Malformed + 1L })

/// A fragment arrives: it is held, or completes a datagram (the header to put before
/// the data, and the data), or is dropped; each counted.
let private reassemble
    (step: Step)
    (now: int64)
    (key: FragmentKey)
    (offset: int)
    (more: bool)
    (header: ReadOnlySpan<byte>)
    (data: ReadOnlySpan<byte>)
    =
    let host = step.Host
    let limits = host.Options.Fragments
    let struct (r, expired) = FragmentTable.sweep now limits host.Reassembly
    let struct (r, outcome) = FragmentTable.add now limits key offset more header data r
    host.Reassembly <- r

    let dropped =
        match outcome with
        | Dropped _ -> 1L
        | _ -> 0L

    step.Count(fun c ->
        { c with
            Fragments = c.Fragments + 1L
            FragmentsDropped = c.FragmentsDropped + int64 expired + dropped
            FragmentBytesHeld = int64 r.Held
        })

    match outcome with
    | Whole(header, data) when header.Length + data.Length <= 65535 + (if key.Source.IsIpv4 then 0 else 40) ->
        step.Count(fun c ->
            { c with
                Reassembled = c.Reassembled + 1L
            })

        let whole = Array.zeroCreate (header.Length + data.Length)
        header.CopyTo(whole, 0)
        data.CopyTo(whole, header.Length)
        ValueSome whole
    | Whole _ ->
        step.Count(fun c ->
            { c with
                FragmentsDropped = c.FragmentsDropped + 1L
            })

        ValueNone
    | _ -> ValueNone

/// An IPv6 packet arrives: on a host with an IPv6 address, for that address, from a
/// source a peer can have, and not a fragment.
/// A TCP segment right after the fixed IPv6 header, from a source a peer can have to
/// our address: the usual packet, read without walking for extension headers. False
/// for anything else, which the general path reads.
let private tryReceivePlain6 (now: int64) (packet: ReadOnlySpan<byte>) (ours: Ipv6Address) (step: Step) =
    if
        packet.Length < Ipv6.HeaderLength + Tcp.MinHeaderLength
        || packet[6] <> IpProtocol.Tcp
    then
        false
    else
        let payloadLength =
            int (Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(packet.Slice 4))

        let source = Ipv6Address.Read(packet.Slice 8)
        let destination = Ipv6Address.Read(packet.Slice 24)
        let from = IpAddress.OfIpv6 source

        if
            Ipv6.HeaderLength + payloadLength > packet.Length
            || packet[0] >>> 4 <> 6uy
            || destination.High <> ours.High
            || destination.Low <> ours.Low
            || from.IsIpv4
            || not from.CanBeSource
            || (source.High = ours.High && source.Low = ours.Low)
        then
            false
        else
            lendChallengeAcks step now
            let body = packet.Slice(Ipv6.HeaderLength, payloadLength)
            onTcp step now from (IpAddress.OfIpv6 destination) Ipv6.HeaderLength body
            takeBackChallengeAcks step
            true

let rec private receive6 (now: int64) (packet: ReadOnlySpan<byte>) (step: Step) =
    match step.Host.Options.Address6 with
    | ValueNone -> step.Count(fun c -> { c with NotIpv4 = c.NotIpv4 + 1L })
    | ValueSome ours when tryReceivePlain6 now packet ours step -> ()
    | ValueSome ours ->
        match Ipv6.tryParse packet with
        | Error(Ipv6ParameterProblem(code, pointer, _)) ->
            step.Count(fun c -> { c with Malformed = c.Malformed + 1L })

            // Answered only when it is for us, from a source a peer can have.
            match Ipv6.tryParseHeader packet with
            | Ok header when
                header.Destination.High = ours.High
                && header.Destination.Low = ours.Low
                && not (IpAddress.OfIpv6 header.Source).IsIpv4
                && (IpAddress.OfIpv6 header.Source).CanBeSource
                && not (header.Source.High = ours.High && header.Source.Low = ours.Low)
                ->
                parameterProblem step now (IpAddress.OfIpv6 header.Source) (IpAddress.OfIpv6 ours) code pointer packet
            | _ -> ()
        | Error _ -> step.Count(fun c -> { c with Malformed = c.Malformed + 1L })
        | Ok ip ->
            let source = IpAddress.OfIpv6 ip.Header.Source
            let destination = IpAddress.OfIpv6 ip.Header.Destination

            if ip.Header.Destination.High <> ours.High || ip.Header.Destination.Low <> ours.Low then
                step.Count(fun c -> { c with NotForUs = c.NotForUs + 1L })
            elif
                source.IsIpv4
                || not source.CanBeSource
                || (source.High = destination.High && source.Low = destination.Low)
            then
                step.Count(fun c -> { c with BadSource = c.BadSource + 1L })
            elif ip.Fragment.IsSome && (ip.Fragment.Value.More || ip.Fragment.Value.Offset <> 0) then
                let f = ip.Fragment.Value

                let key =
                    {
                        Source = source
                        Destination = destination
                        Identification = f.Identification
                        Protocol = 0uy
                    }

                // Once whole: the fixed header, leading straight to what followed the
                // fragment header (headers before it, rare, are left out).
                let header =
                    if f.Offset = 0 then
                        let h = packet.Slice(0, Ipv6.HeaderLength).ToArray()
                        h[6] <- f.NextHeader
                        h
                    else
                        null

                let data =
                    packet.Slice(f.DataStart, Ipv6.HeaderLength + ip.Header.PayloadLength - f.DataStart)

                match reassemble step now key f.Offset f.More (ReadOnlySpan header) data with
                | ValueSome whole ->
                    Bytes.put16 (Span whole) 4 (uint16 (whole.Length - Ipv6.HeaderLength))
                    readWhole now whole step
                | ValueNone -> ()
            elif ip.Protocol = IpProtocol.Tcp then
                lendChallengeAcks step now
                onTcp step now source destination ip.Offset (packet.Slice(ip.Offset, ip.Length))
                takeBackChallengeAcks step
            elif ip.Protocol = Icmpv6.Protocol then
                onIcmp6 step now source destination (packet.Slice(ip.Offset, ip.Length))
            else
                step.Count(fun c ->
                    { c with
                        UnknownProtocol = c.UnknownProtocol + 1L
                    })

                // No next header (59) ends the packet; any other is unrecognized (RFC 8200 4).
                if ip.Protocol <> 59uy then
                    parameterProblem step now source destination 1uy ip.ProtocolAt packet

/// Reads a datagram put back together from fragments as if it had arrived whole; the
/// step's `Arrived` offsets then count from its start.
and private readWhole (now: int64) (whole: byte array) (step: Step) =
    step.Out.Reassembled <- whole
    // It is not another packet from the link.
    step.Host.PacketsIn <- step.Host.PacketsIn - 1L
    receiveStep now (ReadOnlySpan whole) step

and receiveStep (now: int64) (packet: ReadOnlySpan<byte>) (step: Step) =
    step.Host.PacketsIn <- step.Host.PacketsIn + 1L

    if not packet.IsEmpty && packet[0] >>> 4 = 6uy then
        receive6 now packet step
    else

        match Ipv4.problemVerified packet with
        | ValueSome problem -> unreadable step problem
        | ValueNone ->
            let h = Ipv4.readHeader packet
            let headerLength = h.HeaderLength
            let body = packet.Slice(headerLength, h.PayloadLength)

            if h.Destination.Value <> step.Host.Options.Address.Value then
                step.Count(fun c -> { c with NotForUs = c.NotForUs + 1L })
            elif not h.Source.CanBeSource || h.Source.Value = step.Host.Options.Address.Value then
                // Dropped before TCP or ICMP sees it: no reset, SYN-ACK or echo reply.
                step.Count(fun c -> { c with BadSource = c.BadSource + 1L })
            elif h.MoreFragments || h.FragmentOffset <> 0us then
                let key =
                    {
                        Source = IpAddress.OfIpv4 h.Source
                        Destination = IpAddress.OfIpv4 h.Destination
                        Identification = uint32 h.Identification
                        Protocol = h.Protocol
                    }

                let offset = int h.FragmentOffset * 8

                match reassemble step now key offset h.MoreFragments (packet.Slice(0, headerLength)) body with
                | ValueSome whole ->
                    // The whole datagram: its length, no fragment fields, a new checksum.
                    let firstHeaderLength = int (whole[0] &&& 0x0Fuy) * 4
                    Bytes.put16 (Span whole) 2 (uint16 whole.Length)
                    whole[6] <- whole[6] &&& 0x40uy
                    whole[7] <- 0uy
                    Bytes.put16 (Span whole) 10 0us
                    Bytes.put16 (Span whole) 10 (Checksum.compute (ReadOnlySpan(whole, 0, firstHeaderLength)))
                    readWhole now whole step
                | ValueNone -> ()
            elif h.Protocol = IpProtocol.Tcp then
                lendChallengeAcks step now
                onTcp step now (IpAddress.OfIpv4 h.Source) (IpAddress.OfIpv4 h.Destination) headerLength body
                takeBackChallengeAcks step
            elif h.Protocol = IpProtocol.Icmp then
                onIcmp step now h body
            else
                step.Count(fun c ->
                    { c with
                        UnknownProtocol = c.UnknownProtocol + 1L
                    })

/// Starts listening on `port` of `host`, in place.
/// Listens on `port`; the connections it accepts take `options` (the host's, or a
/// listener's own buffer sizes).
let listenIn
    (options: ConnectionOptions)
    (family: ListenFamily)
    (port: uint16)
    (backlog: int)
    (host: Host)
    : Result<unit, HostError> =
    // One listener for both families, or one for each: a port's IPv4 and IPv6 sides are
    // taken apart, as sockets bound to an address of each family are.
    let taken4 = host.ListenerTable.ContainsKey port
    let takenBoth = taken4 && host.ListenerTable[port].Family = ListenFamily.Both
    let taken6 = host.ListenerTable6.ContainsKey port || takenBoth

    let taken =
        match family with
        | ListenFamily.Ipv4 -> taken4
        | ListenFamily.Ipv6 -> taken6
        | _ -> taken4 || taken6

    if taken then
        Error(AddressInUse port)
    else
        let l =
            {
                Port = port
                Backlog = max 1 backlog
                Template = Connection.listen options (IpAddress.OfIpv4 host.Options.Address) port
                HalfOpen = ImmutableHashSet<FourTuple>.Empty
                Ready = []
                LastCookieAt = Int64.MinValue / 2L
                Family = family
            }

        storeListener host l
        Ok()

/// Takes the oldest established connection off the accept queue of `port`'s listener for
/// `family`, in place.
let acceptIn (port: uint16) (family: ListenFamily) (host: Host) : FourTuple voption =
    match tryListenerOf host port family with
    | ValueSome({ Ready = first :: rest } as l) ->
        storeListener host { l with Ready = rest }
        ValueSome first
    | _ -> ValueNone

/// A copy of `host` that shares its immutable tables: enough for a value step that only
/// changes the listeners.
let shallowCopy (host: Host) =
    { host with
        NextEphemeral = host.NextEphemeral
    }

/// Opens a connection to `remote:remotePort` from a free ephemeral port of the step's host,
/// chosen as RFC 6056 3.3.3 (algorithm 3) does: the search starts at a keyed hash of the
/// destination plus a counter, so successive connections to one destination get
/// successive ports while no one can tell which ports other destinations get.
/// The connection takes `options` (the host's, or its own buffer sizes).
let connectStep (options: ConnectionOptions) (now: int64) (remote: IpAddress) (remotePort: uint16) (step: Step) =
    let host = step.Host
    let o = host.Options
    let span = o.EphemeralLast - o.EphemeralFirst + 1
    let local = ourAddressFor host remote

    let tupleAt (port: int) =
        {
            LocalAddress = local
            LocalPort = uint16 port
            RemoteAddress = remote
            RemotePort = remotePort
        }

    let free (port: int) =
        not (host.ListenerTable.ContainsKey(uint16 port))
        && not (host.ListenerTable6.ContainsKey(uint16 port))
        && not (host.Table.ContainsKey(tupleAt port))

    let offset =
        Isn.ephemeralOffset o.Connection.IsnKey local remote remotePort
        + uint32 host.NextEphemeral

    let candidates =
        Seq.init span (fun i -> o.EphemeralFirst + int ((offset + uint32 i) % uint32 span))

    let full = atConnectionLimit step

    match
        (if full || local.High = 0UL && local.Low = 0UL then
             None
         else
             candidates |> Seq.tryFind free)
    with
    | None when full -> Error TooManyConnections
    | None when local.High = 0UL && local.Low = 0UL -> Error(NoAddressFor remote)
    | None -> Error NoEphemeralPort
    | Some port ->
        let tuple = tupleAt port
        host.NextEphemeral <- host.NextEphemeral + 1

        let c =
            Connection.Owned.connect options now local (uint16 port) remote remotePort step.Out.ConnectionOutbox

        record step tuple c true 0
        Ok tuple

let commandStep (now: int64) (c: Connection) (tuple: FourTuple) (cmd: Command) (step: Step) =
    // Under memory pressure a receive buffer keeps the size it has.
    c.RcvBufferMax <-
        if step.Host.MemoryPressure then
            c.RcvBuffer
        else
            c.Options.ReceiveBufferSize

    Connection.Owned.handleUser now cmd c step.Out.ConnectionOutbox
    record step tuple c false 0

/// Stops listening on `port` for `family`. Connections still half-open or waiting to be
/// accepted belong to no one now: they are reset, as Linux resets a closed listener's
/// children. Accepted connections stay.
let unlistenStep (now: int64) (port: uint16) (family: ListenFamily) (step: Step) =
    match tryListenerOf step.Host port family with
    | ValueNone -> ()
    | ValueSome l ->
        // Gone first, so the connections' last steps find no queue to join.
        if family = ListenFamily.Ipv6 then
            step.Host.ListenerTable6 <- step.Host.ListenerTable6.Remove port
        else
            step.Host.ListenerTable <- step.Host.ListenerTable.Remove port

        for tuple in Seq.append l.HalfOpen l.Ready do
            match tryFindIn step tuple with
            | ValueSome c -> commandStep now c tuple Command.Abort step
            | ValueNone -> ()

let timeoutOne (now: int64) (tuple: FourTuple) (c: Connection) (step: Step) =
    match Connection.nextDeadline c with
    | ValueSome d when d <= now ->
        Connection.Owned.handleTimeout now c step.Out.ConnectionOutbox
        record step tuple c false 0
    | _ -> ()

let timeoutConnectionStep (now: int64) (tuple: FourTuple) (step: Step) =
    match tryFindIn step tuple with
    | ValueSome c ->
        let deadline = Timers.earliest c.Timers

        if deadline <= now then
            timeoutOne now tuple c step
        else
            // Nothing due yet (the caller woke early): the output still says when.
            step.Out.File(
                tuple,
                { Output.empty with
                    NextDeadline = deadline
                }
            )
    | ValueNone -> ()
