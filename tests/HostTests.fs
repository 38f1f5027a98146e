/// The host as a whole: IPv4 packets in (as bytes), packets and connection outputs out.
module Stack.Tests.HostTests

open System
open Expecto
open FsCheck.FSharp
open Stack.Core.Host
open Stack.Core.Tcp
open Stack.Core.Wire
open Stack.Tests.Generators

let private hostAddress = Ipv4Address(10uy, 0uy, 0uy, 1uy)
let private remote = Ipv4Address(10uy, 0uy, 0uy, 2uy)
let private now = 1_000_000L

let private newHost () =
    Host.create (HostOptions.create hostAddress)

let private listening (port: uint16) (backlog: int) (host: Host) =
    match Host.listen port backlog host with
    | Ok h -> h
    | Error e -> failtestf "listen: %A" e

/// A TCP/IPv4 packet from `remote:sourcePort` to the host, as bytes.
let private tcpWith
    (sourcePort: uint16)
    (destinationPort: uint16)
    (flags: TcpFlags)
    (seq: uint32)
    (ack: uint32)
    (options: TcpOption list)
    (payload: byte array)
    =
    let tcp =
        { Tcp.header sourcePort destinationPort with
            SequenceNumber = seq
            AcknowledgmentNumber = ack
            Flags = flags
            Window = 65535us
            Options = TcpOptions.ofList options
        }

    Packet.tcpToArray (Ipv4.header IpProtocol.Tcp remote hostAddress 0) tcp (ReadOnlySpan payload)

let private tcpBytes sourcePort destinationPort flags seq ack options =
    tcpWith sourcePort destinationPort flags seq ack options [||]

let private receive (packet: byte array) (host: Host) =
    let struct (h, out) = Host.receive now (ReadOnlySpan packet) host
    h, out

/// The packets the host built itself (not connection segments).
let private datagrams (out: HostOutput) =
    out.Transmits
    |> List.choose (function
        | Datagram bytes -> Some bytes
        | Segment _ -> None)

/// The connection segments of a step.
let private segments (out: HostOutput) =
    out.Transmits
    |> List.choose (function
        | Segment(tuple, o) -> Some(tuple, o)
        | Datagram _ -> None)

let private decode (bytes: byte array) =
    match Packet.decode (ReadOnlySpan bytes) with
    | Ok p -> p
    | Error e -> failtestf "unreadable packet: %A" e

let private decodeTcp (bytes: byte array) =
    let p = decode bytes

    match p.Transport with
    | TcpTransport(seg, valid, _) ->
        Expect.isTrue p.Ip.ChecksumValid "IPv4 checksum"
        Expect.isTrue valid "TCP checksum"
        p.Ip.Header, seg.Header
    | other -> failtestf "not TCP: %A" other

let private synFrom (port: uint16) (seq: uint32) =
    tcpBytes port 80us TcpFlags.Syn seq 0u [ Mss 1460us; SackPermitted; Timestamps(1u, 0u); Nop; WindowScale 7uy ]

/// A host on port 80 whose one-place SYN queue is full, and the SYN-ACK whose ISS is the
/// cookie it sent remote:5002 (whose SYN had ISN 1000).
let private cookieSent () =
    let host =
        Host.create
            { HostOptions.create hostAddress with
                SynBacklog = 1
            }
        |> listening 80us 16

    let host, _ = receive (synFrom 5000us 1u) host
    let host, out = receive (synFrom 5002us 1000u) host
    let _, tcp = decodeTcp (datagrams out |> List.exactlyOne)
    host, tcp

/// The step's one connection output took `payload` from its place in `packet`.
let private expectArrived (packet: byte array) (payload: byte array) (out: HostOutput) =
    let struct (_, c) = out.Connections |> List.exactlyOne
    let a = c.Arrived.Value
    Expect.equal packet[a.PayloadOffset .. a.PayloadOffset + a.Length - 1] payload "the payload bytes"
    Expect.equal c.Readable payload.Length "readable"

/// A host listening on port 80, after a full handshake from `remote:port`: the host, the
/// connection's tuple and our SYN-ACK.
let private handshake (port: uint16) (host: Host) =
    let host, out = receive (synFrom port 1000u) host
    let tuple, synAck = segments out |> List.exactlyOne
    let ack = synAck.Header.SequenceNumber + 1u
    let host, out = receive (tcpBytes port 80us TcpFlags.Ack 1001u ack []) host
    host, tuple, synAck, out

