/// Cross-checks against an independent implementation (PacketDotNet): packets we write
/// read the same there, and packets it builds read the same here.
module Stack.Tests.CrossCheckTests

open System
open System.Net
open Expecto
open FsCheck.FSharp
open Stack.Core.Wire
open Stack.Tests.Generators

type private PdPacket = PacketDotNet.Packet
type private PdIpv4 = PacketDotNet.IPv4Packet
type private PdTcp = PacketDotNet.TcpPacket
type private PdIcmp = PacketDotNet.IcmpV4Packet
type private PdIpv6 = PacketDotNet.IPv6Packet
type private PdIcmp6 = PacketDotNet.IcmpV6Packet

let private ipOf (a: Ipv4Address) = IPAddress(a.Octets)

let private ofIp (a: IPAddress) =
    let b = a.GetAddressBytes()
    Ipv4Address(b[0], b[1], b[2], b[3])

/// Option kinds before the first EOL, without trailing NOPs: EOL and what follows it are
/// padding, which PacketDotNet lists inconsistently (one EOL per byte, or none), and it
/// never reads a one-byte option in the last byte of the option area.
let private beforeEol (kinds: int list) =
    kinds
    |> List.takeWhile ((<>) 0)
    |> List.rev
    |> List.skipWhile ((=) 1)
    |> List.rev

/// Our option kinds in the form PacketDotNet lists them.
let private kinds (options: TcpOption list) =
    options
    |> List.map (function
        | Eol -> 0
        | Nop -> 1
        | Mss _ -> 2
        | WindowScale _ -> 3
        | SackPermitted -> 4
        | Sack _ -> 5
        | Timestamps _ -> 8
        | Unknown(k, _) -> int k)
    |> beforeEol

let private pdKinds (tcp: PdTcp) =
    match tcp.OptionsCollection with
    | null -> []
    | options -> options |> Seq.map (fun o -> int o.Kind) |> List.ofSeq |> beforeEol

/// The fields where PacketDotNet and we disagree (empty when all agree).
let private ipv4Differences (ours: Ipv4Header) (theirs: PdIpv4) =
    [
        if not (theirs.SourceAddress.Equals(ipOf ours.Source)) then
            "source"
        if not (theirs.DestinationAddress.Equals(ipOf ours.Destination)) then
            "destination"
        if theirs.TimeToLive <> int ours.Ttl then
            "ttl"
        if int theirs.Protocol <> int ours.Protocol then
            "protocol"
        if theirs.Id <> ours.Identification then
            "identification"
        if theirs.TotalLength <> ours.TotalLength then
            "total length"
        if theirs.HeaderLength * 4 <> ours.HeaderLength then
            "header length"
        if theirs.FragmentOffset <> int ours.FragmentOffset then
            "fragment offset"
        if (theirs.FragmentFlags &&& 0x2 <> 0) <> ours.DontFragment then
            "DF"
        if (theirs.FragmentFlags &&& 0x1 <> 0) <> ours.MoreFragments then
            "MF"
        if theirs.TypeOfService <> int ours.Tos then
            "tos"
        if not theirs.ValidIPChecksum then
            "IP checksum"
    ]

let private tcpDifferences (ours: TcpHeader) (payloadLength: int) (theirs: PdTcp) =
    [
        if theirs.SourcePort <> ours.SourcePort then
            "source port"
        if theirs.DestinationPort <> ours.DestinationPort then
            "destination port"
        if theirs.SequenceNumber <> ours.SequenceNumber then
            "seq"
        if theirs.AcknowledgmentNumber <> ours.AcknowledgmentNumber then
            "ack"
        if theirs.WindowSize <> ours.Window then
            "window"
        if uint16 theirs.UrgentPointer <> ours.UrgentPointer then
            "urgent pointer" // it reads a signed 16-bit value
        if theirs.DataOffset <> ours.DataOffset then
            "data offset"
        if byte theirs.Flags <> byte ours.Flags then
            "flags"
        if theirs.Synchronize <> ours.Has TcpFlags.Syn then
            "SYN"
        if theirs.Finished <> ours.Has TcpFlags.Fin then
            "FIN"
        if theirs.Reset <> ours.Has TcpFlags.Rst then
            "RST"
        if theirs.Acknowledgment <> ours.Has TcpFlags.Ack then
            "ACK"
        if theirs.PayloadData.Length <> payloadLength then
            "payload length"
        if not theirs.ValidTcpChecksum then
            "TCP checksum"
    ]

