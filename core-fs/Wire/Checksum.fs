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
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86

/// Folds a wide one's complement sum down to 16 bits: 64 to 32 bits with the end-around
/// carry, then 32 to 16 by adding the word to itself rotated, which leaves the folded sum,
/// carry included, in the high half.
let inline private fold64 (x: uint64) : uint32 =
    let s = (x &&& 0xFFFFFFFFUL) + (x >>> 32)
    let s32 = uint32 s + uint32 (s >>> 32)
    (s32 + BitOperations.RotateRight(s32, 16)) >>> 16

/// Which loop sums the bulk of a span. Each takes a whole number of its granules and
/// leaves the rest to a scalar tail; `Kernel.best` is the widest one this CPU runs well.
type internal Kernel =
    /// x86 with AVX-512: 64-byte vectors, two at a time.
    | Madd512 = 0
    /// Any CPU: two `Vector<T>` at a time.
    | Portable = 1

module internal Kernel =
    /// Inlined, so the JIT sees a constant and keeps only the chosen loop.
    let inline best () =
        if Vector512.IsHardwareAccelerated && Avx512BW.IsSupported then
            Kernel.Madd512
        else
            Kernel.Portable

    let isSupported (kernel: Kernel) =
        match kernel with
        | Kernel.Madd512 -> Avx512BW.IsSupported
        | _ -> true

    /// The kernel takes a whole number of these: the AVX-512 kernel ends on a 256-bit
    /// vector, the portable one takes two `Vector<T>` at a time.
    let inline granule (kernel: Kernel) =
        match kernel with
        | Kernel.Madd512 -> 32
        | _ -> 2 * Vector<byte>.Count

/// Steps between flushes of the 32-bit lanes to the 64-bit total: a step moves a lane by
/// at most 2^16 (one word, or a multiply-add's two flipped words), so this keeps every
/// lane within 2^29.
let private flushEvery = 8192

/// Four vector accumulators for the portable kernel: the low and the high 16-bit word of
/// each 32-bit lane, for two vectors at a time, so consecutive additions do not wait on
/// each other.
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

// The kernels below read and write through references: the caller has checked both
// lengths, and a bounds check on every vector would double the time. Each sums the first
// `count` bytes of `s` (whole blocks) as native-order 16-bit words, and copies them to
// `d` too when `copy`.

/// The portable kernel: each 32-bit lane split into its two words, added apart.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let private sumLanes (s: byref<byte>) (d: byref<byte>) (copy: bool) (count: int) : uint64 =
    let width = Vector<byte>.Count
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

// The AVX-512 kernel adds pairs of words with one multiply-add (PMADDWD by ones), which
// treats words as signed: each word is first flipped by 0x8000, which makes it exactly
// its value less 32768, and the 32768s are added back once at the end. Three vector
// operations per vector instead of the portable kernel's four.

/// The 32768s that the flip took from each of the `count / 2` words.
let inline private unflip (signedTotal: int64) (count: int) =
    uint64 (signedTotal + 16384L * int64 count)

/// A 256-bit step of the AVX-512 kernel (its last): the bytes at `i` summed (and copied).
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let private madd256 (s: byref<byte>) (d: byref<byte>) (copy: bool) (i: int) =
    let v = Unsafe.ReadUnaligned<Vector256<int16>>(&Unsafe.Add(&s, i))

    if copy then
        Unsafe.WriteUnaligned(&Unsafe.Add(&d, i), v)

    Avx2.MultiplyAddAdjacent(Avx2.Xor(v, Vector256.Create(0x8000us).AsInt16()), Vector256.Create 1s)

/// The same with 512 bits.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let private madd512 (s: byref<byte>) (d: byref<byte>) (copy: bool) (i: int) =
    let v = Unsafe.ReadUnaligned<Vector512<int16>>(&Unsafe.Add(&s, i))

    if copy then
        Unsafe.WriteUnaligned(&Unsafe.Add(&d, i), v)

    Avx512BW.MultiplyAddAdjacent(Avx512F.Xor(v, Vector512.Create(0x8000us).AsInt16()), Vector512.Create 1s)