/// A host that connected to `remote:80` and got its SYN-ACK: the host and the tuple.
let private connected () =
    match Host.connect now (IpAddress.OfIpv4 remote) 80us (newHost ()) with
    | Error e -> failtestf "connect: %A" e
    | Ok(struct (host, tuple, out)) ->
        let _, syn = segments out |> List.exactlyOne

        let synAck =
            tcpBytes
                80us
                tuple.LocalPort
                (TcpFlags.Syn ||| TcpFlags.Ack)
                5000u
                (syn.Header.SequenceNumber + 1u)
                [ Mss 1460us ]

        let host, _ = receive synAck host
        Expect.equal (Host.tryFind tuple host |> Option.map _.CurrentState) (Some State.Established) "ESTABLISHED"
        host, tuple

/// A host listening on port 80 with an established connection, and that connection.
let private busy =
    lazy
        (let host, tuple = connected ()
         listening 80us 4 host, tuple)

/// Packets worth throwing at a host: arbitrary bytes, well-formed TCP segments to the
/// listener or the connection with every header field arbitrary, and those with a bit
/// flipped.
let private hostile =
    let segment =
        gen {
            let! p = tcpPacket
            let! port = Gen.elements [ 80us; (snd busy.Value).LocalPort ]
            let! fromPort = Gen.elements [ 80us; 5000us; p.Tcp.SourcePort ]

            let tcp =
                { p.Tcp with
                    DestinationPort = port
                    SourcePort = fromPort
                }

            let ip =
                { Ipv4.header IpProtocol.Tcp remote hostAddress 0 with
                    Options = p.Ip.Options
                }

            return Packet.tcpToArray ip tcp (ReadOnlySpan p.Payload)
        }

    Gen.oneof
        [
            anyBytes
            segment
            gen {
                let! bytes = segment
                let! bit = Gen.choose (0, Int32.MaxValue)
                return flipBit bytes bit
            }
        ]

