namespace Stack.Core.Tcp

open System

/// One direction's bytes of a connection, kept by position in the stream in a ring of
/// memory the caller owns (its length a power of two): byte N of the stream lives at
/// index N mod length. A sequence number less the stream's first one (ISS + 1 or
/// IRS + 1) is such a position, so out-of-order bytes land in place and a segment's
/// payload is read back from where the application wrote it. The shell's connections
/// and the simulator's applications keep their bytes in these.
[<Sealed>]
type SequenceRing(memory: byte array) =
    do
        if memory.Length = 0 || memory.Length &&& (memory.Length - 1) <> 0 then
            invalidArg (nameof memory) $"a ring's length must be a power of two, not {memory.Length}"

    let mask = memory.Length - 1

    /// The position of sequence number `seq` in a stream whose first byte is `first`.
    static member Position(first: SeqNum, seq: SeqNum) = int64 (seq.Value - first.Value)

    /// The ring's length in bytes.
    member _.Size = memory.Length

    /// Copies `source` into the ring from stream position `position`.
    member _.Write(position: int64, source: ReadOnlySpan<byte>) =
        let start = int (position &&& int64 mask)
        let head = min source.Length (memory.Length - start)
        source.Slice(0, head).CopyTo(Span(memory, start, head))
        source.Slice(head).CopyTo(Span memory)

    /// Copies bytes from stream position `position` into `destination`.
    member _.Read(position: int64, destination: Span<byte>) =
        let start = int (position &&& int64 mask)
        let head = min destination.Length (memory.Length - start)
        ReadOnlySpan(memory, start, head).CopyTo destination
        ReadOnlySpan(memory, 0, destination.Length - head).CopyTo(destination.Slice head)

    /// The `length` bytes from stream position `position`: a view of the ring where they
    /// lie in one piece, else copied into `scratch` (where the ring wraps).
    member _.Slice(position: int64, length: int, scratch: Span<byte>) : ReadOnlySpan<byte> =
        let start = int (position &&& int64 mask)

        if start + length <= memory.Length then
            ReadOnlySpan(memory, start, length)
        else
            let head = memory.Length - start
            ReadOnlySpan(memory, start, head).CopyTo scratch
            ReadOnlySpan(memory, 0, length - head).CopyTo(scratch.Slice head)
            Span.op_Implicit (scratch.Slice(0, length))

    /// Copies `count` bytes from stream position `position` into `target` at the same
    /// positions: how a caller moves its bytes into a larger ring.
    member _.CopyTo(target: SequenceRing, position: int64, count: int) =
        let start = int (position &&& int64 mask)
        let head = min count (memory.Length - start)
        target.Write(position, ReadOnlySpan(memory, start, head))
        target.Write(position + int64 head, ReadOnlySpan(memory, 0, count - head))

    /// The byte at stream position `position`.
    member _.Item
        with get (position: int64) = memory[int (position &&& int64 mask)]
        and set (position: int64) (value: byte) = memory[int (position &&& int64 mask)] <- value
