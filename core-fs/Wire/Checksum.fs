/// The Internet checksum (RFC 1071), its incremental update (RFC 1624) and the TCP/UDP
/// pseudo-header. Sums are kept as 16-bit one's complement values in a uint32 (0..0xFFFF),
/// in wire (big-endian) order, so partial sums of consecutive even-length spans add up.
module Stack.Core.Wire.Checksum

open System
open System.Buffers.Binary
open System.Runtime.InteropServices
open System.Runtime.Intrinsics

/// Folds a wide one's complement sum down to 16 bits.
let inline private fold64 (x: uint64) : uint32 =
    let mutable s = (x &&& 0xFFFFFFFFUL) + (x >>> 32)
    s <- (s &&& 0xFFFFUL) + (s >>> 16)
    s <- (s &&& 0xFFFFUL) + (s >>> 16)
    s <- (s &&& 0xFFFFUL) + (s >>> 16)
    uint32 s

let inline private addCarry (acc: uint64) (w: uint64) =
    let s = acc + w
    if s < w then s + 1UL else s

/// Lanes of 16-bit words gain at most 0xFFFF per step; flushing well before 2^16 steps
/// keeps the 32-bit lanes from overflowing.
let private flushEvery = 16384

let private sumVector256 (vecs: ReadOnlySpan<Vector256<uint32>>) : uint64 =
    let mask = Vector256.Create 0xFFFFu
    let mutable total = 0UL
    let mutable k = 0

    while k < vecs.Length do
        let stop = min vecs.Length (k + flushEvery)
        let mutable lo = Vector256<uint32>.Zero
        let mutable hi = Vector256<uint32>.Zero

        while k < stop do
            let v = vecs[k]
            lo <- Vector256.Add(lo, Vector256.BitwiseAnd(v, mask))
            hi <- Vector256.Add(hi, Vector256.ShiftRightLogical(v, 16))
            k <- k + 1

        let struct (a, b) = Vector256.Widen lo
        let struct (c, d) = Vector256.Widen hi
        total <- total + Vector256.Sum(Vector256.Add(Vector256.Add(a, b), Vector256.Add(c, d)))

    total

let private sumVector128 (vecs: ReadOnlySpan<Vector128<uint32>>) : uint64 =
    let mask = Vector128.Create 0xFFFFu
    let mutable total = 0UL
    let mutable k = 0

    while k < vecs.Length do
        let stop = min vecs.Length (k + flushEvery)
        let mutable lo = Vector128<uint32>.Zero
        let mutable hi = Vector128<uint32>.Zero

        while k < stop do
            let v = vecs[k]
            lo <- Vector128.Add(lo, Vector128.BitwiseAnd(v, mask))
            hi <- Vector128.Add(hi, Vector128.ShiftRightLogical(v, 16))
            k <- k + 1

        let struct (a, b) = Vector128.Widen lo
        let struct (c, d) = Vector128.Widen hi
        total <- total + Vector128.Sum(Vector128.Add(Vector128.Add(a, b), Vector128.Add(c, d)))

    total

/// Sums 16-bit words in the machine's byte order (the one's complement sum does not care
/// which order, RFC 1071 section 2(B)); the caller swaps once at the end.
let private sumNative (data: ReadOnlySpan<byte>) : uint64 =
    let mutable acc = 0UL
    let mutable i = 0

    if Vector256.IsHardwareAccelerated && data.Length >= 128 then
        let count = data.Length / 32
        acc <- sumVector256 (MemoryMarshal.Cast<byte, Vector256<uint32>>(data.Slice(0, count * 32)))
        i <- count * 32
    elif Vector128.IsHardwareAccelerated && data.Length >= 64 then
        let count = data.Length / 16
        acc <- sumVector128 (MemoryMarshal.Cast<byte, Vector128<uint32>>(data.Slice(0, count * 16)))
        i <- count * 16

    while i + 8 <= data.Length do
        acc <- addCarry acc (MemoryMarshal.Read<uint64>(data.Slice i))
        i <- i + 8

    if i + 4 <= data.Length then
        acc <- addCarry acc (uint64 (MemoryMarshal.Read<uint32>(data.Slice i)))
        i <- i + 4

    if i + 2 <= data.Length then
        acc <- addCarry acc (uint64 (MemoryMarshal.Read<uint16>(data.Slice i)))
        i <- i + 2

    if i < data.Length then
        // A trailing odd byte is the high-order byte of a word padded with zero.
        let last = uint64 data[i]
        acc <- addCarry acc (if BitConverter.IsLittleEndian then last else last <<< 8)

    acc

/// The one's complement sum of `data` as big-endian 16-bit words (odd length padded with a
/// zero byte), folded to 16 bits. Not complemented: combine partial sums with `add`.
let sum (data: ReadOnlySpan<byte>) : uint32 =
    let folded = fold64 (sumNative data)

    if BitConverter.IsLittleEndian then
        uint32 (BinaryPrimitives.ReverseEndianness(uint16 folded))
    else
        folded

/// One's complement addition of two partial sums.
let add (a: uint32) (b: uint32) : uint32 = fold64 (uint64 a + uint64 b)

/// The checksum field value for a finished sum.
let finish (total: uint32) : uint16 = ~~~(uint16 (fold64 (uint64 total)))

/// The checksum of `data` (RFC 1071).
let compute (data: ReadOnlySpan<byte>) : uint16 = finish (sum data)

/// True when `data`, checksum field included, sums to all ones: the check RFC 1071 describes.
let isValid (data: ReadOnlySpan<byte>) : bool = sum data = 0xFFFFu

/// The sum of the IPv4 pseudo-header that TCP and UDP checksums cover (RFC 9293 3.1).
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
