/// The IPv6 header (RFC 8200): roundtrips, the walk over extension headers, and bytes
/// that are not a packet.
module Stack.Tests.Ipv6Tests

open System
open Expecto
open FsCheck.FSharp
open Stack.Core.Wire
open Stack.Tests.Generators

let private ipv6Address =
    gen {
        let! high = Gen.choose64 (Int64.MinValue, Int64.MaxValue)
        let! low = Gen.choose64 (Int64.MinValue, Int64.MaxValue)
        return { High = uint64 high; Low = uint64 low }
    }

/// A fixed header whose next header is an upper layer (TCP, UDP, ICMPv6 or none).
let private ipv6Header (maxPayload: int) =
    gen {
        let! trafficClass = Gen.choose (0, 255)
        let! flowLabel = Gen.choose (0, 0xFFFFF)
        let! payload = Gen.choose (0, maxPayload)
        let! next = Gen.elements [ 6uy; 17uy; 58uy; 59uy ]
        let! hopLimit = Gen.choose (0, 255)
        let! source = ipv6Address
        let! destination = ipv6Address

        return
            {
                TrafficClass = byte trafficClass
                FlowLabel = uint32 flowLabel
                PayloadLength = payload
                NextHeader = next
                HopLimit = byte hopLimit
                Source = source
                Destination = destination
            }
    }

let private packetOf (h: Ipv6Header) =
    let bytes = Array.zeroCreate (Ipv6.HeaderLength + h.PayloadLength)
    Ipv6.write h (Span bytes) |> ignore

    for i in Ipv6.HeaderLength .. bytes.Length - 1 do
        bytes[i] <- byte (i * 7)

    bytes

let private ours = (Ipv6Address.TryParse "fd00::1").Value
let private theirs = (Ipv6Address.TryParse "fd00::2").Value

/// A packet from `source` to `destination` with this next header and payload.
let ipv6Packet (source: Ipv6Address) (destination: Ipv6Address) (next: byte) (payload: byte array) =
    let header =
        {
            TrafficClass = 0uy
            FlowLabel = 0u
            PayloadLength = payload.Length
            NextHeader = next
            HopLimit = 64uy
            Source = source
            Destination = destination
        }

    let bytes = Array.zeroCreate (Ipv6.HeaderLength + payload.Length)
    Ipv6.write header (Span bytes) |> ignore
    payload.CopyTo(bytes, Ipv6.HeaderLength)
    bytes

/// A packet from `ours` to `theirs` with this next header and payload.
let private packetWith (next: byte) (payload: byte array) = ipv6Packet ours theirs next payload

/// A packet whose payload is these extension headers (each: next header, its bytes),
/// then `upper` bytes of an upper layer.
let private withExtensions (first: byte) (headers: (byte * byte array) list) (upper: int) =
    let body =
        [|
            for (_, bytes) in headers do
                yield! bytes
        |]

    let bytes = packetWith first (Array.append body (Array.zeroCreate upper))
    // Each extension header's first byte names the one after it.
    let mutable at = Ipv6.HeaderLength

    for (next, ext) in headers do
        bytes[at] <- next
        at <- at + ext.Length

    bytes

/// An options header (hop-by-hop or destination) of `units` 8-byte units.
let private options (units: int) =
    let bytes = Array.zeroCreate (units * 8)
    bytes[1] <- byte (units - 1)
    bytes

/// A fragment header at `offset` bytes, more fragments or not, with this identification.
let private fragment (offset: int) (more: bool) (id: uint32) =
    let bytes = Array.zeroCreate 8

    Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(
        Span(bytes, 2, 2),
        uint16 offset ||| (if more then 1us else 0us)
    )

    Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(Span(bytes, 4, 4), id)
    bytes