[<Tests>]
let tests =
    testList
        "Host"
        [
            test "a SYN to a closed port is answered with RST+ACK and counted" {
                let host, out = receive (synFrom 5555us 1000u) (newHost ())
                let ip, rst = decodeTcp (datagrams out |> List.exactlyOne)
                Expect.equal (ip.Source, ip.Destination) (hostAddress, remote) "from us to the sender"
                Expect.equal rst.Flags (TcpFlags.Rst ||| TcpFlags.Ack) "RST+ACK"
                Expect.equal rst.AcknowledgmentNumber 1001u "acknowledging the SYN"
                Expect.equal (rst.SourcePort, rst.DestinationPort) (80us, 5555us) "ports swapped"
                Expect.equal host.Counters.ResetsSent 1L "counted"
                Expect.equal (host.Counters.PacketsIn, host.Counters.PacketsOut) (1L, 1L) "one in, one out"
                Expect.isEmpty host.Connections "no connection"
            }

            test "an ACK to a listening port draws a RST and no connection" {
                let host = newHost () |> listening 80us 4
                let host, out = receive (tcpBytes 5000us 80us TcpFlags.Ack 1u 777u []) host
                let _, rst = decodeTcp (datagrams out |> List.exactlyOne)
                Expect.equal (rst.Flags, rst.SequenceNumber) (TcpFlags.Rst, 777u) "RST from the ACK number"
                Expect.equal host.Counters.ResetsSent 1L "counted"
                Expect.isEmpty host.Connections "no connection"
            }

            test "an ICMP echo request is answered with an echo reply of the same identifier, sequence and payload" {
                let payload = Array.init 56 byte

                let request =
                    Packet.icmpToArray
                        (Ipv4.header IpProtocol.Icmp remote hostAddress 0)
                        (Icmpv4.echoRequest 0x1234us 7us)
                        (ReadOnlySpan payload)

                let host, out = receive request (newHost ())
                let reply = datagrams out |> List.exactlyOne
                let p = decode reply
                Expect.equal (p.Ip.Header.Source, p.Ip.Header.Destination) (hostAddress, remote) "back to the sender"

                match p.Transport with
                | IcmpTransport icmp ->
                    Expect.equal icmp.Header.Type IcmpType.EchoReply "echo reply"
                    Expect.equal (icmp.Header.Identifier, icmp.Header.SequenceNumber) (0x1234us, 7us) "same id and seq"
                    Expect.isTrue icmp.ChecksumValid "checksum"
                    Expect.equal reply[p.PayloadOffset ..] payload "same payload"
                | other -> failtestf "not ICMP: %A" other

                Expect.equal host.Counters.EchoReplies 1L "counted"
            }

            test "SYNs and pings from sources no peer can have get no answer and are counted" {
                let sources =
                    [
                        Ipv4Address(255uy, 255uy, 255uy, 255uy)
                        Ipv4Address(224uy, 0uy, 0uy, 1uy)
                        Ipv4Address(0uy, 0uy, 0uy, 0uy)
                        Ipv4Address(127uy, 0uy, 0uy, 1uy)
                        Ipv4Address(240uy, 1uy, 2uy, 3uy)
                        hostAddress
                    ]

                let syn (source: Ipv4Address) =
                    let tcp =
                        { Tcp.header 5000us 80us with
                            SequenceNumber = 1000u
                            Flags = TcpFlags.Syn
                            Window = 65535us
                        }

                    Packet.tcpToArray (Ipv4.header IpProtocol.Tcp source hostAddress 0) tcp ReadOnlySpan.Empty

                let ping (source: Ipv4Address) =
                    Packet.icmpToArray
                        (Ipv4.header IpProtocol.Icmp source hostAddress 0)
                        (Icmpv4.echoRequest 1us 1us)
                        ReadOnlySpan.Empty

                let mutable host = newHost () |> listening 80us 4

                for source in sources do
                    for packet in [ syn source; ping source ] do
                        let h, out = receive packet host
                        host <- h
                        Expect.isEmpty out.Transmits $"nothing answers {source}"

                Expect.equal host.Counters.BadSource (int64 (2 * sources.Length)) "every one counted"
                Expect.equal host.Counters.EchoReplies 0L "no echo reply"
                // A peer's SYN is still answered.
                let _, out = receive (syn remote) host
                Expect.hasLength (segments out) 1 "a SYN-ACK to a real peer"
            }

            test "challenge ACKs stay within the stack's budget per second, across connections" {
                let host =
                    Host.create
                        { HostOptions.create hostAddress with
                            ChallengeAckLimit = 3
                        }
                    |> listening 80us 16

                let ports = [ 5001us .. 5005us ]

                let host =
                    (host, ports)
                    ||> List.fold (fun h port ->
                        let h, _, _, _ = handshake port h
                        h)

                // A reset in the window but not at RCV.NXT (the peer's ISN was 1000).
                let rst (port: uint16) =
                    tcpBytes port 80us TcpFlags.Rst 1101u 0u []

                let answers (at: int64) (host: Host) =
                    ((host, 0), ports)
                    ||> List.fold (fun (h, n) port ->
                        let struct (h, out) = Host.receive at (ReadOnlySpan(rst port)) h
                        h, n + List.length out.Transmits)

                let host, first = answers now host
                Expect.equal first 3 "three of five connections answered within the second"
                let _, later = answers (now + 1_000_000L) host
                Expect.equal later 3 "a new second, a new budget"
            }

            test "ephemeral ports (RFC 6056 algorithm 3): a keyed start per destination, then one port after another" {
                let keyed (k: uint64) =
                    Host.create
                        { HostOptions.create hostAddress with
                            Connection =
                                { ConnectionOptions.defaults with
                                    IsnKey = { K0 = k; K1 = k * 7UL }
                                }
                        }

                let portsTo (destination: Ipv4Address) (count: int) (host: Host) =
                    ((host, []), [ 1..count ])
                    ||> List.fold (fun (h, ports) _ ->
                        match Host.connect now (IpAddress.OfIpv4 destination) 80us h with
                        | Ok(struct (h, tuple, _)) -> h, ports @ [ int tuple.LocalPort ]
                        | Error e -> failtestf "connect: %A" e)

                let other = Ipv4Address(10uy, 0uy, 0uy, 3uy)
                let host, first = portsTo remote 3 (keyed 1UL)
                Expect.equal first [ first[0]; first[0] + 1; first[0] + 2 ] "successive ports to one destination"
                let _, second = portsTo other 1 host
                // A start of its own, after the counter moved on by three.
                Expect.notEqual second[0] (first[0] + 3) "another destination starts elsewhere"

                let starts =
                    [ 1UL .. 8UL ]
                    |> List.map (fun k -> portsTo remote 1 (keyed k) |> snd |> List.head)

                Expect.isGreaterThan (List.distinct starts).Length 4 "the key moves the start"
                Expect.isFalse (List.contains 32768 starts) "not the range's first port every time"
            }

            test "each connection's timestamps run from an offset of their own (RFC 7323 5.4)" {
                let tsvalTo (destination: Ipv4Address) =
                    match Host.connect now (IpAddress.OfIpv4 destination) 80us (newHost ()) with
                    | Ok(struct (_, _, out)) ->
                        let _, syn = segments out |> List.exactlyOne

                        match (TcpOptions.summarize syn.Header.Options).Timestamps with
                        | ValueSome(struct (tsval, _)) -> tsval
                        | ValueNone -> failtest "no timestamps on the SYN"
                    | Error e -> failtestf "connect: %A" e

                let a = tsvalTo remote
                let b = tsvalTo (Ipv4Address(10uy, 0uy, 0uy, 3uy))
                Expect.notEqual a b "two connections at one instant send different TSvals"
                Expect.notEqual a (uint32 (now / 1000L)) "not the host's clock itself"
            }

            test "unlisten resets the connections nobody will accept, half-open or ready, and keeps accepted ones" {
                let host = newHost () |> listening 80us 16
                let host, accepted, _, _ = handshake 5001us host

                let host =
                    match Host.accept 80us host with
                    | struct (ValueSome tuple, h) ->
                        Expect.equal tuple accepted "the first one taken"
                        h
                    | struct (ValueNone, _) -> failtest "nothing to accept"

                let host, ready, _, _ = handshake 5002us host
                let host, _ = receive (synFrom 5003us 1000u) host
                Expect.equal host.Connections.Count 3 "accepted, ready and half-open"
                let struct (host, out) = Host.unlisten now 80us host
                Expect.isFalse (host.Listeners.ContainsKey 80us) "no longer listening"

                let resets =
                    segments out
                    |> List.filter (fun (_, s) -> s.Header.Flags.HasFlag TcpFlags.Rst)
                    |> List.map (fun (t, _) -> t.RemotePort)
                    |> List.sort

                Expect.equal resets [ 5002us; 5003us ] "the ready and the half-open one are reset"
                Expect.equal (host.Connections.Keys |> List.ofSeq) [ accepted ] "the accepted one stays"
                Expect.notEqual ready accepted "two different connections"
            }

            test "at MaxConnections a SYN gets no answer and a connect fails, both counted" {
                let host =
                    Host.create
                        { HostOptions.create hostAddress with
                            MaxConnections = 2
                        }
                    |> listening 80us 16

                let host, _ = receive (synFrom 5000us 1u) host
                let host, _ = receive (synFrom 5001us 1u) host
                let host, out = receive (synFrom 5002us 1u) host
                Expect.isEmpty out.Transmits "the third SYN is not answered"
                Expect.equal host.Connections.Count 2 "two held"

                match Host.connect now (IpAddress.OfIpv4 remote) 8080us host with
                | Error e -> Expect.equal e TooManyConnections "connect refused"
                | Ok _ -> failtest "a third connection was opened"

                Expect.equal
                    host.Counters.ConnectionLimitHits
                    1L
                    "the SYN counted (the value connect's count is its own)"
            }

            test "a host told not to answer pings does not" {
                let host =
                    Host.create
                        { HostOptions.create hostAddress with
                            AnswerPings = false
                        }

                let request =
                    Packet.icmpToArray
                        (Ipv4.header IpProtocol.Icmp remote hostAddress 0)
                        (Icmpv4.echoRequest 1us 1us)
                        ReadOnlySpan.Empty

                let host, out = receive request host
                Expect.isEmpty out.Transmits "no reply"
                Expect.equal host.Counters.EchoReplies 0L "none counted"
            }

            test "a three-way handshake from real packet bytes establishes, and accept returns the tuple once" {
                let host = newHost () |> listening 80us 4
                let host, out = receive (synFrom 5000us 1000u) host
                let tuple, synAck = segments out |> List.exactlyOne

                Expect.equal
                    tuple
                    {
                        LocalAddress = IpAddress.OfIpv4 hostAddress
                        LocalPort = 80us
                        RemoteAddress = IpAddress.OfIpv4 remote
                        RemotePort = 5000us
                    }
                    "the tuple"

                let buffer = Array.zeroCreate 100
                let n = Host.writeSegment host tuple synAck ReadOnlySpan.Empty (Span buffer)
                let ip, h = decodeTcp buffer[.. n - 1]
                Expect.equal (ip.Source, ip.Destination) (hostAddress, remote) "addressed to the peer"
                Expect.equal h.Flags (TcpFlags.Syn ||| TcpFlags.Ack) "SYN-ACK"
                Expect.equal h.AcknowledgmentNumber 1001u "acknowledging the SYN"
                let struct (none, host) = Host.accept 80us host
                Expect.equal none ValueNone "nothing to accept before the ACK"

                let host, out =
                    receive (tcpBytes 5000us 80us TcpFlags.Ack 1001u (h.SequenceNumber + 1u) []) host

                let struct (t, c) = out.Connections |> List.exactlyOne
                Expect.equal (t, c.Events) (tuple, [ Event.Connected ]) "Connected"
                let struct (accepted, host) = Host.accept 80us host
                Expect.equal accepted (ValueSome tuple) "accepted"
                let struct (again, host) = Host.accept 80us host
                Expect.equal again ValueNone "only once"

                Expect.equal
                    (Host.tryFind tuple host |> Option.map _.CurrentState)
                    (Some State.Established)
                    "ESTABLISHED"
            }

            test "when the accept queue is full, further SYNs are dropped and counted" {
                let host = newHost () |> listening 80us 1
                let host, _, _, _ = handshake 5000us host
                let host, out = receive (synFrom 5001us 1000u) host
                Expect.isEmpty out.Transmits "no answer"
                Expect.equal host.Counters.SynsDropped 1L "counted"
                Expect.equal host.Connections.Count 1 "only the first connection"
            }

            test "with cookies off, when SynBacklog connections are half-open, further SYNs are dropped and counted" {
                let host =
                    Host.create
                        { HostOptions.create hostAddress with
                            SynBacklog = 2
                            SynCookies = false
                        }
                    |> listening 80us 16

                let mutable host = host

                let answers =
                    [
                        for port in [ 5000us; 5001us; 5002us ] ->
                            let h, out = receive (synFrom port 1u) host
                            host <- h
                            segments out |> List.length
                    ]

                Expect.equal answers [ 1; 1; 0 ] "the third gets no SYN-ACK"
                Expect.equal host.Counters.SynsDropped 1L "counted"
                Expect.equal host.Connections.Count 2 "two half-open"
            }

            test
                "a full SYN queue answers with a SYN cookie and keeps nothing; the ACK that returns it makes the connection" {
                let host =
                    Host.create
                        { HostOptions.create hostAddress with
                            SynBacklog = 2
                        }
                    |> listening 80us 16

                let host, _ = receive (synFrom 5000us 1u) host
                let host, _ = receive (synFrom 5001us 1u) host
                // A SYN offering MSS 1460, SACK, timestamps and window scale 7.
                let host, out = receive (synFrom 5002us 1000u) host
                Expect.equal host.Connections.Count 2 "nothing kept for the third"
                Expect.equal host.Counters.SynCookiesSent 1L "a cookie sent"
                let synAck = datagrams out |> List.exactlyOne
                let _, tcp = decodeTcp synAck
                Expect.equal tcp.Flags (TcpFlags.Syn ||| TcpFlags.Ack) "a SYN-ACK"
                Expect.equal tcp.AcknowledgmentNumber 1001u "acknowledging the SYN"
                let offered = TcpOptions.summarize tcp.Options
                let struct (tsval, _) = offered.Timestamps.Value
                Expect.isTrue offered.SackPermitted "SACK offered back"
                Expect.isTrue offered.WindowScale.IsSome "window scaling offered back"

                let ack =
                    tcpBytes
                        5002us
                        80us
                        TcpFlags.Ack
                        1001u
                        (tcp.SequenceNumber + 1u)
                        [ Nop; Nop; Timestamps(2u, tsval) ]

                let later = now + 50_000L
                let struct (host, out) = Host.receive later (ReadOnlySpan ack) host
                Expect.equal host.Counters.SynCookiesAccepted 1L "the cookie taken back"
                Expect.isEmpty (datagrams out) "no reset"

                let tuple =
                    {
                        LocalAddress = IpAddress.OfIpv4 hostAddress
                        LocalPort = 80us
                        RemoteAddress = IpAddress.OfIpv4 remote
                        RemotePort = 5002us
                    }

                let c = Host.tryFind tuple host |> Option.get
                Expect.equal c.CurrentState State.Established "ESTABLISHED"
                Expect.equal c.InitialSendSequence (SeqNum tcp.SequenceNumber) "from the cookie's ISS"
                Expect.isTrue c.SackEnabled "SACK kept through the timestamp"
                Expect.equal c.SendShift 7 "the peer's window scale kept through the timestamp"
                Expect.isTrue c.TimestampsEnabled "timestamps on"
                // MSS 1460 offered, less the 12 bytes of timestamps.
                Expect.equal c.MaxSegmentSize 1448 "the MSS from the cookie's table"

                match Host.accept 80us host with
                | struct (ValueSome accepted, _) -> Expect.equal accepted tuple "ready to accept"
                | struct (ValueNone, _) -> failtest "not in the accept queue"
            }

            test "under memory pressure (the driver's word) a receive buffer does not grow; without it, it does" {
                let bufferAfterReading (pressure: bool) =
                    let options = HostOptions.create hostAddress

                    let host =
                        Host.create
                            { options with
                                Connection =
                                    { options.Connection with
                                        ReceiveBufferSize = 1 <<< 20
                                        InitialReceiveBufferSize = 64 * 1024
                                    }
                            }
                        |> listening 80us 4

                    let host, tuple, synAck, _ = handshake 5000us host
                    Host.Owned.setMemoryPressure pressure host
                    let mutable host = host
                    let mutable readable = 0

                    for i in 0..39 do
                        let packet =
                            tcpWith
                                5000us
                                80us
                                TcpFlags.Ack
                                (1001u + uint32 (i * 1400))
                                (synAck.Header.SequenceNumber + 1u)
                                []
                                (Array.zeroCreate 1400)

                        let h, out = receive packet host
                        host <- h
                        readable <- readable + (out.Connections |> List.sumBy (fun struct (_, o) -> o.Readable))

                    Expect.equal readable 56_000 "all taken"

                    match Host.command (now + 20_000L) tuple (Command.Consumed readable) host with
                    | Ok(struct (h, _)) -> (Host.tryFind tuple h |> Option.get).ReceiveBuffer
                    | Error e -> failtestf "consumed: %A" e

                Expect.equal (bufferAfterReading true) (64 * 1024) "no growth under pressure"
                Expect.equal (bufferAfterReading false) (128 * 1024) "twice what was read, a power of two, without"
            }

            test "data on the ACK that returns a SYN cookie arrives with its offset in that packet" {
                // The peer's pure ACK was lost: its first data segment returns the cookie.
                let host, tcp = cookieSent ()
                let payload = "first bytes"B

                let packet =
                    tcpWith 5002us 80us (TcpFlags.Ack ||| TcpFlags.Psh) 1001u (tcp.SequenceNumber + 1u) [] payload

                let host, out = receive packet host
                Expect.equal host.Counters.SynCookiesAccepted 1L "the cookie taken back"
                expectArrived packet payload out
            }

            test "an ACK with a forged or stale cookie makes nothing and is reset" {
                let host, tcp = cookieSent ()

                let ackWith (number: uint32) =
                    tcpBytes 5002us 80us TcpFlags.Ack 1001u number []

                let tryAt (at: int64) (number: uint32) =
                    let struct (h, out) = Host.receive at (ReadOnlySpan(ackWith number)) host
                    h.Counters.SynCookiesAccepted, datagrams out |> List.length

                Expect.equal (tryAt now (tcp.SequenceNumber + 2u)) (0L, 1) "a wrong number: reset"
                Expect.equal (tryAt (now + (4L <<< 26)) (tcp.SequenceNumber + 1u)) (0L, 1) "four ticks late: reset"
                Expect.equal (tryAt (now + (1L <<< 26)) (tcp.SequenceNumber + 1u)) (1L, 0) "one tick late: taken"
            }

            test "data through the host arrives with its offset in the received packet" {
                let host = newHost () |> listening 80us 4
                let host, _, synAck, _ = handshake 5000us host
                let payload = "hello, host"B

                let packet =
                    tcpWith
                        5000us
                        80us
                        (TcpFlags.Ack ||| TcpFlags.Psh)
                        1001u
                        (synAck.Header.SequenceNumber + 1u)
                        []
                        payload

                let _, out = receive packet host
                expectArrived packet payload out
            }

            test "a new SYN for a connection in TIME-WAIT opens a new incarnation" {
                let host = newHost () |> listening 80us 4
                let host, tuple, _, _ = handshake 5000us host

                let host, out =
                    match Host.command now tuple Command.Close host with
                    | Ok(struct (h, out)) -> h, out
                    | Error e -> failtestf "close: %A" e

                let _, fin = segments out |> List.exactlyOne
                Expect.isTrue (fin.Header.Has TcpFlags.Fin) "our FIN"

                let peerFin =
                    tcpBytes 5000us 80us (TcpFlags.Fin ||| TcpFlags.Ack) 1001u (fin.Header.SequenceNumber + 1u) []

                let host, _ = receive peerFin host

                let state (h: Host) =
                    Host.tryFind tuple h |> Option.map _.CurrentState

                Expect.equal (state host) (Some State.TimeWait) "TIME-WAIT"
                let host, out = receive (synFrom 5000us 900_000u) host
                let t, synAck = segments out |> List.exactlyOne
                Expect.equal t tuple "the same tuple"
                Expect.equal synAck.Header.Flags (TcpFlags.Syn ||| TcpFlags.Ack) "SYN-ACK"
                Expect.equal synAck.Header.AcknowledgmentNumber 900_001u "for the new SYN"
                Expect.equal (state host) (Some State.SynReceived) "a new handshake"
            }

            test "a half-open connection reset by the peer frees its place in the SYN backlog" {
                let host =
                    Host.create
                        { HostOptions.create hostAddress with
                            SynBacklog = 1
                        }
                    |> listening 80us 4

                let host, _ = receive (synFrom 5000us 1000u) host
                let host, _ = receive (tcpBytes 5000us 80us TcpFlags.Rst 1001u 0u []) host
                Expect.isEmpty host.Connections "the half-open connection is gone"
                let host, out = receive (synFrom 5001us 1u) host
                Expect.equal (segments out |> List.length) 1 "the next SYN is answered"
                Expect.equal host.Counters.SynsDropped 0L "nothing dropped"
            }

            test
                "a half-open connection whose SYN-ACKs go unanswered times out through Host.timeout and frees its place" {
                let options =
                    { HostOptions.create hostAddress with
                        SynBacklog = 1
                        Connection =
                            { ConnectionOptions.defaults with
                                MaxSynAckRetries = 2
                            }
                    }

                let host, _ =
                    Host.create options |> listening 80us 4 |> receive (synFrom 5000us 1000u)

                let mutable host = host
                let mutable resent = 0
                let mutable events = []

                while (Host.nextDeadline host).IsSome do
                    let struct (h, out) = Host.timeout (Host.nextDeadline host).Value host
                    host <- h
                    resent <- resent + (segments out).Length
                    events <- events @ (out.Connections |> List.collect (fun (struct (_, c)) -> c.Events))

                Expect.equal resent 2 "the SYN-ACK sent MaxSynAckRetries times more"
                Expect.equal events [ Event.TimedOut; Event.Closed ] "then TimedOut"
                let _, out = receive (synFrom 5001us 1u) host
                Expect.equal (segments out |> List.length) 1 "the next SYN is answered"
            }

            test "Host.timeoutConnection runs one connection's due timers, and nothing before they are due" {
                let host, _ =
                    Host.create (HostOptions.create hostAddress)
                    |> listening 80us 4
                    |> receive (synFrom 5000us 1000u)

                let tuple = host.Connections |> Seq.head |> fun kv -> kv.Key
                let due = (Host.nextDeadline host).Value
                let struct (early, out) = Host.timeoutConnection (due - 1L) tuple host
                Expect.isEmpty out.Transmits "not due yet: nothing sent"
                Expect.isTrue (obj.ReferenceEquals(early, host)) "and nothing changed"
                let struct (_, out) = Host.timeoutConnection due tuple host
                let struct (_, all) = Host.timeout due host
                Expect.equal (segments out).Length 1 "the SYN-ACK is sent again"
                Expect.equal (segments out) (segments all) "as Host.timeout sends it"
            }

            test "two connects to the same peer get different ephemeral ports in the range" {
                let options = HostOptions.create hostAddress

                let tupleOf =
                    function
                    | Ok(struct (h: Host, t: FourTuple, _)) -> h, t
                    | Error e -> failtestf "connect: %A" e

                let host, first =
                    Host.connect now (IpAddress.OfIpv4 remote) 80us (Host.create options) |> tupleOf

                let _, second = Host.connect now (IpAddress.OfIpv4 remote) 80us host |> tupleOf
                Expect.notEqual first.LocalPort second.LocalPort "different ports"

                for t in [ first; second ] do
                    Expect.isGreaterThanOrEqual (int t.LocalPort) options.EphemeralFirst "in range"
                    Expect.isLessThanOrEqual (int t.LocalPort) options.EphemeralLast "in range"
            }

            test "an ICMP port unreachable quoting our SYN refuses the connection" {
                match Host.connect now (IpAddress.OfIpv4 remote) 80us (newHost ()) with
                | Error e -> failtestf "connect: %A" e
                | Ok(struct (host, tuple, out)) ->
                    let _, syn = segments out |> List.exactlyOne
                    let buffer = Array.zeroCreate 100
                    Host.writeSegment host tuple syn ReadOnlySpan.Empty (Span buffer) |> ignore
                    // The router quotes the IPv4 header and the first 8 bytes of the segment.
                    let quote = buffer[.. 20 + 8 - 1]

                    let icmp =
                        Packet.icmpToArray
                            (Ipv4.header IpProtocol.Icmp remote hostAddress 0)
                            (Icmpv4.destinationUnreachable 3uy 0us)
                            (ReadOnlySpan quote)

                    let host, out = receive icmp host
                    let struct (t, c) = out.Connections |> List.exactlyOne
                    Expect.equal t tuple "the connection it quotes"
                    Expect.equal c.Events [ Event.Refused; Event.Closed ] "Refused"
                    Expect.isFalse (host.Connections.ContainsKey tuple) "forgotten"
                    Expect.equal host.Counters.IcmpErrors 1L "counted"
            }

            test "an ICMP port unreachable quoting a sequence number we never sent changes nothing" {
                let host, tuple = connected ()

                let quoted =
                    { Tcp.header tuple.LocalPort tuple.RemotePort with
                        SequenceNumber = 12345u
                    }

                let original =
                    Packet.tcpToArray (Ipv4.header IpProtocol.Tcp hostAddress remote 0) quoted ReadOnlySpan.Empty

                let icmp =
                    Packet.icmpToArray
                        (Ipv4.header IpProtocol.Icmp remote hostAddress 0)
                        (Icmpv4.destinationUnreachable 3uy 0us)
                        (ReadOnlySpan original[..27])

                let host, out = receive icmp host

                for struct (_, c) in out.Connections do
                    Expect.isEmpty c.Events "no event"

                Expect.isTrue (host.Connections.ContainsKey tuple) "still there"
            }

            test "a packet that is not IPv4 is counted and dropped" {
                let packet = Array.zeroCreate 40
                packet[0] <- 0x60uy
                let host, out = receive packet (newHost ())
                Expect.isEmpty out.Transmits "dropped"
                Expect.equal host.Counters.NotIpv4 1L "counted as not IPv4"
                Expect.equal host.Counters.Malformed 0L "not as malformed"
            }

            test "garbage and damaged packets are counted as malformed" {
                let damaged = synFrom 5000us 1u
                damaged[damaged.Length - 1] <- damaged[damaged.Length - 1] ^^^ 0xFFuy

                let packets = [ [||]; [| 0x45uy; 0uy; 0uy |]; Array.create 60 0x45uy; damaged ]

                let host =
                    packets
                    |> List.fold
                        (fun h p ->
                            let h, out = receive p h
                            Expect.isEmpty out.Transmits "no answer"
                            h)
                        (newHost () |> listening 80us 4)

                Expect.equal host.Counters.Malformed (int64 packets.Length) "all counted"
                Expect.equal host.Counters.PacketsIn (int64 packets.Length) "all seen"
            }

            test "a packet for another address is counted and dropped" {
                let tcp = Tcp.header 5000us 80us

                let packet =
                    Packet.tcpToArray
                        (Ipv4.header IpProtocol.Tcp remote (Ipv4Address(10uy, 0uy, 0uy, 99uy)) 0)
                        tcp
                        ReadOnlySpan.Empty

                let host, out = receive packet (newHost () |> listening 80us 4)
                Expect.isEmpty out.Transmits "dropped"
                Expect.equal host.Counters.NotForUs 1L "counted"
            }

            propN
                2000
                "no run of packets, however malformed, makes the host throw (a listener and an established connection)"
                (Gen.listOfLength 4 hostile)
                (fun packets ->
                    let before = fst busy.Value

                    let host =
                        packets
                        |> List.fold
                            (fun (h: Host) bytes ->
                                let struct (after, _) = Host.receive now (ReadOnlySpan bytes) h
                                after)
                            before

                    host.Counters.PacketsIn = before.Counters.PacketsIn + int64 packets.Length)
        ]
