namespace Stack.Core.Tcp

/// One direction's bytes of a connection, kept by position in the stream in a ring of
/// memory the caller owns (its length a power of two): byte N of the stream lives at
/// index N mod length. A sequence number less the stream's first one (ISS + 1 or
/// IRS + 1) is such a position, so out-of-order bytes land in place and a segment's
/// payload is read back from where the application wrote it. The shell's connections
/// (over pooled native memory) and the simulator's applications (over arrays) keep their
/// bytes in these.
[<Sealed>]
type SequenceRing =

    new: array: byte array -> SequenceRing

    new: memory: System.Memory<byte> -> SequenceRing

    /// The position of sequence number `seq` in a stream whose first byte is `first`.
    static member Position: first: SeqNum * seq: SeqNum -> int64

    /// Copies `count` bytes from stream position `position` into `target` at the same
    /// positions: how a caller moves its bytes into a larger ring.
    member CopyTo: target: SequenceRing * position: int64 * count: int -> unit

    /// Copies bytes from stream position `position` into `destination`.
    member Read: position: int64 * destination: System.Span<byte> -> unit

    /// The `length` bytes from stream position `position`: a view of the ring where they
    /// lie in one piece, else copied into `scratch` (where the ring wraps).
    member Slice: position: int64 * length: int * scratch: System.Span<byte> -> System.ReadOnlySpan<byte>

    /// Copies `source` into the ring from stream position `position`.
    member Write: position: int64 * source: System.ReadOnlySpan<byte> -> unit

    /// The byte at stream position `position`.
    member Item: position: int64 -> byte with get

    /// The byte at stream position `position`.
    member Item: position: int64 -> byte with set

    /// The ring's length in bytes.
    member Size: int
