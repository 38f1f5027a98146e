/// The core's ring of stream bytes by position (`SequenceRing`), which the shell's
/// connections and the simulator's applications both keep their bytes in.
module Stack.Tests.SequenceRingTests

open System
open Expecto
open FsCheck.FSharp
open Stack.Core.Tcp
open Stack.Tests.Generators

/// A ring length (a power of two), a position, and bytes no longer than the ring.
let private writes =
    gen {
        let! shift = Gen.choose (4, 12)
        let size = 1 <<< shift
        let! position = Gen.choose (0, Int32.MaxValue) |> Gen.map int64
        let! length = Gen.choose (0, size)
        let! bytes = Gen.arrayOfLength length (Gen.choose (0, 255) |> Gen.map byte)
        return size, position * 3L, bytes
    }

[<Tests>]
let tests =
    testList
        "SequenceRing"
        [
            prop
                "bytes written at a position read back from it, across the ring's end"
                writes
                (fun (size, position, bytes) ->
                    let ring = SequenceRing(Array.zeroCreate size)
                    ring.Write(position, ReadOnlySpan bytes)
                    let back = Array.zeroCreate bytes.Length
                    ring.Read(position, Span back)

                    back = bytes
                    && Array.forall id (Array.init bytes.Length (fun i -> ring[position + int64 i] = bytes[i])))

            prop
                "a slice holds the bytes written, as a view of the ring or put together where it wraps"
                writes
                (fun (size, position, bytes) ->
                    let ring = SequenceRing(Array.zeroCreate size)
                    ring.Write(position, ReadOnlySpan bytes)
                    let scratch = Array.zeroCreate<byte> size
                    let start = int (position % int64 size)
                    let slice = ring.Slice(position, bytes.Length, Span scratch)
                    let wraps = start + bytes.Length > size
                    // Only a wrapping slice may use the scratch space.
                    let scratchUsed = scratch |> Array.exists (fun b -> b <> 0uy)

                    slice.ToArray() = bytes && (wraps || not scratchUsed))

            prop
                "a sequence number's position is its distance from the stream's first, across the 2^32 wrap"
                (Gen.zip (Gen.choose (Int32.MinValue, Int32.MaxValue)) (Gen.choose (0, Int32.MaxValue)))
                (fun (first, distance) ->
                    let first = SeqNum(uint32 first)
                    SequenceRing.Position(first, first + distance) = int64 distance)

            test "a length that is not a power of two is refused" {
                Expect.throwsT<ArgumentException> (fun () -> SequenceRing(Array.zeroCreate 1000) |> ignore) "1000"
                Expect.throwsT<ArgumentException> (fun () -> SequenceRing(Array.zeroCreate 0) |> ignore) "0"
            }
        ]
