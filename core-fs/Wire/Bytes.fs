/// Big-endian loads and stores at offsets the caller has already checked against the
/// span's length: the header writers check once, then store without a bounds check each.
module internal Stack.Core.Wire.Bytes

open System
open System.Buffers.Binary
open System.Runtime.CompilerServices
open System.Runtime.InteropServices

let inline private be16 (v: uint16) =
    if BitConverter.IsLittleEndian then
        BinaryPrimitives.ReverseEndianness v
    else
        v

let inline private be32 (v: uint32) =
    if BitConverter.IsLittleEndian then
        BinaryPrimitives.ReverseEndianness v
    else
        v

/// Stores `v` big-endian at `offset`; the caller guarantees offset + 2 <= length.
let inline put16 (dest: Span<byte>) (offset: int) (v: uint16) =
    Unsafe.WriteUnaligned(&Unsafe.Add(&MemoryMarshal.GetReference dest, offset), be16 v)

/// Stores `v` big-endian at `offset`; the caller guarantees offset + 4 <= length.
let inline put32 (dest: Span<byte>) (offset: int) (v: uint32) =
    Unsafe.WriteUnaligned(&Unsafe.Add(&MemoryMarshal.GetReference dest, offset), be32 v)

let inline private be64 (v: uint64) =
    if BitConverter.IsLittleEndian then
        BinaryPrimitives.ReverseEndianness v
    else
        v

/// Stores `v` big-endian at `offset`; the caller guarantees offset + 8 <= length.
let inline put64 (dest: Span<byte>) (offset: int) (v: uint64) =
    Unsafe.WriteUnaligned(&Unsafe.Add(&MemoryMarshal.GetReference dest, offset), be64 v)

/// Loads 8 bytes in the machine's order at `offset`; the caller guarantees offset + 8 <= length.
let inline native64 (src: ReadOnlySpan<byte>) (offset: int) : uint64 =
    Unsafe.ReadUnaligned<uint64>(&Unsafe.Add(&Unsafe.AsRef(&MemoryMarshal.GetReference src), offset))

/// Loads 4 bytes in the machine's order at `offset`; the caller guarantees offset + 4 <= length.
let inline native32 (src: ReadOnlySpan<byte>) (offset: int) : uint32 =
    Unsafe.ReadUnaligned<uint32>(&Unsafe.Add(&Unsafe.AsRef(&MemoryMarshal.GetReference src), offset))
