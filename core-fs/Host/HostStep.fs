/// The pure demultiplexer of one stack instance (RFC 9293 3.10.7.1 for segments nobody
/// owns, RFC 792 echo): packets in, packets and per-connection outputs out.
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Stack.Core.Host.Host

open System
open System.Collections.Immutable
open Stack.Core.Tcp
open Stack.Core.Wire

let private zeroCounters =
    {
        PacketsIn = 0L
        PacketsOut = 0L
        NotIpv4 = 0L
        Malformed = 0L
        NotForUs = 0L
        Fragments = 0L
        UnknownProtocol = 0L
        SynsDropped = 0L
        ResetsSent = 0L
        EchoReplies = 0L
        IcmpErrors = 0L
    }

let create (options: HostOptions) =
    {
        Options = options
        Connections = ImmutableDictionary<FourTuple, Connection>.Empty
        Listeners = Map.empty
        NextPort = options.EphemeralFirst
        Counters = zeroCounters
    }

/// Collects one step's output. The packet counts, which every step changes, are added to
/// the counters once at the end rather than copying them per packet.
type private Step(host: Host) =
    member val Host = host with get, set
    member val Transmits: Transmit list = [] with get, set
    member val Connections: struct (FourTuple * Output) list = [] with get, set
    member val PacketsIn = 0L with get, set
    member val PacketsOut = 0L with get, set

    member s.Count(f: Counters -> Counters) =
        s.Host <-
            { s.Host with
                Counters = f s.Host.Counters
            }

    member s.Send(t: Transmit) =
        s.Transmits <- t :: s.Transmits
        s.PacketsOut <- s.PacketsOut + 1L

    member s.Result() =
        let host =
            if s.PacketsIn = 0L && s.PacketsOut = 0L then
                s.Host
            else
                let c = s.Host.Counters

                { s.Host with
                    Counters =
                        { c with
                            PacketsIn = c.PacketsIn + s.PacketsIn
                            PacketsOut = c.PacketsOut + s.PacketsOut
                        }
                }

        struct (host,
                {
                    Transmits = List.rev s.Transmits
                    Connections = List.rev s.Connections
                })

let private tryFindIn (connections: ImmutableDictionary<FourTuple, Connection>) (tuple: FourTuple) =
    match connections.TryGetValue tuple with
    | true, c -> Some c
    | _ -> None

let private tupleOf (c: Connection) =
    let struct (la, lp) = c.Local
    let struct (ra, rp) = c.Remote

    {
        LocalAddress = la
        LocalPort = lp
        RemoteAddress = ra
        RemotePort = rp
    }

/// A whole TCP/IPv4 packet from this host to `destination` (resets for closed ports).
let private datagram (host: Host) (destination: Ipv4Address) (tcp: TcpHeader) =
    let ip =
        { Ipv4.header IpProtocol.Tcp host.Options.Address destination 0 with
            Ttl = host.Options.Ttl
        }

    Packet.tcpToArray ip tcp ReadOnlySpan.Empty

/// Files a connection's step: its segments to send, its output, and its place in the
/// tables (gone once CLOSED; from half-open to ready when a passive open completes).
let private record (step: Step) (tuple: FourTuple) (c: Connection) (output: Output) =
    for o in output.Segments do
        step.Send(Segment(tuple, o))

    step.Connections <- struct (tuple, { output with Segments = [] }) :: step.Connections
    let host = step.Host
    let listener = host.Listeners.TryFind tuple.LocalPort

    let listeners =
        match listener with
        | Some l when
            l.HalfOpen.Contains tuple
            || l.Ready |> List.exists (fun t -> FourTuple.Same(t, tuple))
            ->
            let connected = output.Events |> List.contains Event.Connected
            let closed = c.CurrentState = State.Closed

            let l =
                if closed then
                    { l with
                        HalfOpen = l.HalfOpen.Remove tuple
                        Ready = l.Ready |> List.filter (fun t -> not (FourTuple.Same(t, tuple)))
                    }
                elif connected then
                    { l with
                        HalfOpen = l.HalfOpen.Remove tuple
                        Ready = l.Ready @ [ tuple ]
                    }
                else
                    l

            host.Listeners.Add(l.Port, l)
        | _ -> host.Listeners

    let connections =
        if c.CurrentState = State.Closed then
            host.Connections.Remove tuple
        else
            host.Connections.SetItem(tuple, c)

    step.Host <-
        { host with
            Connections = connections
            Listeners = listeners
        }

