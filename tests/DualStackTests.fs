/// IPv6 through the whole core: addresses of both families, the pseudo-header, ICMPv6,
/// and a dual-stack host that speaks TCP and ICMPv6 over IPv6 next to IPv4.
module Stack.Tests.DualStackTests

open System
open System.Buffers.Binary
open Expecto
open FsCheck.FSharp
open Stack.Core.Host
open Stack.Core.Tcp
open Stack.Core.Wire
open Stack.Tests.Generators

let private v6 (text: string) = IpAddress.Parse text
let private ours6 = v6 "fd00::1"
let private peer6 = v6 "fd00::2"
let private now = 1_000_000L

let private ipv6Address =
    Gen.zip (Gen.choose64 (0L, Int64.MaxValue)) (Gen.choose64 (0L, Int64.MaxValue))
    |> Gen.map (fun (h, l) -> IpAddress(uint64 h <<< 1, uint64 l <<< 1 ||| 1UL))
    |> Gen.filter (fun a -> not a.IsIpv4)

let private anyAddress =
    Gen.oneof [ ipv6Address; address |> Gen.map IpAddress.OfIpv4 ]

/// The one's complement sum of `bytes` the slow way, folded.
let private textbookSum (bytes: byte array) =
    let mutable sum = 0u

    for i in 0..2 .. bytes.Length - 1 do
        let hi = uint32 bytes[i] <<< 8
        let lo = if i + 1 < bytes.Length then uint32 bytes[i + 1] else 0u
        sum <- sum + hi + lo

    while sum > 0xFFFFu do
        sum <- (sum &&& 0xFFFFu) + (sum >>> 16)

    sum

/// A TCP/IPv6 packet from `source` to `destination`.
let private tcp6
    (source: IpAddress)
    (destination: IpAddress)
    (sourcePort: uint16)
    (destinationPort: uint16)
    (flags: TcpFlags)
    (seq: uint32)
    (ack: uint32)
    (options: TcpOption list)
    (payload: byte array)
    =
    let h =
        { Tcp.header sourcePort destinationPort with
            SequenceNumber = seq
            AcknowledgmentNumber = ack
            Flags = flags
            Window = 65535us
            Options = TcpOptions.ofList options
        }

    let buf = Array.zeroCreate (Ipv6.HeaderLength + h.HeaderLength + payload.Length)

    let n =
        Packet.writeTcpBetween source destination 64uy 0x12345u &h (ReadOnlySpan payload) (Span buf)

    buf[.. n - 1]

let private decode6 (bytes: byte array) =
    match Packet.decode6 (ReadOnlySpan bytes) with
    | Ok d -> d
    | Error e -> failtestf "unreadable IPv6 packet: %A" e

let private decodeTcp6 (bytes: byte array) =
    let d = decode6 bytes

    match d.Transport with
    | TcpTransport(seg, valid, options) ->
        Expect.isTrue valid "TCP checksum over the IPv6 pseudo-header"
        d.Ip.Header, seg, options
    | other -> failtestf "not TCP: %A" other

let private dualHost (address4: string) (address6: IpAddress) =
    Host.create
        { HostOptions.create (Ipv4Address.Parse address4) with
            Address6 = ValueSome address6.Ipv6
        }

let private listening (port: uint16) (host: Host) =
    match Host.listen port 16 host with
    | Ok h -> h
    | Error e -> failtestf "listen: %A" e

/// Every packet of a step as bytes: the host's datagrams and its connections' segments
/// (their payload as zeros, standing in for the send buffer).
let private wire (host: Host) (out: HostOutput) =
    [
        for t in out.Transmits do
            match t with
            | Datagram bytes -> bytes
            | Segment(tuple, o) ->
                let buf = Array.zeroCreate 2000
                let payload = Array.zeroCreate o.PayloadLength
                let n = Host.writeSegment host tuple o (ReadOnlySpan payload) (Span buf)
                buf[.. n - 1]
    ]

let private receive (packet: byte array) (host: Host) =
    let struct (h, out) = Host.receive now (ReadOnlySpan packet) host
    h, out