[<Tests>]
let tests =
    testList
        "IPv6"
        [
            prop "parse (write h) = h, the upper layer right after the fixed header" (ipv6Header 200) (fun h ->
                match Ipv6.tryParse (ReadOnlySpan(packetOf h)) with
                | Ok p ->
                    p.Header = h
                    && p.Protocol = h.NextHeader
                    && p.Offset = Ipv6.HeaderLength
                    && p.Length = h.PayloadLength
                    && p.Fragment.IsNone
                | Error _ -> false)

            prop
                "bytes beyond the payload length are ignored"
                (Gen.zip (ipv6Header 50) (bytesOf 1 30))
                (fun (h, extra) ->
                    match Ipv6.tryParseHeader (ReadOnlySpan(Array.append (packetOf h) extra)) with
                    | Ok parsed -> parsed = h
                    | Error _ -> false)

            propN 2000 "arbitrary bytes never throw" anyBytes (fun bytes ->
                Ipv6.tryParse (ReadOnlySpan bytes) |> ignore
                Ipv6.tryParseHeader (ReadOnlySpan bytes) |> ignore
                true)

            propN
                2000
                "arbitrary bytes after a valid fixed header never throw, whatever the chain says"
                (Gen.zip (Gen.elements [ 0uy; 43uy; 44uy; 51uy; 60uy ]) (bytesOf 0 200))
                (fun (first, payload) ->
                    let bytes = packetWith first payload

                    match Ipv6.tryParse (ReadOnlySpan bytes) with
                    | Ok p -> p.Offset + p.Length = bytes.Length && p.Offset >= Ipv6.HeaderLength
                    | Error _ -> true)

            prop "every truncation of a packet is an error, not an exception" (ipv6Header 40) (fun h ->
                let bytes = packetOf h

                [ 0 .. bytes.Length - 1 ]
                |> List.forall (fun n -> isError (Ipv6.tryParse (ReadOnlySpan(bytes, 0, n)))))

            test "a version other than 6 is named" {
                let bytes =
                    packetOf
                        { (Gen.sample 1 (ipv6Header 0) |> Seq.head) with
                            PayloadLength = 0
                        }

                bytes[0] <- 0x45uy
                Expect.equal (Ipv6.tryParse (ReadOnlySpan bytes)) (Error(BadVersion 4)) "version 4"
            }

            test "hop-by-hop, destination options and a fragment header lead to TCP, with the fragment's fields" {
                let bytes =
                    withExtensions 0uy [ 60uy, options 1; 44uy, options 2; 6uy, fragment 1448 true 0xCAFEu ] 20

                match Ipv6.tryParse (ReadOnlySpan bytes) with
                | Ok p ->
                    Expect.equal p.Protocol 6uy "TCP"
                    Expect.equal p.Offset (40 + 8 + 16 + 8) "past the three headers"
                    Expect.equal p.Length 20 "the TCP bytes"

                    let f = p.Fragment.Value

                    Expect.equal
                        (f.Offset, f.More, f.Identification, f.NextHeader, f.DataStart)
                        (1448, true, 0xCAFEu, 6uy, 72)
                        "the fragment's offset, flag, id, next header and data"
                | Error e -> failtest $"{ParseError.describe e}"
            }

            test "hop-by-hop options anywhere but first are a parameter problem at the next header that named them" {
                let bytes = withExtensions 60uy [ 0uy, options 1; 6uy, options 1 ] 20

                match Ipv6.tryParse (ReadOnlySpan bytes) with
                | Error(Ipv6ParameterProblem(1uy, 40, what)) -> Expect.stringContains what "hop-by-hop" "says which"
                | other -> failtest $"{other}"
            }

            test "unrecognized options act on their type's high bits: skip, discard, or discard and answer" {
                let withOption (kind: byte) =
                    let ext = options 1
                    // One option of 4 data bytes after the header's two bytes, then a Pad1.
                    ext[2] <- kind
                    ext[3] <- 4uy
                    withExtensions 60uy [ 6uy, ext ] 20

                Expect.isOk (Ipv6.tryParse (ReadOnlySpan(withOption 0x1Euy))) "00: skipped"

                match Ipv6.tryParse (ReadOnlySpan(withOption 0x5Euy)) with
                | Error(Unsupported(Layer.Ipv6, what)) -> Expect.stringContains what "discard" "01: discarded"
                | other -> failtest $"01: {other}"

                for kind in [ 0x9Euy; 0xC2uy ] do
                    Expect.equal
                        (Ipv6.tryParse (ReadOnlySpan(withOption kind)))
                        (Error(Ipv6ParameterProblem(2uy, 42, $"unrecognized option type {kind}")))
                        $"{kind:X2}: answered, pointing at the option"

                let overrun = withOption 0x1Euy
                overrun[43] <- 9uy

                match Ipv6.tryParse (ReadOnlySpan overrun) with
                | Error(BadOptionLength(Layer.Ipv6, 0x1Euy, _, 42)) -> ()
                | other -> failtest $"an option past its header: {other}"
            }

            test "a routing header with segments left is a parameter problem; with none it is passed over" {
                let routing (left: byte) =
                    let ext = options 1
                    ext[2] <- 4uy
                    ext[3] <- left
                    withExtensions 43uy [ 6uy, ext ] 20

                match Ipv6.tryParse (ReadOnlySpan(routing 0uy)) with
                | Ok p -> Expect.equal (p.Protocol, p.ProtocolAt) (6uy, 40) "TCP, named at the routing header"
                | Error e -> failtest $"{e}"

                match Ipv6.tryParse (ReadOnlySpan(routing 2uy)) with
                | Error(Ipv6ParameterProblem(0uy, 42, _)) -> ()
                | other -> failtest $"segments left: {other}"
            }

            test "a chain longer than the limit is refused, one at the limit is read" {
                let chain n =
                    [ for i in 1..n -> (if i = n then 6uy else 60uy), options 1 ]

                let atLimit = withExtensions 60uy (chain Ipv6.MaxExtensionHeaders) 20
                let beyond = withExtensions 60uy (chain (Ipv6.MaxExtensionHeaders + 1)) 20
                Expect.isOk (Ipv6.tryParse (ReadOnlySpan atLimit)) "at the limit"

                match Ipv6.tryParse (ReadOnlySpan beyond) with
                | Error(Unsupported(Layer.Ipv6, what)) -> Expect.stringContains what "extension headers" "says why"
                | other -> failtest $"{other}"
            }

            test "an extension header longer than the payload is truncated, not read past" {
                let ext = options 1
                ext[1] <- 200uy // claims 1,608 bytes
                let bytes = withExtensions 60uy [ 6uy, ext ] 20

                match Ipv6.tryParse (ReadOnlySpan bytes) with
                | Error(Truncated(Layer.Ipv6, "extension header", _, available)) ->
                    Expect.equal available bytes.Length "the payload's end"
                | other -> failtest $"{other}"
            }

            test "addresses print in RFC 5952 form and parse back; IPv4 text is not IPv6" {
                Expect.equal (string theirs) "fd00::2" "compressed"
                Expect.equal (Ipv6Address.TryParse(string theirs)) (Some theirs) "back"
                Expect.equal (Ipv6Address.TryParse "10.0.0.1") None "IPv4"
                Expect.equal (Ipv6Address.TryParse "not an address") None "junk"
                Expect.equal (Ipv6Address.Read(ReadOnlySpan theirs.Bytes)) theirs "its 16 bytes"
            }
        ]
