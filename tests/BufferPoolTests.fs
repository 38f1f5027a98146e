/// The shell's pool of ring memory: block sizes, reuse, and pages given back when idle.
module Stack.Tests.BufferPoolTests

open System
open Expecto
open Stack.Shell

[<Tests>]
let tests =
    testSequenced
    <| testList
        "buffer pool"
        [
            testCase "a block is the smallest power of two from 4 KiB that holds the size"
            <| fun () ->
                for size, expected in [ 1, 4096; 4096, 4096; 4097, 8192; 65536, 65536; 300_000, 524288 ] do
                    Expect.equal (BufferPool.BlockSize size) expected $"size {size}"
                    let block = BufferPool.Shared.Rent size
                    Expect.equal block.Memory.Length expected $"rented for {size}"
                    BufferPool.Shared.Return block

            testCase "blocks rented together do not overlap; a returned block is rented again"
            <| fun () ->
                let pool = BufferPool.Shared
                let blocks = Array.init 300 (fun _ -> pool.Rent 4096)

                blocks |> Array.iteri (fun i b -> b.Memory.Span.Fill(byte i))

                blocks
                |> Array.iteri (fun i b ->
                    Expect.isTrue (b.Memory.Span.IndexOfAnyExcept(byte i) < 0) $"block {i} kept its bytes")

                let last = blocks[299]
                Array.iter pool.Return blocks
                let again = pool.Rent 4096
                Expect.isTrue (obj.ReferenceEquals(again, last)) "the block returned last comes back first"
                pool.Return again

            testCase "pages of blocks idle for a second go back to the system; counts follow"
            <| fun () ->
                let pool = BufferPool.Shared
                let rentedBefore = pool.BytesRented
                let blocks = Array.init 64 (fun _ -> pool.Rent 65536)

                for b in blocks do
                    b.Memory.Span.Fill 0xA5uy

                Expect.equal (pool.BytesRented - rentedBefore) (64L * 65536L) "rented bytes counted"
                let heldWhileRented = pool.BytesHeld
                Array.iter pool.Return blocks
                Expect.equal pool.BytesRented rentedBefore "returned bytes uncounted"
                Expect.isFalse (pool.Trim(Environment.TickCount64 + 2000L)) "nothing left waiting"
                Expect.isLessThanOrEqual pool.BytesHeld (heldWhileRented - 64L * 65536L) "trimmed pages no longer held"
                let reused = pool.Rent 65536
                Expect.isTrue (reused.Memory.Span.IndexOfAnyExcept 0uy < 0) "a trimmed block reads as zeros"
                pool.Return reused
        ]
