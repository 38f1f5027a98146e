/// The Internet checksum (RFC 1071), its incremental update (RFC 1624) and the TCP/UDP
/// pseudo-header. Sums are kept as 16-bit one's complement values in a uint32 (0..0xFFFF),
/// in wire (big-endian) order, so partial sums of consecutive even-length spans add up.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Wire.Checksum

open System
open System.Buffers.Binary
open System.Runtime.InteropServices
open System.Runtime.CompilerServices
open System.Numerics

/// Folds a wide one's complement sum down to 16 bits: 64 to 32 bits with the end-around
/// carry, then 32 to 16 by adding the word to itself rotated, which leaves the folded sum,
/// carry included, in the high half.
let inline private fold64 (x: uint64) : uint32 =
    let s = (x &&& 0xFFFFFFFFUL) + (x >>> 32)
    let s32 = uint32 s + uint32 (s >>> 32)
    (s32 + BitOperations.RotateRight(s32, 16)) >>> 16

/// Lanes of 16-bit words gain at most 0xFFFF per step; flushing well before 2^16 steps
/// keeps the 32-bit lanes from overflowing.
let private flushEvery = 16384

/// Four vector accumulators: the low and the high 16-bit word of each 32-bit lane, for
/// two vectors at a time, so consecutive additions do not wait on each other.
[<Struct>]
type private Lanes =
    val mutable Lo: Vector<uint32>
    val mutable Hi: Vector<uint32>
    val mutable Lo2: Vector<uint32>
    val mutable Hi2: Vector<uint32>

    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    member l.Add(v: Vector<uint32>, v2: Vector<uint32>) =
        let mask = Vector<uint32>(0xFFFFu)
        l.Lo <- l.Lo + Vector.BitwiseAnd(v, mask)
        l.Hi <- l.Hi + Vector.ShiftRightLogical(v, 16)
        l.Lo2 <- l.Lo2 + Vector.BitwiseAnd(v2, mask)
        l.Hi2 <- l.Hi2 + Vector.ShiftRightLogical(v2, 16)

    /// The lanes' total, widened to 64 bits (each lane is below 2^30, so a pair's sum
    /// still fits in 32 bits).
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    member l.Total() =
        let mutable a = Vector<uint64>.Zero
        let mutable b = Vector<uint64>.Zero
        let mutable c = Vector<uint64>.Zero
        let mutable d = Vector<uint64>.Zero
        Vector.Widen(l.Lo + l.Hi, &a, &b)
        Vector.Widen(l.Lo2 + l.Hi2, &c, &d)
        Vector.Sum(a + b + c + d)

/// Sums the first `count` bytes from `source` (a whole number of vector pairs) as
/// 32-bit lanes, copying them to `destination` too when `copy`. Reads and writes through
/// references: the caller has checked both lengths, and bounds checks on every vector
/// would double the time.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let private sumPairs (source: ReadOnlySpan<byte>) (destination: Span<byte>) (copy: bool) (count: int) : uint64 =
    let width = Vector<byte>.Count
    let s = &MemoryMarshal.GetReference source
    let d = &MemoryMarshal.GetReference destination
    let mutable total = 0UL
    let mutable i = 0

    while i < count do
        let stop = min count (i + flushEvery * 2 * width)
        let mutable lanes = Lanes()

        while i < stop do
            let v = Unsafe.ReadUnaligned<Vector<uint32>>(&Unsafe.Add(&s, i))
            let v2 = Unsafe.ReadUnaligned<Vector<uint32>>(&Unsafe.Add(&s, i + width))

            if copy then
                Unsafe.WriteUnaligned(&Unsafe.Add(&d, i), v)
                Unsafe.WriteUnaligned(&Unsafe.Add(&d, i + width), v2)

            lanes.Add(v, v2)
            i <- i + 2 * width

        total <- total + lanes.Total()

    total

/// How many leading bytes of a span of `length` the vector loop takes: whole vector
/// pairs, when there are enough of them to be worth it.
let inline private vectorBytes (length: int) =
    let pair = 2 * Vector<byte>.Count

    if Vector.IsHardwareAccelerated && length >= 2 * pair then
        length / pair * pair
    else
        0

/// Sums 16-bit words in the machine's byte order (the one's complement sum does not care
/// which order, RFC 1071 section 2(B)); the caller swaps once at the end.
let private sumNative (data: ReadOnlySpan<byte>) : uint64 =
    let mutable i = vectorBytes data.Length
    let mutable acc = sumPairs data Span<byte>.Empty false i

    // 32-bit halves added into 64 bits cannot overflow for any span length, so no carry
    // needs handling until the fold.
    while i + 8 <= data.Length do
        let w = Bytes.native64 data i
        acc <- acc + (w &&& 0xFFFFFFFFUL) + (w >>> 32)
        i <- i + 8

    if i + 4 <= data.Length then
        acc <- acc + uint64 (Bytes.native32 data i)
        i <- i + 4

    if i + 2 <= data.Length then
        acc <- acc + uint64 (MemoryMarshal.Read<uint16>(data.Slice i))
        i <- i + 2

    if i < data.Length then
        // A trailing odd byte is the high-order byte of a word padded with zero.
        let last = uint64 data[i]
        acc <- acc + (if BitConverter.IsLittleEndian then last else last <<< 8)

    acc

