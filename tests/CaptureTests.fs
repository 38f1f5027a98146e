/// The golden capture: real Linux kernel packets must parse, verify and write back to the
/// same bytes.
module Stack.Tests.CaptureTests

open System
open System.IO
open Expecto
open Stack.Core.Wire
open Stack.Tests.Generators

let captureBytes = lazy (File.ReadAllBytes capturePath)

let capturePackets =
    lazy
        (let bytes = captureBytes.Force()

         match Pcap.tryRead (ReadOnlySpan bytes) with
         | Ok f ->
             f.Records
             |> Array.map (fun r -> bytes.AsSpan(r.DataOffset, r.CapturedLength).ToArray())
         | Error e -> failwith (ParseError.describe e))

let decodeAll () =
    capturePackets.Force()
    |> Array.map (fun p ->
        match Packet.decode (ReadOnlySpan p) with
        | Ok d -> p, d
        | Error e -> failtest $"unreadable capture packet: {ParseError.describe e}")

/// Writes the parsed layers back: the bytes must be the captured ones.
let rewrite (p: byte array) (d: DecodedPacket) =
    let ip = d.Ip.Header
    let body = ReadOnlySpan(p, d.Ip.PayloadOffset, d.Ip.PayloadLength)

    match d.Transport with
    | TcpTransport(seg, _, _) -> Packet.tcpToArray ip seg.Header (body.Slice(seg.PayloadOffset))
    | IcmpTransport m -> Packet.icmpToArray ip m.Header (body.Slice(m.PayloadOffset))
    | _ ->
        let buf = Array.zeroCreate ip.TotalLength
        Ipv4.write ip (Span buf) |> ignore
        body.CopyTo(Span(buf, ip.HeaderLength, body.Length))
        buf

[<Tests>]
let tests =
    testList
        "Linux capture"
        [
            test "all 434 records parse with valid checksums" {
                let decoded = decodeAll ()
                Expect.equal decoded.Length 434 "record count"

                for p, d in decoded do
                    Expect.isTrue d.Ip.ChecksumValid $"IP checksum of {Pretty.summaryOf d}"

                    match d.Transport with
                    | TcpTransport(_, valid, _) -> Expect.isTrue valid $"TCP checksum of {Pretty.summaryOf d}"
                    | IcmpTransport m -> Expect.isTrue m.ChecksumValid $"ICMP checksum of {Pretty.summaryOf d}"
                    | OtherProtocol 17uy -> ()
                    | other -> failtest $"unexpected transport {other} in {Convert.ToHexString p}"
            }

            test "writing the parsed headers back gives the captured bytes" {
                for p, d in decodeAll () do
                    Expect.equal (rewrite p d) p $"rewrite of {Pretty.summaryOf d}"
            }

            test "the handshake carries MSS 1460, SACK-permitted, timestamps and window scale 10" {
                let _, syn = decodeAll () |> Array.head

                match syn.Transport with
                | TcpTransport(seg, _, options) ->
                    Expect.equal seg.Header.Flags TcpFlags.Syn "SYN"
                    Expect.contains options (Mss 1460us) "MSS"
                    Expect.contains options SackPermitted "SACK-permitted"
                    Expect.contains options (WindowScale 10uy) "window scale"

                    Expect.isTrue
                        (options
                         |> List.exists (function
                             | Timestamps _ -> true
                             | _ -> false))
                        "timestamps"
                | other -> failtest $"%A{other}"
            }

            test "the capture holds SACK blocks, RSTs, echoes and a port unreachable" {
                let decoded = decodeAll () |> Array.map snd

                let tcp =
                    decoded
                    |> Array.choose (fun d ->
                        match d.Transport with
                        | TcpTransport(seg, _, options) -> Some(seg, options)
                        | _ -> None)

                let icmp =
                    decoded
                    |> Array.choose (fun d ->
                        match d.Transport with
                        | IcmpTransport m -> Some m
                        | _ -> None)

                let sacks =
                    tcp
                    |> Array.filter (fun (_, o) ->
                        o
                        |> List.exists (function
                            | Sack _ -> true
                            | _ -> false))

                Expect.isGreaterThan sacks.Length 0 "SACK blocks"
                let rsts = tcp |> Array.filter (fun (s, _) -> s.Header.Has TcpFlags.Rst)
                Expect.equal rsts.Length 1 "one RST"
                let rst, _ = rsts[0]
                Expect.equal rst.Header.Flags (TcpFlags.Rst ||| TcpFlags.Ack) "a closed port answers RST,ACK"
                Expect.equal (rst.Header.SequenceNumber, rst.Header.Window) (0u, 0us) "with seq 0 and no window"
                let requests = icmp |> Array.filter (fun m -> m.Header.Type = IcmpType.EchoRequest)
                let replies = icmp |> Array.filter (fun m -> m.Header.Type = IcmpType.EchoReply)
                Expect.equal (requests.Length, replies.Length) (2, 2) "echo requests and replies"

                let unreachable =
                    icmp |> Array.find (fun m -> m.Header.Type = IcmpType.DestinationUnreachable)

                Expect.equal unreachable.Header.Code 3uy "port unreachable"

                match unreachable.Original with
                | ValueSome q -> Expect.equal q.Header.Protocol IpProtocol.Udp "quotes the UDP datagram"
                | ValueNone -> failtest "no quoted original"
            }

            test "the pretty printer shows what tshark shows of the SYN" {
                let p, _ = decodeAll () |> Array.head
                let text = Pretty.packet (ReadOnlySpan p)

                for expected in
                    [
                        "Version: IPv4"
                        "IHL: 5 (words)"
                        "Total Length: 60 bytes"
                        "Source: 10.203.0.1"
                        "Destination: 10.203.0.2"
                        "Protocol: TCP"
                        "Flags: DF"
                        "Destination Port: 5001"
                        "Flags: [SYN]"
                        "Data Offset: 10 (words)"
                        "MSS 1460"
                        "window scale 10 (x1024)"
                        "(valid)"
                    ] do
                    Expect.stringContains text expected "pretty output"
            }

            test "every single-bit mutation of captured packets is caught or harmless" {
                // The capture as a fuzz corpus: each mutation either fails to parse or fails a
                // checksum - never an exception, never a silently valid packet.
                let rng = Random 1234

                for p in capturePackets.Force() do
                    for _ in 1..20 do
                        let bit = rng.Next(p.Length * 8)
                        let m = flipBit p bit

                        match Packet.decode (ReadOnlySpan m) with
                        | Error _ -> ()
                        | Ok d ->
                            let allValid =
                                d.Ip.ChecksumValid
                                && (match d.Transport with
                                    | TcpTransport(_, v, _) -> v
                                    | IcmpTransport i -> i.ChecksumValid
                                    | _ -> false) // UDP is not verified here: never counts as valid

                            Expect.isFalse allValid $"bit {bit} of {Convert.ToHexString p}"
            }
        ]