let private reset (step: Step) (source: Ipv4Address) (incoming: Incoming) =
    match Connection.resetFor incoming with
    | ValueSome rst ->
        step.Count(fun c ->
            { c with
                ResetsSent = c.ResetsSent + 1L
            })

        step.Send(Datagram(datagram step.Host source rst))
    | ValueNone -> ()

/// A SYN for a listener: a new connection in SYN-RECEIVED, unless the backlog is full.
let private openPassive (step: Step) (now: int64) (l: Listener) (tuple: FourTuple) (incoming: Incoming) =
    if l.HalfOpen.Count >= step.Host.Options.SynBacklog || l.Ready.Length >= l.Backlog then
        step.Count(fun c ->
            { c with
                SynsDropped = c.SynsDropped + 1L
            })
    else
        let struct (c, output) = Connection.handleSegment now incoming l.Template

        if c.CurrentState = State.SynReceived then
            step.Host <-
                { step.Host with
                    Listeners =
                        step.Host.Listeners.Add(
                            l.Port,
                            { l with
                                HalfOpen = l.HalfOpen.Add tuple
                            }
                        )
                }

        record step tuple c output

let private onTcp (step: Step) (now: int64) (ip: Ipv4Header) (body: ReadOnlySpan<byte>) =
    match Tcp.tryParse ip.Source ip.Destination body with
    | Error _ -> step.Count(fun c -> { c with Malformed = c.Malformed + 1L })
    | Ok seg ->
        let h = seg.Header
        // Where the payload starts in the whole packet, for `Arrived`.
        let payloadStart = ip.HeaderLength + seg.PayloadOffset

        let incoming =
            {
                Source = ip.Source
                Destination = ip.Destination
                Header = h
                PayloadLength = seg.PayloadLength
            }

        let tuple =
            {
                LocalAddress = ip.Destination
                LocalPort = h.DestinationPort
                RemoteAddress = ip.Source
                RemotePort = h.SourcePort
            }

        let isSyn =
            h.Has TcpFlags.Syn && not (h.Has TcpFlags.Ack) && not (h.Has TcpFlags.Rst)

        let listener = step.Host.Listeners.TryFind h.DestinationPort

        match tryFindIn step.Host.Connections tuple, listener with
        | Some c, Some l when
            isSyn
            && c.CurrentState = State.TimeWait
            && SeqNum.gt (SeqNum h.SequenceNumber) c.ReceiveNext
            ->
            // A new incarnation of a connection in TIME-WAIT (RFC 9293 3.6.1, RFC 6191).
            step.Host <-
                { step.Host with
                    Connections = step.Host.Connections.Remove tuple
                }

            openPassive step now l tuple incoming
        | Some c, _ ->
            let struct (c, output) = Connection.handleSegment now incoming c

            let output =
                match output.Arrived with
                | ValueSome a ->
                    { output with
                        Arrived =
                            ValueSome
                                { a with
                                    PayloadOffset = a.PayloadOffset + payloadStart
                                }
                    }
                | ValueNone -> output

            record step tuple c output
        | None, Some l when isSyn -> openPassive step now l tuple incoming
        | None, Some l ->
            // Not a SYN: LISTEN answers an ACK with a reset and ignores the rest.
            let struct (_, output) = Connection.handleSegment now incoming l.Template

            for o in output.Segments do
                step.Count(fun c ->
                    { c with
                        ResetsSent = c.ResetsSent + 1L
                    })

                step.Send(Datagram(datagram step.Host ip.Source o.Header))
        | None, None -> reset step ip.Source incoming