/// A native-order wide sum folded to 16 bits, in wire order.
let inline private wireOrder (nativeSum: uint64) =
    let folded = fold64 nativeSum

    if BitConverter.IsLittleEndian then
        uint32 (BinaryPrimitives.ReverseEndianness(uint16 folded))
    else
        folded

/// The one's complement sum of `data` as big-endian 16-bit words (odd length padded with a
/// zero byte), folded to 16 bits. Not complemented: combine partial sums with `add`.
let sum (data: ReadOnlySpan<byte>) : uint32 = wireOrder (sumNative data)

/// Copies `source` to the start of `destination` and returns `sum source`, in one pass
/// over the bytes: a segment's payload goes into its packet as its checksum is made.
let copyAndSum (source: ReadOnlySpan<byte>) (destination: Span<byte>) : uint32 =
    if destination.Length < source.Length then
        invalidArg "destination" $"needs {source.Length} bytes, has {destination.Length}"

    let i = vectorBytes source.Length
    let acc = sumPairs source destination true i

    // The rest starts at an even offset, so its words line up with the whole's.
    let tail = source.Slice i
    tail.CopyTo(destination.Slice i)
    wireOrder (acc + sumNative tail)

/// Folds a wide sum of 16-bit words (up to 2^48 of them) to a 16-bit partial sum.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let fold (wide: uint64) : uint32 = fold64 wide

/// One's complement addition of two partial sums.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let add (a: uint32) (b: uint32) : uint32 = fold64 (uint64 a + uint64 b)

/// The checksum field value for a finished sum.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let finish (total: uint32) : uint16 = ~~~(uint16 (fold64 (uint64 total)))

/// The checksum of `data` (RFC 1071).
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let compute (data: ReadOnlySpan<byte>) : uint16 = finish (sum data)

/// True when `data`, checksum field included, sums to all ones: the check RFC 1071 describes.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let isValid (data: ReadOnlySpan<byte>) : bool =
    // All ones reads the same in either byte order: no swap needed.
    fold64 (sumNative data) = 0xFFFFu

/// The pseudo-header's 16-bit words summed wide in the machine's byte order, ready to add
/// to a native sum of the segment: no fold or swap until the end.
let inline private pseudoHeaderNative (source: Ipv4Address) (destination: Ipv4Address) (protocol: byte) (length: int) =
    let inline halves (v: uint32) =
        uint64 (v &&& 0xFFFFu) + uint64 (v >>> 16)

    if BitConverter.IsLittleEndian then
        halves (BinaryPrimitives.ReverseEndianness source.Value)
        + halves (BinaryPrimitives.ReverseEndianness destination.Value)
        + (uint64 protocol <<< 8)
        + uint64 (BinaryPrimitives.ReverseEndianness(uint16 length))
    else
        halves source.Value
        + halves destination.Value
        + uint64 protocol
        + uint64 (uint16 length)

/// True when a TCP or UDP segment's checksum is right for its IPv4 pseudo-header.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let isValidWithPseudoHeader
    (source: Ipv4Address)
    (destination: Ipv4Address)
    (protocol: byte)
    (segment: ReadOnlySpan<byte>)
    =
    fold64 (
        sumNative segment
        + pseudoHeaderNative source destination protocol segment.Length
    )
        =
        0xFFFFu

/// The sum of the IPv4 pseudo-header that TCP and UDP checksums cover (RFC 9293 3.1).
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let pseudoHeader (source: Ipv4Address) (destination: Ipv4Address) (protocol: byte) (length: int) : uint32 =
    fold64 (
        uint64 (source.Value >>> 16)
        + uint64 (source.Value &&& 0xFFFFu)
        + uint64 (destination.Value >>> 16)
        + uint64 (destination.Value &&& 0xFFFFu)
        + uint64 protocol
        + uint64 (uint32 length &&& 0xFFFFu)
    )

/// RFC 1624 equation 3: the new checksum after one 16-bit word of the covered data
/// changed from `oldWord` to `newWord`, without summing the data again.
let update (checksum: uint16) (oldWord: uint16) (newWord: uint16) : uint16 =
    finish (fold64 (uint64 (~~~checksum) + uint64 (~~~oldWord) + uint64 newWord))

/// `update` for a 32-bit field (an address or a sequence number).
let update32 (checksum: uint16) (oldValue: uint32) (newValue: uint32) : uint16 =
    let once = update checksum (uint16 (oldValue >>> 16)) (uint16 (newValue >>> 16))
    update once (uint16 oldValue) (uint16 newValue)