/// Delivers packets back and forth between two hosts until neither sends more.
/// Delivers packets back and forth between two hosts until neither sends more; also
/// the payload bytes that arrived at `b`.
let private exchange (a: Host) (b: Host) (toB: byte array list) (toA: byte array list) (rounds: int) =
    let mutable a = a
    let mutable b = b
    let mutable toB = toB
    let mutable toA = toA
    let mutable rounds = rounds
    let mutable arrivedAtB = 0

    while rounds > 0 && not (toB.IsEmpty && toA.IsEmpty) do
        let mutable fromB = []

        for p in toB do
            let h, out = receive p b
            b <- h
            fromB <- fromB @ wire b out

            for struct (_, c) in out.Connections do
                arrivedAtB <-
                    arrivedAtB
                    + (c.Arrived |> ValueOption.map (fun x -> x.Length) |> ValueOption.defaultValue 0)

        let mutable fromA = []

        for p in toA do
            let h, out = receive p a
            a <- h
            fromA <- fromA @ wire a out

        toB <- fromA
        toA <- fromB
        rounds <- rounds - 1

    struct (a, b, arrivedAtB)

[<Tests>]
let tests =
    testList
        "Dual stack"
        [
            testList
                "addresses"
                [
                    prop "an IPv4 address is mapped and back" address (fun a ->
                        let m = IpAddress.OfIpv4 a
                        m.IsIpv4 && m.Ipv4 = a && string m = string a)

                    prop "an IPv6 address is not IPv4, and its text parses back" ipv6Address (fun a ->
                        not a.IsIpv4 && IpAddress.Parse(string a) = a)

                    prop "to .NET and back" anyAddress (fun a -> IpAddress.OfIPAddress(a.ToIPAddress()) = a)

                    test "which IPv6 sources a peer can have" {
                        for text in [ "::"; "::1"; "ff02::1"; "ff05::2" ] do
                            Expect.isFalse (v6 text).CanBeSource text

                        for text in [ "fd00::2"; "2001:db8::7"; "fe80::1" ] do
                            Expect.isTrue (v6 text).CanBeSource text
                    }
                ]

            testList
                "pseudo-header"
                [
                    prop
                        "the IPv6 pseudo-header sum equals summing its 40 bytes"
                        (Gen.zip3 ipv6Address ipv6Address (Gen.choose (0, 65535)))
                        (fun (s, d, length) ->
                            let bytes = Array.zeroCreate 40
                            s.Ipv6.Bytes.CopyTo(bytes, 0)
                            d.Ipv6.Bytes.CopyTo(bytes, 16)
                            BinaryPrimitives.WriteUInt32BigEndian(Span(bytes, 32, 4), uint32 length)
                            bytes[39] <- 6uy
                            Checksum.pseudoHeader s d 6uy length = textbookSum bytes)

                    prop
                        "a mapped IPv4 pair sums as the 12-byte IPv4 pseudo-header"
                        (Gen.zip3 address address (Gen.choose (0, 65535)))
                        (fun (s, d, length) ->
                            let bytes = Array.zeroCreate 12
                            BinaryPrimitives.WriteUInt32BigEndian(Span(bytes, 0, 4), s.Value)
                            BinaryPrimitives.WriteUInt32BigEndian(Span(bytes, 4, 4), d.Value)
                            bytes[9] <- 6uy
                            BinaryPrimitives.WriteUInt16BigEndian(Span(bytes, 10, 2), uint16 length)
                            let sum = Checksum.pseudoHeader (IpAddress.OfIpv4 s) (IpAddress.OfIpv4 d) 6uy length
                            // One's complement has two zeros; both mean the same sum.
                            sum % 0xFFFFu = textbookSum bytes % 0xFFFFu)

                    prop
                        "a TCP/IPv6 packet reads back with a valid checksum, and any flipped address bit breaks it"
                        (Gen.zip3 tcpHeader (bytesOf 0 64) (Gen.choose (0, 255)))
                        (fun (h, payload, bit) ->
                            let bytes =
                                tcp6
                                    ours6
                                    peer6
                                    h.SourcePort
                                    h.DestinationPort
                                    h.Flags
                                    h.SequenceNumber
                                    h.AcknowledgmentNumber
                                    []
                                    payload

                            let ip, seg, _ = decodeTcp6 bytes
                            let flipped = Array.copy bytes
                            // Bits 64-319: the source and destination addresses.
                            let at = 64 + bit
                            flipped[at / 8] <- flipped[at / 8] ^^^ (1uy <<< (at % 8))

                            let stillValid =
                                match (decode6 flipped).Transport with
                                | TcpTransport(_, valid, _) -> valid
                                | _ -> false

                            string ip.Source = "fd00::1"
                            && seg.PayloadLength = payload.Length
                            && ip.FlowLabel = 0x12345u
                            && not stillValid)
                ]

            testList
                "ICMPv6"
                [
                    test "an echo request reads back, and its checksum covers the pseudo-header" {
                        let bytes =
                            Packet.icmpv6ToArray
                                peer6
                                ours6
                                64uy
                                (Icmpv6.echoRequest 7us 9us)
                                (ReadOnlySpan [| 1uy; 2uy; 3uy |])

                        match (decode6 bytes).Transport with
                        | Icmpv6Transport m ->
                            Expect.isTrue m.ChecksumValid "checksum"
                            Expect.equal (m.Header.Identifier, m.Header.SequenceNumber) (7us, 9us) "id and seq"
                            Expect.equal m.PayloadLength 3 "payload"
                        | other -> failtestf "not ICMPv6: %A" other

                        let body = ReadOnlySpan(bytes, 40, bytes.Length - 40)

                        match Icmpv6.tryParse ours6 ours6 body with
                        | Error(BadChecksum(Layer.Icmpv6, _, _)) -> ()
                        | other -> failtestf "the wrong source must fail the checksum: %A" other
                    }

                    test "packet too big quotes our segment: ports, sequence number and MTU" {
                        let original =
                            tcp6 ours6 peer6 40000us 80us TcpFlags.Ack 123456u 1u [] (Array.zeroCreate 1400)

                        let bytes =
                            Packet.icmpv6ToArray
                                (v6 "fd00::99")
                                ours6
                                64uy
                                (Icmpv6.packetTooBig 1300u)
                                (ReadOnlySpan(original, 0, Icmpv6.MinimumMtu - 48))

                        match (decode6 bytes).Transport with
                        | Icmpv6Transport m ->
                            let q = m.Original.Value
                            Expect.equal m.Header.Mtu 1300u "MTU"
                            Expect.equal (q.SourcePort, q.DestinationPort) (ValueSome 40000us, ValueSome 80us) "ports"
                            Expect.equal q.TcpSequenceNumber (ValueSome 123456u) "sequence number"
                        | other -> failtestf "not ICMPv6: %A" other
                    }

                    test "an error that quotes less than an IPv6 header is refused" {
                        let bytes =
                            Packet.icmpv6ToArray
                                peer6
                                ours6
                                64uy
                                (Icmpv6.destinationUnreachable 4uy)
                                (ReadOnlySpan(Array.zeroCreate 30))

                        match Icmpv6.tryParse peer6 ours6 (ReadOnlySpan(bytes, 40, bytes.Length - 40)) with
                        | Error(BadQuote _) -> ()
                        | other -> failtestf "expected a bad quote: %A" other
                    }

                    prop "arbitrary bytes never throw" (Gen.zip (bytesOf 0 200) anyAddress) (fun (bytes, source) ->
                        Icmpv6.tryParse source ours6 (ReadOnlySpan bytes) |> ignore
                        Icmpv6.tryParseUnchecked source ours6 (ReadOnlySpan bytes) |> ignore
                        true)

                    prop
                        "decodeAny and the printers never throw on arbitrary bytes after a version 6 nibble"
                        (bytesOf 1 300)
                        (fun bytes ->
                            bytes[0] <- 0x60uy ||| (bytes[0] &&& 0x0Fuy)
                            Packet.decodeAny (ReadOnlySpan bytes) |> ignore
                            Pretty.packet (ReadOnlySpan bytes) |> ignore
                            Pretty.summary (ReadOnlySpan bytes) |> ignore
                            true)

                    test "the summary of a TCP/IPv6 packet brackets its addresses" {
                        let bytes = tcp6 peer6 ours6 40000us 7us TcpFlags.Syn 1u 0u [ Mss 1440us ] [||]
                        let line = Pretty.summary (ReadOnlySpan bytes)
                        Expect.stringContains line "[fd00::2]:40000 > [fd00::1]:7 TCP [SYN]" line
                    }
                ]

            testList
                "host"
                [
                    test "a SYN over IPv6 gets a SYN-ACK over IPv6 with an MSS 20 bytes below IPv4's" {
                        let host = dualHost "10.0.0.1" ours6 |> listening 7us

                        let syn =
                            tcp6 peer6 ours6 40000us 7us TcpFlags.Syn 1000u 0u [ Mss 1440us; SackPermitted ] [||]

                        let host, out = receive syn host
                        let ip, seg, options = wire host out |> List.exactlyOne |> decodeTcp6
                        Expect.equal (string ip.Source, string ip.Destination) ("fd00::1", "fd00::2") "addresses"
                        Expect.isTrue (seg.Header.Has(TcpFlags.Syn ||| TcpFlags.Ack)) "SYN-ACK"
                        Expect.equal seg.Header.AcknowledgmentNumber 1001u "acknowledges the SYN"
                        Expect.notEqual ip.FlowLabel 0u "a flow label"

                        let mss =
                            options
                            |> List.pick (function
                                | Mss m -> Some(int m)
                                | _ -> None)

                        Expect.equal mss (host.Options.Connection.Mss - 20) "IPv6 headers are 20 bytes longer"
                    }

                    test "two dual-stack hosts connect and send over IPv6" {
                        let a = dualHost "10.0.0.1" ours6
                        let b = dualHost "10.0.0.2" peer6 |> listening 7us

                        match Host.connect now peer6 7us a with
                        | Error e -> failtestf "connect: %A" e
                        | Ok(struct (a, tuple, out)) ->
                            Expect.isFalse tuple.LocalAddress.IsIpv4 "an IPv6 tuple"
                            Expect.equal tuple.LocalAddress ours6 "from our IPv6 address"
                            let struct (a, b, _) = exchange a b (wire a out) [] 10
                            let struct (accepted, b) = Host.accept 7us b
                            Expect.isTrue accepted.IsSome "accepted"
                            Expect.equal accepted.Value.RemoteAddress ours6 "the peer's IPv6 address"

                            match Host.command now tuple (Command.Send 3000) a with
                            | Error e -> failtestf "send: %A" e
                            | Ok(struct (a, out)) ->
                                let sent = wire a out
                                Expect.isNonEmpty sent "data segments"
                                let struct (_, _, readable) = exchange a b sent [] 20
                                Expect.equal readable 3000 "every byte arrived through the IPv6 checksum"
                    }

                    test "ping6 is answered from the IPv6 address" {
                        let host = dualHost "10.0.0.1" ours6

                        let ping =
                            Packet.icmpv6ToArray peer6 ours6 64uy (Icmpv6.echoRequest 1us 2us) (ReadOnlySpan [| 9uy |])

                        let host, out = receive ping host
                        let d = wire host out |> List.exactlyOne |> decode6
                        Expect.equal (string d.Ip.Header.Destination) "fd00::2" "back to the sender"

                        match d.Transport with
                        | Icmpv6Transport m ->
                            Expect.equal m.Header.Type Icmpv6Type.EchoReply "echo reply"
                            Expect.isTrue m.ChecksumValid "checksum"
                        | other -> failtestf "not ICMPv6: %A" other
                    }

                    test "a SYN to a closed IPv6 port gets a reset over IPv6" {
                        let host = dualHost "10.0.0.1" ours6
                        let syn = tcp6 peer6 ours6 40000us 9us TcpFlags.Syn 1000u 0u [] [||]
                        let host, out = receive syn host
                        let ip, seg, _ = wire host out |> List.exactlyOne |> decodeTcp6
                        Expect.equal (string ip.Destination) "fd00::2" "to the sender"
                        Expect.isTrue (seg.Header.Has TcpFlags.Rst) "a reset"
                        Expect.equal host.Counters.ResetsSent 1L "counted"
                    }

                    test "sources no IPv6 peer can have get no answer" {
                        for source in [ "::"; "::1"; "ff02::1"; "::ffff:10.0.0.2"; "fd00::1" ] do
                            let host = dualHost "10.0.0.1" ours6 |> listening 7us
                            let syn = tcp6 (v6 source) ours6 40000us 7us TcpFlags.Syn 1000u 0u [] [||]
                            let host, out = receive syn host
                            Expect.isEmpty out.Transmits $"no answer to {source}"
                            Expect.equal host.Counters.BadSource 1L $"{source} counted"
                    }

                    propN
                        100
                        "a dual-stack host takes any run of hostile IPv6 packets without throwing, its fragments within their limit"
                        (Gen.listOfLength
                            40
                            (Gen.oneof
                                [
                                    // Any next header, any payload: extension headers, fragments and all.
                                    gen {
                                        let! next = Gen.elements [ 0uy; 6uy; 17uy; 43uy; 44uy; 58uy; 59uy; 60uy; 135uy ]
                                        let! payload = bytesOf 0 300
                                        return Ipv6Tests.ipv6Packet peer6.Ipv6 ours6.Ipv6 next payload
                                    }
                                    // TCP to the listener with arbitrary fields.
                                    gen {
                                        let! flags = Gen.choose (0, 255)
                                        let! seq = Gen.choose (0, Int32.MaxValue)
                                        let! ack = Gen.choose (0, Int32.MaxValue)
                                        let! payload = bytesOf 0 100

                                        return
                                            tcp6
                                                peer6
                                                ours6
                                                40000us
                                                7us
                                                (LanguagePrimitives.EnumOfValue<byte, TcpFlags>(byte flags))
                                                (uint32 seq)
                                                (uint32 ack)
                                                []
                                                payload
                                    }
                                    // Fragments at any offset, of a handful of datagrams.
                                    gen {
                                        let! id = Gen.choose (0, 3)
                                        let! units = Gen.choose (0, 8000)
                                        let! more = Gen.elements [ true; false ]
                                        let! data = bytesOf 1 200
                                        let header = Array.zeroCreate 8
                                        header[0] <- 6uy

                                        Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(
                                            Span(header, 2, 2),
                                            uint16 (units * 8) ||| (if more then 1us else 0us)
                                        )

                                        header[7] <- byte id

                                        return
                                            Ipv6Tests.ipv6Packet peer6.Ipv6 ours6.Ipv6 44uy (Array.append header data)
                                    }
                                ]))
                        (fun packets ->
                            let mutable host = dualHost "10.0.0.1" ours6 |> listening 7us

                            for p in packets do
                                let next, _ = receive p host
                                host <- next

                            host.Counters.FragmentBytesHeld <= int64 host.Options.Fragments.MaxBytes)

                    test "a listener of one family resets SYNs of the other and answers its own" {
                        let flagsOfAnswer (packet: byte array) =
                            let transport =
                                match Packet.decodeAny (ReadOnlySpan packet) with
                                | Ok(V4 d) -> d.Transport
                                | Ok(V6 d) -> d.Transport
                                | Error e -> failtestf "unreadable answer: %A" e

                            match transport with
                            | TcpTransport(seg, _, _) -> seg.Header.Flags
                            | other -> failtestf "not TCP: %A" other

                        let answers (family: ListenFamily) (source: IpAddress) (destination: IpAddress) =
                            let host = dualHost "10.0.0.1" ours6

                            match Host.Owned.listenFamily host.Options.Connection family 7us 16 host with
                            | Error e -> failtestf "listen: %A" e
                            | Ok() ->
                                let syn = tcp6 source destination 40000us 7us TcpFlags.Syn 1000u 0u [] [||]
                                let host, out = receive syn host
                                flagsOfAnswer (wire host out |> List.exactlyOne)

                        let peer4, ours4 = v6 "10.0.0.2", v6 "10.0.0.1"
                        let synAck = TcpFlags.Syn ||| TcpFlags.Ack

                        for family, source, destination, expected in
                            [
                                ListenFamily.Ipv4, peer4, ours4, synAck
                                ListenFamily.Ipv4, peer6, ours6, TcpFlags.Rst ||| TcpFlags.Ack
                                ListenFamily.Ipv6, peer6, ours6, synAck
                                ListenFamily.Ipv6, peer4, ours4, TcpFlags.Rst ||| TcpFlags.Ack
                                ListenFamily.Both, peer4, ours4, synAck
                                ListenFamily.Both, peer6, ours6, synAck
                            ] do
                            Expect.equal
                                (answers family source destination)
                                expected
                                $"a {family} listener answering a SYN from {source}"
                    }

                    test "a port takes an IPv4-only and an IPv6-only listener side by side, each accepting its own" {
                        let host = dualHost "10.0.0.1" ours6
                        let options = host.Options.Connection

                        let listen family =
                            Host.Owned.listenFamily options family 7us 16 host

                        Expect.equal (listen ListenFamily.Ipv4) (Ok()) "IPv4 only"
                        Expect.equal (listen ListenFamily.Ipv4) (Error(AddressInUse 7us)) "not twice"
                        Expect.equal (listen ListenFamily.Both) (Error(AddressInUse 7us)) "nor both beside it"
                        Expect.equal (listen ListenFamily.Ipv6) (Ok()) "IPv6 only beside it"
                        Expect.equal (listen ListenFamily.Ipv6) (Error(AddressInUse 7us)) "not twice either"

                        let peer4 = v6 "10.0.0.2"

                        let handshake (source: IpAddress) (destination: IpAddress) =
                            let syn = tcp6 source destination 40000us 7us TcpFlags.Syn 1000u 0u [] [||]
                            let outbox = HostOutbox()
                            Host.Owned.receive now (ReadOnlySpan syn) host outbox

                            let synAck =
                                match wire host (outbox.ToOutput()) with
                                | [ bytes ] ->
                                    match Packet.decodeAny (ReadOnlySpan bytes) with
                                    | Ok(V4 d) -> d.Transport
                                    | Ok(V6 d) -> d.Transport
                                    | Error e -> failtestf "%A" e
                                | other -> failtestf "one SYN-ACK, not %d packets" other.Length

                            match synAck with
                            | TcpTransport(seg, _, _) ->
                                let ack =
                                    tcp6
                                        source
                                        destination
                                        40000us
                                        7us
                                        TcpFlags.Ack
                                        1001u
                                        (seg.Header.SequenceNumber + 1u)
                                        []
                                        [||]

                                Host.Owned.receive now (ReadOnlySpan ack) host outbox
                            | other -> failtestf "not TCP: %A" other

                        handshake peer4 (v6 "10.0.0.1")
                        handshake peer6 ours6

                        let accepted family =
                            Host.Owned.acceptFamily 7us family host
                            |> ValueOption.map (fun t -> string t.RemoteAddress)

                        Expect.equal (accepted ListenFamily.Ipv6) (ValueSome "fd00::2") "the IPv6 listener's connection"
                        Expect.equal (accepted ListenFamily.Ipv4) (ValueSome "10.0.0.2") "the IPv4 listener's"
                        Expect.equal (accepted ListenFamily.Ipv4) ValueNone "one each"

                        let outbox = HostOutbox()
                        Host.Owned.unlistenFamily now 7us ListenFamily.Ipv6 host outbox
                        Expect.isFalse (host.Listeners6.ContainsKey 7us) "the IPv6 side stopped"
                        Expect.isTrue (host.Listeners.ContainsKey 7us) "the IPv4 side listens on"
                        Expect.equal (listen ListenFamily.Both) (Error(AddressInUse 7us)) "both still clash with IPv4"
                    }

                    test "an unrecognized next header or option is answered with a parameter problem, within a budget" {
                        let packet (source: IpAddress) (next: byte) (payload: byte array) =
                            Ipv6Tests.ipv6Packet source.Ipv6 ours6.Ipv6 next payload

                        let answer (sent: byte array) =
                            let host = dualHost "10.0.0.1" ours6
                            let host, out = receive sent host

                            match wire host out with
                            | [] -> None
                            | [ bytes ] ->
                                let d = decode6 bytes

                                match d.Transport with
                                | Icmpv6Transport icmp ->
                                    Expect.isTrue icmp.ChecksumValid "its checksum"
                                    Expect.equal (string d.Ip.Header.Destination) "fd00::2" "to the sender"
                                    Expect.equal host.Counters.ParameterProblemsSent 1L "counted"

                                    Expect.equal (bytes[48..]) sent[.. min sent.Length 1232 - 1] "quoting the packet"

                                    Some(icmp.Header.Type, icmp.Header.Code, icmp.Header.RestOfHeader)
                                | other -> failtestf "not ICMPv6: %A" other
                            | several -> failtestf "%d packets" several.Length

                        let udp = packet peer6 17uy (Array.zeroCreate 12)

                        Expect.equal
                            (answer udp)
                            (Some(Icmpv6Type.ParameterProblem, 1uy, 6u))
                            "UDP: unrecognized next header, at byte 6"

                        let destinationOptions = Array.zeroCreate 8
                        destinationOptions[0] <- 17uy
                        destinationOptions[2] <- 0xC2uy
                        destinationOptions[3] <- 4uy

                        Expect.equal
                            (answer (packet peer6 60uy destinationOptions))
                            (Some(Icmpv6Type.ParameterProblem, 2uy, 42u))
                            "an option that says to answer, at its type"

                        let behindOptions = Array.zeroCreate 16
                        behindOptions[0] <- 17uy

                        Expect.equal
                            (answer (packet peer6 60uy behindOptions))
                            (Some(Icmpv6Type.ParameterProblem, 1uy, 40u))
                            "UDP after padding options: the options header's next header"

                        Expect.equal (answer (packet peer6 59uy [||])) None "no next header: nothing to say"

                        Expect.equal
                            (answer (packet (v6 "::1") 17uy (Array.zeroCreate 12)))
                            None
                            "no answer to loopback"

                        let mutable host = dualHost "10.0.0.1" ours6
                        let mutable answered = 0

                        for _ in 1 .. 3 * HostOptions.IcmpErrorsPerSecond do
                            let next, out = receive udp host
                            host <- next
                            answered <- answered + (wire host out).Length

                        Expect.equal answered HostOptions.IcmpErrorsPerSecond "at most the budget in a second"
                    }

                    test "a host without an IPv6 address drops IPv6 and refuses IPv6 connects" {
                        let host =
                            Host.create (HostOptions.create (Ipv4Address.Parse "10.0.0.1")) |> listening 7us

                        let syn = tcp6 peer6 ours6 40000us 7us TcpFlags.Syn 1000u 0u [] [||]
                        let host, out = receive syn host
                        Expect.isEmpty out.Transmits "no answer"
                        Expect.equal host.Counters.NotIpv4 1L "counted as another family"

                        match Host.connect now peer6 7us host with
                        | Error(NoAddressFor a) -> Expect.equal a peer6 "names the address"
                        | other -> failtestf "expected NoAddressFor: %A" other
                    }

                    test "packet too big shrinks the segments, never below 1280" {
                        let a = dualHost "10.0.0.1" ours6
                        let b = dualHost "10.0.0.2" peer6 |> listening 7us

                        match Host.connect now peer6 7us a with
                        | Error e -> failtestf "connect: %A" e
                        | Ok(struct (a, tuple, out)) ->
                            let struct (a, _, _) = exchange a b (wire a out) [] 10
                            let before = (Host.tryFind tuple a).Value.MaxSegmentSize

                            match Host.command now tuple (Command.Send 20000) a with
                            | Error e -> failtestf "send: %A" e
                            | Ok(struct (a, out)) ->
                                let first = wire a out |> List.head

                                let tooBig (mtu: uint32) =
                                    Packet.icmpv6ToArray
                                        (v6 "fd00::99")
                                        ours6
                                        64uy
                                        (Icmpv6.packetTooBig mtu)
                                        (ReadOnlySpan(first, 0, min first.Length (Icmpv6.MinimumMtu - 48)))

                                let a, _ = receive (tooBig 1400u) a
                                let after = (Host.tryFind tuple a).Value.MaxSegmentSize
                                Expect.equal after (1400 - 60 - 12) "MTU less IPv6, TCP and timestamp headers"
                                Expect.isLessThan after before "smaller than before"
                                let a, _ = receive (tooBig 600u) a
                                let floor = (Host.tryFind tuple a).Value.MaxSegmentSize
                                Expect.equal floor (1280 - 60 - 12) "never below the IPv6 minimum MTU"
                    }
                ]
        ]