let private onIcmp (step: Step) (now: int64) (ip: Ipv4Header) (body: ReadOnlySpan<byte>) =
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

            step.Send(Datagram bytes)
    | Ok icmp when icmp.Header.IsError ->
        step.Count(fun c ->
            { c with
                IcmpErrors = c.IcmpErrors + 1L
            })

        match icmp.Original with
        | ValueSome q when q.Header.Protocol = IpProtocol.Tcp && q.TransportPrefixLength >= 8 ->
            let tuple =
                {
                    LocalAddress = q.Header.Source
                    LocalPort = q.SourcePort.Value
                    RemoteAddress = q.Header.Destination
                    RemotePort = q.DestinationPort.Value
                }

            match tryFindIn step.Host.Connections tuple with
            | Some c ->
                let problem =
                    match icmp.Header.Type, icmp.Header.Code with
                    | IcmpType.DestinationUnreachable, (2uy | 3uy) -> Connection.IcmpProblem.Unreachable
                    | IcmpType.DestinationUnreachable, 4uy ->
                        Connection.IcmpProblem.PacketTooBig(int icmp.Header.NextHopMtu)
                    | _ -> Connection.IcmpProblem.Other

                let struct (c, output) =
                    Connection.handleIcmpError now problem (SeqNum q.TcpSequenceNumber.Value) c

                record step tuple c output
            | None -> ()
        | _ -> ()
    | Ok _ -> ()

/// An IPv4 packet arrives from the link.
let receive (now: int64) (packet: ReadOnlySpan<byte>) (host: Host) : struct (Host * HostOutput) =
    let step = Step(host)
    step.PacketsIn <- 1L

    match Ipv4.tryParse packet with
    | Error(BadVersion _) -> step.Count(fun c -> { c with NotIpv4 = c.NotIpv4 + 1L })
    | Error _ -> step.Count(fun c -> { c with Malformed = c.Malformed + 1L })
    | Ok ip ->
        let h = ip.Header
        let body = packet.Slice(ip.PayloadOffset, ip.PayloadLength)

        if h.Destination <> host.Options.Address then
            step.Count(fun c -> { c with NotForUs = c.NotForUs + 1L })
        elif h.MoreFragments || h.FragmentOffset <> 0us then
            step.Count(fun c -> { c with Fragments = c.Fragments + 1L })
        elif h.Protocol = IpProtocol.Tcp then
            onTcp step now h body
        elif h.Protocol = IpProtocol.Icmp then
            onIcmp step now h body
        else
            step.Count(fun c ->
                { c with
                    UnknownProtocol = c.UnknownProtocol + 1L
                })

    step.Result()

/// Starts listening on `port` with room for `backlog` connections waiting for accept.
let listen (port: uint16) (backlog: int) (host: Host) : Result<Host, HostError> =
    if host.Listeners.ContainsKey port then
        Error(AddressInUse port)
    else
        let l =
            {
                Port = port
                Backlog = max 1 backlog
                Template = Connection.listen host.Options.Connection host.Options.Address port
                HalfOpen = ImmutableHashSet<FourTuple>.Empty
                Ready = []
            }

        Ok
            { host with
                Listeners = host.Listeners.Add(port, l)
            }

/// Stops listening; connections already made stay.
let unlisten (port: uint16) (host: Host) =
    { host with
        Listeners = host.Listeners.Remove port
    }

/// The oldest established connection waiting on `port`, taken off the accept queue.
let accept (port: uint16) (host: Host) : struct (FourTuple voption * Host) =
    match host.Listeners.TryFind port with
    | Some({ Ready = first :: rest } as l) ->
        struct (ValueSome first,
                { host with
                    Listeners = host.Listeners.Add(port, { l with Ready = rest })
                })
    | _ -> struct (ValueNone, host)

