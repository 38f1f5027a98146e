module Stack.Tests.Ipv4Tests

open System
open Expecto
open FsCheck.FSharp
open Stack.Core.Wire
open Stack.Tests.Generators

let private packetOf (h: Ipv4Header) =
    let buf = Array.zeroCreate h.TotalLength
    Ipv4.write h (Span buf) |> ignore

    for i in h.HeaderLength .. buf.Length - 1 do
        buf[i] <- byte (i * 7)

    buf

[<Tests>]
let tests =
    testList
        "IPv4"
        [
            prop "parse (write r) = r" (ipv4Header 200) (fun h ->
                match Ipv4.tryParse (ReadOnlySpan(packetOf h)) with
                | Ok p -> p.Header = h && p.ChecksumValid && p.PayloadOffset = h.HeaderLength
                | Error _ -> false)

            prop "write (parse b) = b" (ipv4Header 200) (fun h ->
                let bytes = packetOf h

                match Ipv4.tryParse (ReadOnlySpan bytes) with
                | Ok p ->
                    let again = Array.copy bytes
                    Array.fill again 0 p.HeaderLength 0uy
                    Ipv4.write p.Header (Span again) |> ignore
                    again = bytes
                | Error _ -> false)

            prop "bytes beyond the total length are ignored" (Gen.zip (ipv4Header 50) (bytesOf 1 30)) (fun (h, extra) ->
                let bytes = Array.append (packetOf h) extra

                match Ipv4.tryParse (ReadOnlySpan bytes) with
                | Ok p -> p.Header = h && p.TotalLength = bytes.Length - extra.Length
                | Error _ -> false)

            propN 2000 "arbitrary bytes never throw" anyBytes (fun bytes ->
                Ipv4.tryParse (ReadOnlySpan bytes) |> ignore
                Ipv4.tryParseWith Ignore (ReadOnlySpan bytes) |> ignore
                Ipv4.tryParseQuoted (ReadOnlySpan bytes) |> ignore
                Packet.decode (ReadOnlySpan bytes) |> ignore
                Pretty.packet (ReadOnlySpan bytes) |> ignore
                true)

            prop "every truncation of a packet is an error, not an exception" (ipv4Header 40) (fun h ->
                let bytes = packetOf h

                [ 0 .. bytes.Length - 1 ]
                |> List.forall (fun n -> isError (Ipv4.tryParse (ReadOnlySpan(bytes, 0, n)))))

            prop
                "any single flipped header bit is caught"
                (Gen.zip (ipv4Header 20) (Gen.choose (0, 100000)))
                (fun (h, bit) ->
                    let bytes = packetOf h
                    let header = Array.sub bytes 0 h.HeaderLength

                    let flipped =
                        Array.append (flipBit header bit) (Array.sub bytes h.HeaderLength h.PayloadLength)

                    isError (Ipv4.tryParse (ReadOnlySpan flipped)))

            test "errors name the problem" {
                let good =
                    packetOf (
                        Ipv4.header IpProtocol.Tcp (Ipv4Address.Parse "10.0.0.1") (Ipv4Address.Parse "10.0.0.2") 4
                    )

                let parse (b: byte array) =
                    match Ipv4.tryParse (ReadOnlySpan b) with
                    | Ok _ -> "ok"
                    | Error e -> ParseError.describe e

                Expect.stringContains (parse (Array.sub good 0 10)) "truncated at fixed header" "short"
                let v6 = Array.copy good
                v6[0] <- 0x65uy
                Expect.stringContains (parse v6) "bad version 6" "version"
                let ihl = Array.copy good
                ihl[0] <- 0x44uy
                Expect.stringContains (parse ihl) "bad header length 16" "ihl"
                let total = Array.copy good
                total[3] <- 200uy
                Expect.stringContains (parse total) "bad total length 200" "total"
                let sum = Array.copy good
                sum[10] <- sum[10] ^^^ 0xFFuy
                Expect.stringContains (parse sum) "bad checksum" "checksum"
                Expect.equal (parse good) "ok" "good packet"
            }

            test "addresses print and parse as dotted quads" {
                Expect.equal (string (Ipv4Address.Parse "10.0.1.7")) "10.0.1.7" "roundtrip"
                Expect.equal (Ipv4Address.Parse "1.2.3.4").Value 0x01020304u "value"
                Expect.isNone (Ipv4Address.TryParse "1.2.3") "three parts"
                Expect.isNone (Ipv4Address.TryParse "1.2.3.256") "octet too big"
                Expect.isNone (Ipv4Address.TryParse "1.2.3.-4") "negative"
            }
        ]
