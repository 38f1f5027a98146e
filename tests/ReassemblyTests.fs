module Stack.Tests.ReassemblyTests

open Expecto
open FsCheck.FSharp
open Stack.Core.Tcp
open Stack.Tests.Generators

/// Segments as (offset from the initial RCV.NXT, length) inside a 4000-byte window.
let private segments =
    Gen.listOf (Gen.zip (Gen.choose (-100, 3900)) (Gen.choose (0, 300)))

let private starts =
    Gen.elements [ 0u; 1000u; 0xFFFFF000u; 0xFFFFFFFFu; 0x7FFFFFFFu ]

/// Feeds the segments to the reassembly and to a plain array of received flags; after each
/// arrival both must agree on RCV.NXT and on the out-of-order ranges.
let private agreesWithModel (initial: uint32) (segs: (int * int) list) =
    let received = Array.zeroCreate<bool> 5000
    let origin = SeqNum initial
    let mutable rcvNxt = 0 // offset of RCV.NXT from the origin
    let ranges = Reassembly.empty ()
    let mutable ok = true

    for offset, length in segs do
        match Reassembly.add (origin + rcvNxt) (origin + offset) length ranges with
        | Reassembly.Advanced n ->
            rcvNxt <- rcvNxt + n

            for i in max 0 offset .. offset + length - 1 do
                received[i] <- true
        | Reassembly.Ignored ->
            // Only allowed when the segment would have made one range too many.
            ok <- ok && ranges.Blocks.Length = Reassembly.MaxBlocks

        // The model: RCV.NXT is the first missing byte; blocks are the runs after it.
        let mutable expected = 0

        while received[expected] do
            expected <- expected + 1

        let runs =
            [
                let mutable i = expected

                while i < received.Length do
                    if received[i] then
                        let s = i

                        while received[i] do
                            i <- i + 1

                        yield (s, i)
                    else
                        i <- i + 1
            ]

        let blocks = ranges.Blocks |> List.map (fun b -> b.Start - origin, b.End - origin)

        ok <- ok && rcvNxt = expected && blocks = runs

    ok

[<Tests>]
let tests =
    testList
        "Reassembly"
        [
            propN 1000 "agrees with a byte-by-byte model, across the wrap" (Gen.zip starts segments) (fun (s, segs) ->
                agreesWithModel s segs)

            test "in-order data advances with no bookkeeping" {
                let ranges = Reassembly.empty ()
                let arrival = Reassembly.add (SeqNum 100u) (SeqNum 100u) 50 ranges
                Expect.equal arrival (Reassembly.Advanced 50) "advanced"
                Expect.isEmpty ranges.Blocks "nothing pending"
            }

            test "SACK blocks report the latest arrival first" {
                let r = Reassembly.empty ()

                for start in [ 100u; 300u; 200u ] do
                    Reassembly.add (SeqNum 0u) (SeqNum start) 10 r |> ignore

                let blocks =
                    Reassembly.sackBlocks 3 r |> List.map (fun b -> b.Start.Value, b.End.Value)

                Expect.equal blocks [ (200u, 210u); (100u, 110u); (300u, 310u) ] "latest first, then in order"
                Expect.equal (Reassembly.sackBlocks 1 r).Length 1 "truncated to the room in the header"
            }

            test "a peer cannot make the ranges grow without bound" {
                let r = Reassembly.empty ()
                let mutable ignored = 0

                for i in 1 .. Reassembly.MaxBlocks + 100 do
                    if Reassembly.add (SeqNum 0u) (SeqNum(uint32 (i * 10))) 1 r = Reassembly.Ignored then
                        ignored <- ignored + 1

                Expect.equal r.Blocks.Length Reassembly.MaxBlocks "capped"
                Expect.equal ignored 100 "the rest ignored"
            }

            test "with the ranges full, the segment at RCV.NXT is still taken (found by the simulator)" {
                let full = Reassembly.empty ()

                for i in 1 .. Reassembly.MaxBlocks do
                    Reassembly.add (SeqNum 0u) (SeqNum(uint32 (i * 10))) 1 full |> ignore

                Expect.equal full.Count Reassembly.MaxBlocks "full"
                let arrival = Reassembly.add (SeqNum 0u) (SeqNum 0u) 5 full
                Expect.equal arrival (Reassembly.Advanced 5) "advances past the new bytes"
                Expect.equal full.Count Reassembly.MaxBlocks "the kept ranges stay"
            }
        ]