/// Opens a connection to `remote:remotePort` from a free ephemeral port.
let connect
    (now: int64)
    (remote: Ipv4Address)
    (remotePort: uint16)
    (host: Host)
    : Result<struct (Host * FourTuple * HostOutput), HostError> =
    let o = host.Options
    let span = o.EphemeralLast - o.EphemeralFirst + 1

    let tupleAt (port: int) =
        {
            LocalAddress = o.Address
            LocalPort = uint16 port
            RemoteAddress = remote
            RemotePort = remotePort
        }

    let free (port: int) =
        not (host.Listeners.ContainsKey(uint16 port))
        && not (host.Connections.ContainsKey(tupleAt port))

    let candidates =
        Seq.init span (fun i -> o.EphemeralFirst + (host.NextPort - o.EphemeralFirst + i) % span)

    match candidates |> Seq.tryFind free with
    | None -> Error NoEphemeralPort
    | Some port ->
        let tuple = tupleAt port

        let struct (c, output) =
            Connection.connect o.Connection now o.Address (uint16 port) remote remotePort

        let step =
            Step(
                { host with
                    NextPort = o.EphemeralFirst + (port + 1 - o.EphemeralFirst) % span
                }
            )

        record step tuple c output
        let struct (host, out) = step.Result()
        Ok(struct (host, tuple, out))

/// A user command for one connection.
let command
    (now: int64)
    (tuple: FourTuple)
    (cmd: Command)
    (host: Host)
    : Result<struct (Host * HostOutput), HostError> =
    match tryFindIn host.Connections tuple with
    | None -> Error(NoSuchConnection tuple)
    | Some c ->
        let step = Step(host)
        let struct (c, output) = Connection.handleUser now cmd c
        record step tuple c output
        Ok(step.Result())

/// The connection with this tuple, if the host has it.
let tryFind (tuple: FourTuple) (host: Host) = tryFindIn host.Connections tuple

/// When `timeout` is next due: the earliest deadline of any connection.
let nextDeadline (host: Host) : int64 voption =
    let mutable earliest = Int64.MaxValue

    for KeyValue(_, c) in host.Connections do
        match Connection.nextDeadline c with
        | ValueSome d when d < earliest -> earliest <- d
        | _ -> ()

    if earliest = Int64.MaxValue then
        ValueNone
    else
        ValueSome earliest

/// Runs every connection timer due at `now`.
let timeout (now: int64) (host: Host) : struct (Host * HostOutput) =
    let step = Step(host)

    for KeyValue(tuple, c) in host.Connections do
        match Connection.nextDeadline c with
        | ValueSome d when d <= now ->
            let struct (c, output) = Connection.handleTimeout now c
            record step tuple c output
        | _ -> ()

    step.Result()

/// Runs the timers of one connection if any is due at `now` (for a caller that keeps its
/// own index of deadlines instead of asking `nextDeadline` about every connection).
let timeoutConnection (now: int64) (tuple: FourTuple) (host: Host) : struct (Host * HostOutput) =
    let step = Step(host)

    match tryFindIn host.Connections tuple with
    | Some c ->
        match Connection.nextDeadline c with
        | ValueSome d when d <= now ->
            let struct (c, output) = Connection.handleTimeout now c
            record step tuple c output
        | _ -> ()
    | None -> ()

    step.Result()

/// Writes a connection's segment as a whole IPv4 packet into `destination`, with
/// `payload` (its bytes from the send buffer) after the header. Returns the length.
let writeSegment
    (host: Host)
    (tuple: FourTuple)
    (segment: Outgoing)
    (payload: ReadOnlySpan<byte>)
    (destination: Span<byte>)
    =
    let ip =
        { Ipv4.header IpProtocol.Tcp tuple.LocalAddress tuple.RemoteAddress 0 with
            Ttl = host.Options.Ttl
        }

    Packet.writeTcp ip segment.Header payload destination