/// RFC 1071's sum, one 16-bit word at a time, of the IPv6 pseudo-header (RFC 8200 8.1)
/// and an ICMPv6 message: all ones when the message's checksum is right.
let private textbookValid6 (source: IpAddress) (destination: IpAddress) (message: byte array) =
    let pseudo = Array.zeroCreate<byte> 40
    source.Ipv6.Bytes.CopyTo(pseudo, 0)
    destination.Ipv6.Bytes.CopyTo(pseudo, 16)
    Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(Span(pseudo, 32, 4), uint32 message.Length)
    pseudo[39] <- 58uy
    let all = Array.append pseudo message
    let mutable sum = 0u

    for i in 0..2 .. all.Length - 1 do
        sum <-
            sum
            + (uint32 all[i] <<< 8)
            + (if i + 1 < all.Length then uint32 all[i + 1] else 0u)

    while sum > 0xFFFFu do
        sum <- (sum &&& 0xFFFFu) + (sum >>> 16)

    sum = 0xFFFFu

/// PacketDotNet's reading of raw IPv4 bytes.
let private pdParse (bytes: byte array) =
    PdPacket.ParsePacket(PacketDotNet.LinkLayers.Raw, bytes).Extract<PdIpv4>()

/// Options PacketDotNet's parser reads as we do: it misreads unknown kinds and some
/// generated SACK options, and refuses options when URG is set; those segments are compared
/// on the fixed fields only (the real SACK options of the Linux capture are compared below).
let private pdReadsOptions (tcp: TcpHeader) (options: TcpOption list) =
    not (tcp.Has TcpFlags.Urg)
    && options
       |> List.forall (function
           | Unknown _
           | Sack _ -> false
           | _ -> true)

