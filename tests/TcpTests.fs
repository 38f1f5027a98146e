module Stack.Tests.TcpTests

open System
open Expecto
open FsCheck.FSharp
open Stack.Core.Wire
open Stack.Tests.Generators

let private src = IpAddress.Parse "10.0.0.1"
let private dst = IpAddress.Parse "10.0.0.2"

/// A segment (no IP header) from a header and payload, checksum filled in.
let segmentOf (h: TcpHeader) (payload: byte array) =
    let buf = Array.zeroCreate (h.HeaderLength + payload.Length)
    Tcp.write h (Span buf) |> ignore
    payload.CopyTo(buf, h.HeaderLength)
    Tcp.fillChecksum src dst (Span buf)
    buf

let private withOptionArea (area: byte array) =
    let h =
        { Tcp.header 1us 2us with
            Options = OptionBytes.Create(Array.append area (Array.zeroCreate ((4 - area.Length % 4) % 4)))
        }

    segmentOf h [||]

let private optionError (area: byte array) =
    match Tcp.tryParse src dst (ReadOnlySpan(withOptionArea area)) with
    | Error(BadOptionLength(_, kind, length, _)) -> Some(kind, length)
    | _ -> None

[<Tests>]
let tests =
    testList
        "TCP"
        [
            prop "parse (write r) = r" (Gen.zip tcpHeader (bytesOf 0 100)) (fun (h, payload) ->
                match Tcp.tryParse src dst (ReadOnlySpan(segmentOf h payload)) with
                | Ok seg ->
                    seg.Header = h
                    && seg.PayloadOffset = h.HeaderLength
                    && seg.PayloadLength = payload.Length
                | Error _ -> false)

            prop "write (parse b) = b" tcpPacket (fun p ->
                match Packet.decode (ReadOnlySpan p.Bytes) with
                | Ok {
                         Ip = ip
                         Transport = TcpTransport(seg, true, _)
                     } ->
                    Packet.tcpToArray
                        ip.Header
                        seg.Header
                        (ReadOnlySpan(p.Bytes, ip.PayloadOffset + seg.PayloadOffset, seg.PayloadLength))
                        =
                        p.Bytes
                | _ -> false)

            prop "option lists roundtrip through the header bytes" tcpOptionList (fun options ->
                TcpOptions.toList (TcpOptions.ofList options) = Ok options)

            propN 2000 "arbitrary bytes never throw" anyBytes (fun bytes ->
                Tcp.tryParse src dst (ReadOnlySpan bytes) |> ignore
                Tcp.tryParseUnchecked (ReadOnlySpan bytes) |> ignore
                TcpOptions.tryParse (ReadOnlySpan bytes) |> ignore
                true)

            propN 1000 "arbitrary option areas never throw" (bytesOf 0 40) (fun area ->
                let buf = withOptionArea area
                Tcp.tryParse src dst (ReadOnlySpan buf) |> ignore
                Pretty.packet (ReadOnlySpan buf) |> ignore
                true)

            prop "every truncation of a header is an error, not an exception" tcpHeader (fun h ->
                let bytes = segmentOf h [||]

                [ 0 .. bytes.Length - 1 ]
                |> List.forall (fun n -> isError (Tcp.tryParse src dst (ReadOnlySpan(bytes, 0, n)))))

            prop
                "any single flipped bit in a packet is caught"
                (Gen.zip tcpPacket (Gen.choose (0, Int32.MaxValue)))
                (fun (p, bit) ->
                    let flipped = flipBit p.Bytes bit

                    match Ipv4.tryParse (ReadOnlySpan flipped) with
                    | Error _ -> true
                    | Ok ip ->
                        let body = ReadOnlySpan(flipped, ip.PayloadOffset, ip.PayloadLength)
                        // A flip in an address changes the pseudo-header, so TCP catches it too.
                        isError (
                            Tcp.tryParse
                                (IpAddress.OfIpv4 ip.Header.Source)
                                (IpAddress.OfIpv4 ip.Header.Destination)
                                body
                        ))

            prop "summarize reads what the option list holds (the last of each kind wins)" tcpOptionList (fun options ->
                let k = TcpOptions.summarize (TcpOptions.ofList options)
                let upToEol = options |> List.takeWhile ((<>) Eol)

                let last f =
                    upToEol |> List.choose f |> List.tryLast |> Option.toValueOption

                let sack =
                    last (function
                        | Sack blocks -> Some blocks
                        | _ -> None)

                k.Mss =
                    last (function
                        | Mss v -> Some v
                        | _ -> None)
                && k.WindowScale =
                    last (function
                        | WindowScale v -> Some v
                        | _ -> None)
                && k.SackPermitted = (upToEol |> List.contains SackPermitted)
                && k.Timestamps =
                    last (function
                        | Timestamps(a, b) -> Some(struct (a, b))
                        | _ -> None)
                && (match sack with
                    | ValueNone -> k.SackBlockCount = 0
                    | ValueSome blocks ->
                        k.SackBlockCount = blocks.Length
                        && (blocks
                            |> List.mapi (fun i (l, r) -> k.SackBlock i = struct (l, r))
                            |> List.forall id)))

            prop "OptionBytes reads 32 bits at any offset as the bytes say" (bytesOf 0 40) (fun bytes ->
                let o = OptionBytes.Create bytes

                let at i =
                    if i < bytes.Length then uint32 bytes[i] else 0u

                [ 0..39 ]
                |> List.forall (fun i ->
                    o.ReadUInt32 i = ((at i <<< 24) ||| (at (i + 1) <<< 16) ||| (at (i + 2) <<< 8) ||| at (i + 3))))

            prop
                "validating option lengths agrees with reading the options, on the common layouts and near them"
                (Gen.zip3
                    (Gen.elements
                        [
                            [| 1uy; 1uy; 8uy; 10uy; 0uy; 0uy; 0uy; 1uy; 0uy; 0uy; 0uy; 2uy |]
                            [|
                                2uy
                                4uy
                                5uy
                                180uy
                                4uy
                                2uy
                                8uy
                                10uy
                                0uy
                                0uy
                                0uy
                                1uy
                                0uy
                                0uy
                                0uy
                                0uy
                                1uy
                                3uy
                                3uy
                                7uy
                            |]
                        ])
                    (Gen.choose (0, 19))
                    (Gen.choose (0, 255)))
                (fun (layout, at, value) ->
                    // The layout as Linux sends it, then with one byte changed.
                    let changed = Array.copy layout
                    changed[at % layout.Length] <- byte value

                    [ layout; changed ]
                    |> List.forall (fun area ->
                        (TcpOptions.validate (ReadOnlySpan area)).IsOk =
                            (TcpOptions.tryParse (ReadOnlySpan area)).IsOk))

            test "the data-segment layout (NOP, NOP, timestamps) reads as the general path does" {
                let k = TcpOptions.summarize (TcpOptions.ofList [ Nop; Nop; Timestamps(7u, 9u) ])
                Expect.equal k.Timestamps (ValueSome(struct (7u, 9u))) "timestamps"
                Expect.equal k.Mss ValueNone "nothing else"
            }

            test "bad option lengths are errors that name the option" {
                Expect.equal (optionError [| 2uy; 3uy; 5uy |]) (Some(2uy, 3)) "MSS of length 3"
                Expect.equal (optionError [| 3uy; 2uy |]) (Some(3uy, 2)) "window scale of length 2"

                Expect.equal
                    (optionError [| 8uy; 12uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy |])
                    (Some(8uy, 12))
                    "timestamps of length 12"

                Expect.equal
                    (optionError [| 5uy; 9uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy |])
                    (Some(5uy, 9))
                    "SACK not 2+8n"

                Expect.equal (optionError [| 30uy; 1uy |]) (Some(30uy, 1)) "length below 2"
                Expect.equal (optionError [| 30uy; 40uy |]) (Some(30uy, 40)) "runs past the option area"
                Expect.equal (optionError [| 1uy; 1uy; 1uy; 30uy |]) (Some(30uy, 0)) "no length byte"
                Expect.equal (optionError [| 0uy; 30uy; 40uy; 9uy |]) None "bytes after EOL are padding"
            }

            test "a data offset below 5 or beyond the segment is an error" {
                let bytes = segmentOf (Tcp.header 1us 2us) [||]
                let low = Array.copy bytes
                low[12] <- 0x40uy
                Expect.isTrue (isError (Tcp.tryParseUnchecked (ReadOnlySpan low))) "offset 4"
                let high = Array.copy bytes
                high[12] <- 0xF0uy
                Expect.isTrue (isError (Tcp.tryParseUnchecked (ReadOnlySpan high))) "offset 15 with 20 bytes"
            }

            test "flags and options read as a Linux SYN carries them" {
                let options =
                    [ Mss 1460us; SackPermitted; Timestamps(1u, 0u); Nop; WindowScale 7uy ]

                let h =
                    { Tcp.header 12345us 9999us with
                        SequenceNumber = 1u
                        Flags = TcpFlags.Syn ||| TcpFlags.Ece ||| TcpFlags.Cwr
                        Window = 64240us
                        Options = TcpOptions.ofList options
                    }

                match Tcp.tryParse src dst (ReadOnlySpan(segmentOf h [||])) with
                | Ok seg ->
                    Expect.equal seg.Header.DataOffset 10 "data offset"
                    Expect.equal (Pretty.flagNames seg.Header.Flags) [ "SYN"; "ECE"; "CWR" ] "flags"
                    Expect.equal (TcpOptions.toList seg.Header.Options) (Ok options) "options"
                | Error e -> failtest (ParseError.describe e)
            }

            prop
                "HeaderWriter fills a used slot with the header a record gives"
                (Gen.zip3 tcpHeader tcpHeader (Gen.zip uint32Gen uint32Gen))
                (fun (old, h, (tsval, tsecr)) ->
                    // The slot holds an earlier header: every field must be overwritten.
                    let slot = [| old; old |]
                    let written = &slot[0]

                    HeaderWriter.writeFields
                        &written
                        h.SourcePort
                        h.DestinationPort
                        h.SequenceNumber
                        h.AcknowledgmentNumber
                        h.Flags
                        h.Window

                    let withoutOptions = slot[0]
                    HeaderWriter.writeOptions &written h.Options
                    let withOptions = slot[0]
                    HeaderWriter.writeTimestamps &written tsval tsecr

                    let expected =
                        { h with
                            Reserved = 0uy
                            UrgentPointer = 0us
                        }

                    withoutOptions = { expected with Options = old.Options }
                    && withOptions = expected
                    && slot[0] =
                        { expected with
                            Options = TcpOptions.ofList [ Nop; Nop; Timestamps(tsval, tsecr) ]
                        }
                    && slot[1] = old)
        ]
