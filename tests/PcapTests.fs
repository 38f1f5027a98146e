module Stack.Tests.PcapTests

open System
open Expecto
open FsCheck.FSharp
open Stack.Core.Wire
open Stack.Tests.Generators

let private packets =
    Gen.listOf (Gen.zip (Gen.choose64 (0L, 4_000_000_000_000_000L)) (bytesOf 0 300))

[<Tests>]
let tests =
    testList
        "pcap"
        [
            prop "reading a written file gives back every packet and timestamp" packets (fun ps ->
                let file = Pcap.ofPackets ps

                match Pcap.tryRead (ReadOnlySpan file) with
                | Ok f ->
                    f.LinkType = Pcap.LinkType.Raw
                    && f.TruncatedAtEnd.IsNone
                    && f.Records.Length = ps.Length
                    && Seq.forall2
                        (fun (r: Pcap.Record) (t, p: byte array) ->
                            int64 r.Seconds * 1_000_000L + int64 r.Fraction = t
                            && file.AsSpan(r.DataOffset, r.CapturedLength).SequenceEqual(ReadOnlySpan p))
                        f.Records
                        ps
                | Error _ -> false)

            prop
                "a file cut short keeps the records before the cut"
                (Gen.zip packets (Gen.choose (1, 400)))
                (fun (ps, cut) ->
                    let file = Pcap.ofPackets ps
                    let cut = min cut (file.Length - Pcap.FileHeaderLength)
                    let kept = file.Length - cut
                    // Record boundaries: a cut there loses whole records and leaves nothing partial.
                    let boundaries =
                        ps
                        |> List.scan
                            (fun at (_, p: byte array) -> at + Pcap.RecordHeaderLength + p.Length)
                            Pcap.FileHeaderLength

                    match Pcap.tryRead (ReadOnlySpan(file, 0, kept)) with
                    | Ok f ->
                        let whole = boundaries |> List.filter (fun b -> b <= kept) |> List.length

                        f.Records.Length = whole - 1
                        && f.TruncatedAtEnd.IsSome = not (List.contains kept boundaries)
                    | Error _ -> false)

            propN 2000 "arbitrary bytes never throw" anyBytes (fun bytes ->
                Pcap.tryRead (ReadOnlySpan bytes) |> ignore
                let withMagic = Array.append [| 0xD4uy; 0xC3uy; 0xB2uy; 0xA1uy |] bytes
                Pcap.tryRead (ReadOnlySpan withMagic) |> ignore
                true)

            test "big-endian nanosecond files are read too" {
                let le = Pcap.ofPackets [ 1_500_000L, [| 0x45uy; 0uy |] ]
                let be = Array.copy le
                // Swap every 32-bit field of the headers and write the nanosecond magic.
                let swap32 (a: byte array) at = Array.Reverse(a, at, 4)
                Array.blit [| 0xA1uy; 0xB2uy; 0x3Cuy; 0x4Duy |] 0 be 0 4
                Array.Reverse(be, 4, 2)
                Array.Reverse(be, 6, 2)

                for at in [ 8; 12; 16; 20; 24; 28; 32; 36 ] do
                    swap32 be at

                match Pcap.tryRead (ReadOnlySpan be) with
                | Ok f ->
                    Expect.isTrue f.Nanoseconds "nanoseconds"
                    Expect.equal f.Records.Length 1 "one record"
                    Expect.equal f.Records[0].Seconds 1u "seconds"
                    Expect.equal f.Records[0].CapturedLength 2 "length"
                | Error e -> failtest (ParseError.describe e)
            }

            test "a file that is not pcap is an error that says so" {
                match Pcap.tryRead (ReadOnlySpan(Array.create 40 7uy)) with
                | Error e -> Expect.stringContains (ParseError.describe e) "not classic pcap" "message"
                | Ok _ -> failtest "accepted garbage"
            }
        ]