[<Tests>]
let tests =
    testList
        "Cross-check with PacketDotNet"
        [
            propN 3000 "TCP/IPv4 packets we write read the same there" tcpPacket (fun p ->
                let ip = pdParse p.Bytes
                let tcp = ip.Extract<PdTcp>()

                let differences =
                    ipv4Differences p.Ip ip
                    @ tcpDifferences p.Tcp p.Payload.Length tcp
                    @ [
                        if pdReadsOptions p.Tcp p.Options && pdKinds tcp <> kinds p.Options then
                            $"options {pdKinds tcp}"
                    ]

                Expect.equal differences [] "fields read differently"
                true)

            propN 1000 "ICMP messages we write read the same there" icmpMessage (fun (h, payload) ->
                let ip =
                    Ipv4.header IpProtocol.Icmp (Ipv4Address.Parse "10.0.0.1") (Ipv4Address.Parse "10.0.0.2") 0

                let icmp =
                    (pdParse (Packet.icmpToArray ip h (ReadOnlySpan payload))).Extract<PdIcmp>()

                let differences =
                    [
                        if not icmp.ValidIcmpChecksum then
                            "checksum"
                        if int icmp.TypeCode >>> 8 <> int h.Type then
                            $"type {int icmp.TypeCode}"
                        if int icmp.TypeCode &&& 0xFF <> int h.Code then
                            $"code {int icmp.TypeCode}"
                        if
                            h.Type = IcmpType.EchoRequest
                            && (icmp.Id <> h.Identifier || icmp.Sequence <> h.SequenceNumber)
                        then
                            "echo id/seq"
                    ]

                Expect.equal differences [] "fields read differently"
                true)

            propN 2000 "packets PacketDotNet builds read the same here" tcpPacket (fun p ->
                let tcp = PdTcp(p.Tcp.SourcePort, p.Tcp.DestinationPort)
                tcp.SequenceNumber <- p.Tcp.SequenceNumber
                tcp.AcknowledgmentNumber <- p.Tcp.AcknowledgmentNumber
                tcp.WindowSize <- p.Tcp.Window
                tcp.Flags <- uint16 p.Tcp.Flags
                tcp.UrgentPointer <- int (int16 p.Tcp.UrgentPointer)
                tcp.PayloadData <- p.Payload
                let ip = PdIpv4(ipOf p.Ip.Source, ipOf p.Ip.Destination)
                ip.TimeToLive <- int p.Ip.Ttl
                ip.Id <- p.Ip.Identification
                ip.PayloadPacket <- tcp
                ip.UpdateCalculatedValues()
                tcp.UpdateTcpChecksum()
                ip.UpdateIPChecksum()
                let bytes = ip.Bytes

                match Ipv4.tryParse (ReadOnlySpan bytes) with
                | Ok parsed ->
                    let h = parsed.Header

                    match
                        Tcp.tryParse
                            (IpAddress.OfIpv4 h.Source)
                            (IpAddress.OfIpv4 h.Destination)
                            (ReadOnlySpan(bytes, parsed.PayloadOffset, parsed.PayloadLength))
                    with
                    | Ok seg ->
                        h.Source = ofIp ip.SourceAddress
                        && h.Ttl = p.Ip.Ttl
                        && h.Identification = p.Ip.Identification
                        && seg.Header.SourcePort = p.Tcp.SourcePort
                        && seg.Header.SequenceNumber = p.Tcp.SequenceNumber
                        && seg.Header.AcknowledgmentNumber = p.Tcp.AcknowledgmentNumber
                        && seg.Header.Window = p.Tcp.Window
                        && seg.Header.Flags = p.Tcp.Flags
                        && seg.PayloadLength = p.Payload.Length
                    | Error e -> failtest (ParseError.describe e)
                | Error e -> failtest (ParseError.describe e))

            propN
                2000
                "TCP/IPv6 packets we write read the same there"
                (Gen.zip3 tcpPacket (Gen.choose64 (1L, Int64.MaxValue)) (Gen.choose (0, 0xFFFFF)))
                (fun (p, low, flow) ->
                    let source = IpAddress(0xFD00_0000_0000_0000UL, uint64 low)
                    let destination = IpAddress(0xFD00_0000_0000_0001UL, uint64 low ^^^ 0x5555UL)
                    let bytes = Array.zeroCreate (60 + p.Tcp.HeaderLength + p.Payload.Length)
                    let header = p.Tcp

                    let n =
                        Packet.writeTcpBetween
                            source
                            destination
                            p.Ip.Ttl
                            (uint32 flow)
                            &header
                            (ReadOnlySpan p.Payload)
                            (Span bytes)

                    let ip =
                        PdPacket.ParsePacket(PacketDotNet.LinkLayers.Raw, bytes[.. n - 1]).Extract<PdIpv6>()

                    let tcp = ip.Extract<PdTcp>()

                    let differences =
                        [
                            if not (ip.SourceAddress.Equals(source.ToIPAddress())) then
                                "source"
                            if not (ip.DestinationAddress.Equals(destination.ToIPAddress())) then
                                "destination"
                            if ip.HopLimit <> int p.Ip.Ttl then
                                "hop limit"
                            if ip.FlowLabel <> flow then
                                "flow label"
                            if ip.PayloadLength <> uint16 (n - 40) then
                                "payload length"
                        ]
                        @ tcpDifferences p.Tcp p.Payload.Length tcp

                    Expect.equal differences [] "fields read differently"
                    true)

            propN
                1000
                "ICMPv6 echoes we write read the same there"
                (Gen.zip3 (Gen.choose (0, 65535)) (Gen.choose (0, 65535)) (bytesOf 0 1200))
                (fun (id, seq, payload) ->
                    let source = IpAddress.Parse "fd00::2"
                    let destination = IpAddress.Parse "fd00::1"
                    let h = Icmpv6.echoRequest (uint16 id) (uint16 seq)
                    let bytes = Packet.icmpv6ToArray source destination 64uy h (ReadOnlySpan payload)
                    let ip = PdPacket.ParsePacket(PacketDotNet.LinkLayers.Raw, bytes).Extract<PdIpv6>()
                    let icmp = ip.Extract<PdIcmp6>()

                    let differences =
                        [
                            if int icmp.Type <> int h.Type then
                                $"type {icmp.Type}"
                            if icmp.Code <> 0uy then
                                $"code {icmp.Code}"
                            if not (textbookValid6 source destination bytes[40..]) then
                                "checksum (summed the textbook way over the pseudo-header)"
                            if icmp.PayloadData.Length + icmp.HeaderData.Length <> 8 + payload.Length then
                                "length"
                        ]

                    Expect.equal differences [] "fields read differently"
                    true)

            test "the Linux IPv6 capture's TCP reads the same in both" {
                let path =
                    IO.Path.Combine(AppContext.BaseDirectory, "data", "linux-kernel-ipv6.pcap")

                let file = IO.File.ReadAllBytes path

                match Pcap.tryRead (ReadOnlySpan file) with
                | Error e -> failtest (ParseError.describe e)
                | Ok f ->
                    for r in f.Records do
                        let bytes = file[r.DataOffset .. r.DataOffset + r.CapturedLength - 1]

                        match Packet.decode6 (ReadOnlySpan bytes) with
                        | Ok({ Transport = TcpTransport(seg, _, _) } as d) ->
                            let tcp =
                                PdPacket
                                    .ParsePacket(PacketDotNet.LinkLayers.Raw, bytes)
                                    .Extract<PdIpv6>()
                                    .Extract<PdTcp>()

                            Expect.equal (tcpDifferences seg.Header seg.PayloadLength tcp) [] (Pretty.summaryOf6 d)
                        | Ok _ -> ()
                        | Error e -> failtest (ParseError.describe e)
            }

            test "the Linux capture reads the same in both" {
                for bytes in CaptureTests.capturePackets.Force() do
                    match Packet.decode (ReadOnlySpan bytes) with
                    | Ok d ->
                        let ip = pdParse bytes
                        Expect.equal (ipv4Differences d.Ip.Header ip) [] (Pretty.summaryOf d)

                        match d.Transport with
                        | TcpTransport(seg, _, options) ->
                            let tcp = ip.Extract<PdTcp>()
                            Expect.equal (tcpDifferences seg.Header seg.PayloadLength tcp) [] (Pretty.summaryOf d)
                            Expect.equal (pdKinds tcp) (kinds options) (Pretty.summaryOf d)
                        | _ -> ()
                    | Error e -> failtest (ParseError.describe e)
            }
        ]
