module Stack.Tests.ChecksumTests

open System
open Expecto
open FsCheck.FSharp
open Stack.Core.Wire
open Stack.Tests.Generators

/// The textbook RFC 1071 sum: big-endian words, end-around carry, complement.
let naive (data: byte array) =
    let mutable sum = 0u

    for i in 0..2 .. data.Length - 1 do
        let hi = uint32 data[i] <<< 8
        let lo = if i + 1 < data.Length then uint32 data[i + 1] else 0u
        sum <- sum + hi + lo
        sum <- (sum &&& 0xFFFFu) + (sum >>> 16)

    ~~~(uint16 sum)

let private lengths =
    Gen.frequency
        [
            4, Gen.choose (0, 200)
            2, Gen.choose (200, 3000)
            1, Gen.choose (60000, 70000)
        ]

let private buffers =
    gen {
        let! n = lengths
        let! fill = Gen.elements [ 0; 1; 2 ]
        let! random = bytesOf n n

        return
            match fill with
            | 0 -> Array.create n 0xFFuy
            | _ -> random
    }

[<Tests>]
let tests =
    testList
        "Checksum"
        [
            test "RFC 1071 section 3 example" {
                // The worked example: words 0001 f203 f4f5 f6f7 sum to ddf2 before complement.
                let data = [| 0x00uy; 0x01uy; 0xf2uy; 0x03uy; 0xf4uy; 0xf5uy; 0xf6uy; 0xf7uy |]
                Expect.equal (Checksum.sum (ReadOnlySpan data)) 0xddf2u "sum"
                Expect.equal (Checksum.compute (ReadOnlySpan data)) 0x220dus "checksum"
            }

            test "odd length pads the last byte as the high half of a word" {
                Expect.equal (Checksum.compute (ReadOnlySpan [| 0x12uy |])) (~~~0x1200us) "one byte"
                Expect.equal (Checksum.compute (ReadOnlySpan [| 1uy; 2uy; 3uy |])) (~~~0x0402us) "three bytes"
            }

            propN 300 "matches the textbook sum for every length, vector paths included" buffers (fun data ->
                Checksum.compute (ReadOnlySpan data) = naive data)

            propN
                300
                "copyAndSum copies the bytes and gives the sum of them, vector paths included"
                buffers
                (fun data ->
                    let destination = Array.create (data.Length + 7) 0xEEuy
                    let s = Checksum.copyAndSum (ReadOnlySpan data) (Span destination)

                    s = Checksum.sum (ReadOnlySpan data)
                    && destination[.. data.Length - 1] = data
                    && destination[data.Length ..] |> Array.forall ((=) 0xEEuy))

            test "copyAndSum of more than its lanes hold before they are widened (1.2 MB of 0xFF)" {
                let data = Array.create 1_200_001 0xFFuy
                let destination = Array.zeroCreate<byte> data.Length
                let s = Checksum.copyAndSum (ReadOnlySpan data) (Span destination)
                Expect.equal (Checksum.finish s) (naive data) "the textbook sum"
                Expect.isTrue (destination = data) "the same bytes"
            }

            // The public functions use the best kernel for this CPU; these check every
            // kernel the CPU runs, so a machine with AVX-512 still tests the portable
            // loop.
            yield!
                [ Checksum.Kernel.Madd512; Checksum.Kernel.Portable ]
                |> List.filter Checksum.Kernel.isSupported
                |> List.collect (fun kernel ->
                    [
                        propN 200 $"the {kernel} kernel matches the textbook sum, copying or not" buffers (fun data ->
                            let destination = Array.zeroCreate<byte> data.Length
                            let copied = Checksum.copyAndSumWith kernel (ReadOnlySpan data) (Span destination)

                            Checksum.finish (Checksum.sumWith kernel (ReadOnlySpan data)) = naive data
                            && copied = Checksum.sumWith kernel (ReadOnlySpan data)
                            && destination = data)

                        test $"the {kernel} kernel past its lane flushes (1.2 MB of 0xFF, then of zeros)" {
                            // Each lane's extremes: all ones is the largest word, and flipped
                            // it is the largest signed one; zero flipped is the smallest.
                            for fill in [ Array.create 1_200_000 0xFFuy; Array.zeroCreate 1_200_000 ] do
                                Expect.equal
                                    (Checksum.finish (Checksum.sumWith kernel (ReadOnlySpan fill)))
                                    (naive fill)
                                    "the textbook sum"
                        }
                    ])

            prop
                "partial sums of an even split add up"
                (Gen.zip (bytesOf 0 400) (Gen.choose (0, 200)))
                (fun (data, cut) ->
                    let cut = min (cut * 2) (data.Length &&& ~~~1)
                    let whole = Checksum.sum (ReadOnlySpan data)

                    let parts =
                        Checksum.add
                            (Checksum.sum (ReadOnlySpan(data, 0, cut)))
                            (Checksum.sum (ReadOnlySpan(data, cut, data.Length - cut)))

                    Checksum.finish whole = Checksum.finish parts)

            prop "data with its checksum appended is valid" (bytesOf 0 300) (fun data ->
                let data =
                    if data.Length % 2 = 1 then
                        Array.append data [| 0uy |]
                    else
                        data

                let c = Checksum.compute (ReadOnlySpan data)
                let withSum = Array.append data [| byte (c >>> 8); byte c |]
                Checksum.isValid (ReadOnlySpan withSum))

            prop
                "RFC 1624 incremental update equals a full recomputation"
                (Gen.zip3 (bytesOf 2 200) (Gen.choose (0, 1000)) (Gen.choose (0, 65535)))
                (fun (data, at, word) ->
                    let data =
                        if data.Length % 2 = 1 then
                            Array.append data [| 0uy |]
                        else
                            data

                    let at = (at % (data.Length / 2)) * 2
                    let before = Checksum.compute (ReadOnlySpan data)
                    let oldWord = (uint16 data[at] <<< 8) ||| uint16 data[at + 1]
                    let changed = Array.copy data
                    changed[at] <- byte (word >>> 8)
                    changed[at + 1] <- byte word
                    let updated = Checksum.update before oldWord (uint16 word)
                    let recomputed = Checksum.compute (ReadOnlySpan changed)
                    // 0x0000 and 0xFFFF are the two zeros of one's complement: both verify.
                    updated = recomputed
                    || (updated ^^^ recomputed = 0xFFFFus && (updated = 0us || recomputed = 0us)))

            prop
                "update32 of an address equals recomputing the IPv4 header"
                (Gen.zip (ipv4Header 100) address)
                (fun (h, newSrc) ->
                    let buf = Array.zeroCreate h.HeaderLength
                    Ipv4.write h (Span buf) |> ignore
                    let stored = (uint16 buf[10] <<< 8) ||| uint16 buf[11]
                    let updated = Checksum.update32 stored h.Source.Value newSrc.Value
                    let again = Array.zeroCreate h.HeaderLength
                    Ipv4.write { h with Source = newSrc } (Span again) |> ignore
                    let expected = (uint16 again[10] <<< 8) ||| uint16 again[11]
                    updated = expected || (updated ^^^ expected = 0xFFFFus))

            prop
                "pseudo-header sum equals summing its 12 bytes"
                (Gen.zip3 address address (Gen.choose (0, 65535)))
                (fun (s, d, len) ->
                    let bytes = Array.zeroCreate 12
                    Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(Span(bytes, 0, 4), s.Value)
                    Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(Span(bytes, 4, 4), d.Value)
                    bytes[9] <- 6uy
                    Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(Span(bytes, 10, 2), uint16 len)

                    Checksum.pseudoHeader (IpAddress.OfIpv4 s) (IpAddress.OfIpv4 d) 6uy len =
                        Checksum.sum (ReadOnlySpan bytes))
        ]
