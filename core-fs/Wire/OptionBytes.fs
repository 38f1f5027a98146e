namespace Stack.Core.Wire

open System
open System.Buffers.Binary
open System.Runtime.CompilerServices

/// Up to 40 bytes of header options (the most an IPv4 or TCP header can carry), held
/// inline so a parsed header allocates nothing. The bytes are kept exactly as on the wire,
/// padding included, so writing a parsed header gives back the same bytes.
[<Struct; IsReadOnly; CustomEquality; NoComparison>]
type OptionBytes =
    val internal W0: uint64
    val internal W1: uint64
    val internal W2: uint64
    val internal W3: uint64
    val internal W4: uint64
    /// How many bytes are held (0..40).
    val Length: int

    private new(w0, w1, w2, w3, w4, length) =
        {
            W0 = w0
            W1 = w1
            W2 = w2
            W3 = w3
            W4 = w4
            Length = length
        }

    /// The most option bytes an IPv4 or TCP header has room for.
    static member Capacity = 40

    static member Empty = OptionBytes(0UL, 0UL, 0UL, 0UL, 0UL, 0)

    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    member private x.Word(i: int) =
        match i with
        | 0 -> x.W0
        | 1 -> x.W1
        | 2 -> x.W2
        | 3 -> x.W3
        | _ -> x.W4

    /// The byte at `index` (0-based); bytes at or past Length read as zero.
    member x.Item
        with get (index: int) =
            if index < 0 || index >= OptionBytes.Capacity then
                0uy
            else
                byte (x.Word(index / 8) >>> (56 - 8 * (index % 8)))

    /// The four bytes at `index` as a big-endian number (zeros past the end), straight from
    /// the held words.
    member x.ReadUInt32(index: int) : uint32 =
        if index < 0 || index >= OptionBytes.Capacity then
            0u
        else
            let shift = 8 * (index % 8)
            let high = x.Word(index / 8) <<< shift

            let low =
                if shift > 32 && index / 8 < 4 then
                    x.Word(index / 8 + 1) >>> (64 - shift)
                else
                    0UL

            uint32 ((high ||| low) >>> 32)

    /// Copies the bytes into `destination`, which must hold Length bytes.
    member x.CopyTo(destination: Span<byte>) =
        if destination.Length < x.Length then
            invalidArg "destination" $"needs {x.Length} bytes, has {destination.Length}"

        let mutable i = 0

        while x.Length - i >= 8 do
            Bytes.put64 destination i (x.Word(i / 8))
            i <- i + 8

        let tail = x.Word(i / 8)

        if x.Length - i >= 4 then
            Bytes.put32 destination i (uint32 (tail >>> 32))
            i <- i + 4

        while i < x.Length do
            destination[i] <- byte (tail >>> (56 - 8 * (i % 8)))
            i <- i + 1

    /// Writes the option area of a header: the bytes, then zeros up to the next multiple
    /// of 4 (the padding a header needs), in whole-word stores. `destination` must hold
    /// that many bytes (the caller checked the header length).
    member internal x.WriteArea(destination: Span<byte>) =
        let area = (x.Length + 3) &&& ~~~3
        // Straight-line stores, no loop over word indexes: this runs for every segment.
        if area >= 8 then
            Bytes.put64 destination 0 x.W0

        if area >= 16 then
            Bytes.put64 destination 8 x.W1

        if area >= 24 then
            Bytes.put64 destination 16 x.W2

        if area >= 32 then
            Bytes.put64 destination 24 x.W3

        if area >= 40 then
            Bytes.put64 destination 32 x.W4

        if area &&& 4 <> 0 then
            Bytes.put32 destination (area - 4) (uint32 (x.Word(area / 8) >>> 32))

    /// The one's complement sum of the bytes as big-endian 16-bit words (see `Checksum`),
    /// computed from the held words without touching memory.
    member x.Sum: uint32 =
        let inline halves (w: uint64) = (w >>> 32) + (w &&& 0xFFFFFFFFUL)
        let mutable s = halves x.W0 + halves x.W1 + halves x.W2 + halves x.W3 + halves x.W4
        s <- (s &&& 0xFFFFFFFFUL) + (s >>> 32)
        s <- (s &&& 0xFFFFUL) + (s >>> 16)
        s <- (s &&& 0xFFFFUL) + (s >>> 16)
        s <- (s &&& 0xFFFFUL) + (s >>> 16)
        uint32 s

    member x.ToArray() =
        let a = Array.zeroCreate<byte> x.Length
        x.CopyTo(Span a)
        a

    /// Bytes 8i..8i+7 of `source` as a big-endian word, zero past its end. Option areas
    /// are whole 32-bit words on the wire, so the 4-byte tail has its own fast case.
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    static member private ReadWord(source: ReadOnlySpan<byte>, i: int) =
        let start = i * 8
        let remaining = source.Length - start

        if remaining >= 8 then
            BinaryPrimitives.ReadUInt64BigEndian(source.Slice(start, 8))
        elif remaining <= 0 then
            0UL
        elif remaining = 4 then
            uint64 (BinaryPrimitives.ReadUInt32BigEndian(source.Slice(start, 4))) <<< 32
        else
            let mutable w = 0UL

            for j in start .. source.Length - 1 do
                w <- w ||| (uint64 source[j] <<< (56 - 8 * (j - start)))

            w

    /// Kept out of line so the hot path stays small enough to inline.
    [<MethodImpl(MethodImplOptions.NoInlining)>]
    static member private TooLong(length: int) : unit =
        invalidArg "source" $"options are {length} bytes; a header holds at most 40"

    /// Takes a copy of `source`; raises ArgumentException when it is longer than 40 bytes.
    static member Create(source: ReadOnlySpan<byte>) =
        if source.Length > OptionBytes.Capacity then
            OptionBytes.TooLong source.Length

        OptionBytes(
            OptionBytes.ReadWord(source, 0),
            OptionBytes.ReadWord(source, 1),
            OptionBytes.ReadWord(source, 2),
            OptionBytes.ReadWord(source, 3),
            OptionBytes.ReadWord(source, 4),
            source.Length
        )

    static member Create(source: byte array) = OptionBytes.Create(ReadOnlySpan source)

    member x.Equals(o: OptionBytes) =
        x.Length = o.Length
        && x.W0 = o.W0
        && x.W1 = o.W1
        && x.W2 = o.W2
        && x.W3 = o.W3
        && x.W4 = o.W4

    override x.Equals(o: obj) =
        match o with
        | :? OptionBytes as other -> x.Equals other
        | _ -> false

    override x.GetHashCode() =
        HashCode.Combine(x.W0, x.W1, x.W2, x.W3, x.W4, x.Length)

    override x.ToString() =
        Convert.ToHexString(x.ToArray()).ToLowerInvariant()

    interface IEquatable<OptionBytes> with
        member x.Equals(o: OptionBytes) = x.Equals o
