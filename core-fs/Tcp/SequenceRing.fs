namespace Stack.Core.Tcp

open System

/// One direction's bytes of a connection, kept by position in the stream in a ring of
/// memory the caller owns (its length a power of two): byte N of the stream lives at
/// index N mod length. A sequence number less the stream's first one (ISS + 1 or
/// IRS + 1) is such a position, so out-of-order bytes land in place and a segment's
/// payload is read back from where the application wrote it. The shell's connections
/// (over pooled native memory) and the simulator's applications (over arrays) keep their
/// bytes in these.
[<Sealed>]
type SequenceRing(memory: Memory<byte>) =
    do
        if memory.Length = 0 || memory.Length &&& (memory.Length - 1) <> 0 then
            invalidArg (nameof memory) $"a ring's length must be a power of two, not {memory.Length}"

    let mask = memory.Length - 1

    new(array: byte array) = SequenceRing(Memory array)

    /// The position of sequence number `seq` in a stream whose first byte is `first`.
    static member Position(first: SeqNum, seq: SeqNum) = int64 (seq.Value - first.Value)

    /// The ring's length in bytes.
    member _.Size = memory.Length

    /// Copies `source` into the ring from stream position `position`.
    member _.Write(position: int64, source: ReadOnlySpan<byte>) =
        let bytes = memory.Span
        let start = int (position &&& int64 mask)
        let head = min source.Length (bytes.Length - start)
        source.Slice(0, head).CopyTo(bytes.Slice(start, head))
        source.Slice(head).CopyTo bytes

    /// Copies bytes from stream position `position` into `destination`.
    member _.Read(position: int64, destination: Span<byte>) =
        let bytes = memory.Span
        let start = int (position &&& int64 mask)
        let head = min destination.Length (bytes.Length - start)
        bytes.Slice(start, head).CopyTo destination
        bytes.Slice(0, destination.Length - head).CopyTo(destination.Slice head)

    /// The `length` bytes from stream position `position`: a view of the ring where they
    /// lie in one piece, else copied into `scratch` (where the ring wraps).
    member _.Slice(position: int64, length: int, scratch: Span<byte>) : ReadOnlySpan<byte> =
        let bytes = memory.Span
        let start = int (position &&& int64 mask)

        if start + length <= bytes.Length then
            Span.op_Implicit (bytes.Slice(start, length))
        else
            let head = bytes.Length - start
            bytes.Slice(start, head).CopyTo scratch
            bytes.Slice(0, length - head).CopyTo(scratch.Slice head)
            Span.op_Implicit (scratch.Slice(0, length))

    /// Copies `count` bytes from stream position `position` into `target` at the same
    /// positions: how a caller moves its bytes into a larger ring.
    member _.CopyTo(target: SequenceRing, position: int64, count: int) =
        let bytes = memory.Span
        let start = int (position &&& int64 mask)
        let head = min count (bytes.Length - start)
        target.Write(position, Span.op_Implicit (bytes.Slice(start, head)))
        target.Write(position + int64 head, Span.op_Implicit (bytes.Slice(0, count - head)))

    /// The byte at stream position `position`.
    member _.Item
        with get (position: int64) = memory.Span[int (position &&& int64 mask)]
        and set (position: int64) (value: byte) = memory.Span[int (position &&& int64 mask)] <- value