[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let private total256 (lanes: Vector256<int>) =
    Vector256.Sum(Vector256.WidenLower lanes + Vector256.WidenUpper lanes)

[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let private total512 (lanes: Vector512<int>) =
    Vector512.Sum(Vector512.WidenLower lanes + Vector512.WidenUpper lanes)

/// Two 512-bit vectors per step, then one more and a 256-bit one for what is left:
/// `count` is a whole number of 32-byte vectors.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let private sumMadd512 (s: byref<byte>) (d: byref<byte>) (copy: bool) (count: int) : uint64 =
    let pairs = count / 128 * 128
    let mutable total = 0L
    let mutable i = 0

    while i < pairs do
        let stop = min pairs (i + flushEvery * 128)
        let mutable a = Vector512<int>.Zero
        let mutable b = Vector512<int>.Zero

        while i < stop do
            a <- a + madd512 &s &d copy i
            b <- b + madd512 &s &d copy (i + 64)
            i <- i + 128

        total <- total + total512 (a + b)

    if i + 64 <= count then
        total <- total + total512 (madd512 &s &d copy i)
        i <- i + 64

    if i < count then
        total <- total + total256 (madd256 &s &d copy i)

    unflip total count

/// Sums (and copies, when `copy`) the first `count` bytes with `kernel`.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let private sumBlocks
    (kernel: Kernel)
    (source: ReadOnlySpan<byte>)
    (destination: Span<byte>)
    (copy: bool)
    (count: int)
    : uint64 =
    let s = &MemoryMarshal.GetReference source
    let d = &MemoryMarshal.GetReference destination

    match kernel with
    | Kernel.Madd512 -> sumMadd512 &s &d copy count
    | _ -> sumLanes &s &d copy count

/// How many leading bytes of a span of `length` the vector loop takes: whole granules,
/// when there are enough of them to be worth it.
let inline private vectorBytes (kernel: Kernel) (length: int) =
    let granule = Kernel.granule kernel

    if Vector.IsHardwareAccelerated && length >= 2 * granule then
        length / granule * granule
    else
        0

/// Sums 16-bit words in the machine's byte order (the one's complement sum does not care
/// which order, RFC 1071 section 2(B)); the caller swaps once at the end.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let private sumNativeWith (kernel: Kernel) (data: ReadOnlySpan<byte>) : uint64 =
    let mutable i = vectorBytes kernel data.Length
    let mutable acc = sumBlocks kernel data Span<byte>.Empty false i

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

let private sumNative (data: ReadOnlySpan<byte>) : uint64 = sumNativeWith (Kernel.best ()) data

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

/// `sum` with a given kernel (for tests: each kernel against the textbook sum).
let internal sumWith (kernel: Kernel) (data: ReadOnlySpan<byte>) : uint32 = wireOrder (sumNativeWith kernel data)

/// `copyAndSum` with a given kernel.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let internal copyAndSumWith (kernel: Kernel) (source: ReadOnlySpan<byte>) (destination: Span<byte>) : uint32 =
    if destination.Length < source.Length then
        invalidArg "destination" $"needs {source.Length} bytes, has {destination.Length}"

    let i = vectorBytes kernel source.Length
    let acc = sumBlocks kernel source destination true i

    // The rest starts at an even offset, so its words line up with the whole's.
    let tail = source.Slice i
    tail.CopyTo(destination.Slice i)
    wireOrder (acc + sumNativeWith kernel tail)

/// Copies `source` to the start of `destination` and returns `sum source`, in one pass
/// over the bytes: a segment's payload goes into its packet as its checksum is made.
let copyAndSum (source: ReadOnlySpan<byte>) (destination: Span<byte>) : uint32 =
    copyAndSumWith (Kernel.best ()) source destination

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

/// The sum of the pseudo-header that TCP and UDP checksums cover, for either family
/// (IPv4: RFC 9293 3.1, IPv6: RFC 8200 8.1; they agree for a mapped IPv4 address).
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let pseudoHeader (source: IpAddress) (destination: IpAddress) (protocol: byte) (length: int) : uint32 =
    fold64 (
        source.WordSum
        + destination.WordSum
        + uint64 protocol
        + uint64 (uint32 length >>> 16)
        + uint64 (uint32 length &&& 0xFFFFu)
    )

/// True when a TCP, UDP or ICMPv6 message's checksum is right for its pseudo-header.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let isValidWithPseudoHeader
    (source: IpAddress)
    (destination: IpAddress)
    (protocol: byte)
    (segment: ReadOnlySpan<byte>)
    =
    add (wireOrder (sumNative segment)) (pseudoHeader source destination protocol segment.Length) = 0xFFFFu

/// RFC 1624 equation 3: the new checksum after one 16-bit word of the covered data
/// changed from `oldWord` to `newWord`, without summing the data again.
let update (checksum: uint16) (oldWord: uint16) (newWord: uint16) : uint16 =
    finish (fold64 (uint64 (~~~checksum) + uint64 (~~~oldWord) + uint64 newWord))

/// `update` for a 32-bit field (an address or a sequence number).
let update32 (checksum: uint16) (oldValue: uint32) (newValue: uint32) : uint16 =
    let once = update checksum (uint16 (oldValue >>> 16)) (uint16 (newValue >>> 16))
    update once (uint16 oldValue) (uint16 newValue)
