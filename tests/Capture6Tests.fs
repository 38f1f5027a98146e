/// The golden IPv6 capture: real Linux kernel TCP/IPv6, ICMPv6, fragments and
/// extension headers must parse, verify, write back to the same bytes and reassemble.
module Stack.Tests.Capture6Tests

open System
open System.IO
open Expecto
open Stack.Core.Host
open Stack.Core.Wire

let private path =
    Path.Combine(AppContext.BaseDirectory, "data", "linux-kernel-ipv6.pcap")

let private packets =
    lazy
        (let bytes = File.ReadAllBytes path

         match Pcap.tryRead (ReadOnlySpan bytes) with
         | Ok f ->
             f.Records
             |> Array.map (fun r -> bytes.AsSpan(r.DataOffset, r.CapturedLength).ToArray())
         | Error e -> failwith (ParseError.describe e))

let private decodeAll () =
    packets.Force()
    |> Array.map (fun p ->
        match Packet.decode6 (ReadOnlySpan p) with
        | Ok d -> p, d
        | Error e -> failtest $"unreadable capture packet: {ParseError.describe e}")

let private addressesOf (d: DecodedPacket6) =
    IpAddress.OfIpv6 d.Ip.Header.Source, IpAddress.OfIpv6 d.Ip.Header.Destination

[<Tests>]
let tests =
    testList
        "Linux IPv6 capture"
        [
            test "all 443 records parse with valid checksums" {
                let decoded = decodeAll ()
                Expect.equal decoded.Length 443 "record count"

                for _, d in decoded do
                    match d.Transport with
                    | TcpTransport(_, valid, _) -> Expect.isTrue valid $"TCP checksum of {Pretty.summaryOf6 d}"
                    | Icmpv6Transport m -> Expect.isTrue m.ChecksumValid $"ICMPv6 checksum of {Pretty.summaryOf6 d}"
                    | OtherProtocol 17uy
                    | Fragment -> ()
                    | other -> failtest $"unexpected transport {other} in {Pretty.summaryOf6 d}"
            }

            test "writing a TCP packet's parsed headers back gives the captured bytes" {
                let tcp =
                    decodeAll ()
                    |> Array.choose (fun (p, d) ->
                        match d.Transport with
                        | TcpTransport(seg, _, _) -> Some(p, d, seg)
                        | _ -> None)

                Expect.isGreaterThan tcp.Length 400 "the TCP packets"

                for p, d, seg in tcp do
                    let source, destination = addressesOf d
                    let h = d.Ip.Header
                    Expect.equal h.TrafficClass 0uy "the kernel's traffic class"
                    let payload = ReadOnlySpan(p, d.Ip.Offset + seg.PayloadOffset, seg.PayloadLength)
                    let again = Array.zeroCreate p.Length
                    let header = seg.Header

                    let n =
                        Packet.writeTcpBetween source destination h.HopLimit h.FlowLabel &header payload (Span again)

                    Expect.equal again[.. n - 1] p $"rewrite of {Pretty.summaryOf6 d}"
            }

            test "the handshake, SACK blocks, the reset and the port unreachable are there" {
                let decoded = decodeAll () |> Array.map snd

                let tcp =
                    decoded
                    |> Array.choose (fun d ->
                        match d.Transport with
                        | TcpTransport(seg, _, options) -> Some(seg, options)
                        | _ -> None)

                let syn, synOptions = tcp[0]
                Expect.equal syn.Header.Flags TcpFlags.Syn "the first TCP packet is a SYN"
                Expect.contains synOptions (Mss 1440us) "MSS 1440: 20 bytes under IPv4's"
                Expect.contains synOptions SackPermitted "SACK-permitted"

                Expect.isTrue
                    (tcp
                     |> Array.exists (fun (_, o) ->
                         o
                         |> List.exists (function
                             | Sack _ -> true
                             | _ -> false)))
                    "SACK blocks"

                let rst = tcp |> Array.filter (fun (s, _) -> s.Header.Has TcpFlags.Rst)

                Expect.equal rst.Length 1 "one reset"

                let unreachable =
                    decoded
                    |> Array.choose (fun d ->
                        match d.Transport with
                        | Icmpv6Transport m when m.Header.Type = Icmpv6Type.DestinationUnreachable -> Some m
                        | _ -> None)
                    |> Array.exactlyOne

                let q = unreachable.Original.Value
                Expect.equal unreachable.Header.Code 4uy "port unreachable"
                Expect.equal (q.Protocol, q.DestinationPort) (17uy, ValueSome 9us) "quoting the UDP datagram to port 9"
            }

            test "multicast listener reports behind a hop-by-hop header are read past it" {
                let reports =
                    decodeAll ()
                    |> Array.map snd
                    |> Array.filter (fun d -> d.Ip.Header.NextHeader = 0uy)

                Expect.isNonEmpty reports "hop-by-hop packets"

                for d in reports do
                    Expect.equal d.Ip.Protocol Icmpv6.Protocol "ICMPv6 after the hop-by-hop header"
                    Expect.isGreaterThan d.Ip.Offset Ipv6.HeaderLength "past the extension header"
            }

            test "the kernel's fragments of a 3000-byte echo reassemble, both ways, with valid checksums" {
                let limits = (HostOptions.create (Ipv4Address.Parse "10.0.0.1")).Fragments
                let mutable table = FragmentTable.empty
                let mutable wholes = []

                for p, d in decodeAll () do
                    match d.Ip.Fragment with
                    | ValueSome f ->
                        let source, destination = addressesOf d

                        let key =
                            {
                                Source = source
                                Destination = destination
                                Identification = f.Identification
                                Protocol = 0uy
                            }

                        let data =
                            ReadOnlySpan(p, f.DataStart, Ipv6.HeaderLength + d.Ip.Header.PayloadLength - f.DataStart)

                        let struct (next, outcome) =
                            FragmentTable.add 0L limits key f.Offset f.More (ReadOnlySpan [| f.NextHeader |]) data table

                        table <- next

                        match outcome with
                        | Whole(_, whole) -> wholes <- wholes @ [ source, destination, whole ]
                        | _ -> ()
                    | ValueNone -> ()

                Expect.equal wholes.Length 2 "the request and the reply"

                for source, destination, whole in wholes do
                    Expect.equal whole.Length 3008 "ICMPv6 header and 3000 bytes"

                    match Icmpv6.tryParse source destination (ReadOnlySpan whole) with
                    | Ok m ->
                        Expect.isTrue
                            (m.Header.Type = Icmpv6Type.EchoRequest || m.Header.Type = Icmpv6Type.EchoReply)
                            "an echo"
                    | Error e -> failtest $"reassembled echo unreadable: {ParseError.describe e}"
            }
        ]
