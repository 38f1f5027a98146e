/// Big-endian loads and stores at offsets the caller has already checked against the
/// span's length: the header writers check once, then store without a bounds check each.
module Stack.Core.Wire.Bytes

/// Stores `v` big-endian at `offset`; the caller guarantees offset + 2 <= length.
val inline internal put16: dest: System.Span<byte> -> offset: int -> v: uint16 -> unit

/// Stores `v` big-endian at `offset`; the caller guarantees offset + 4 <= length.
val inline internal put32: dest: System.Span<byte> -> offset: int -> v: uint32 -> unit

/// Stores `v` big-endian at `offset`; the caller guarantees offset + 8 <= length.
val inline internal put64: dest: System.Span<byte> -> offset: int -> v: uint64 -> unit

/// Loads 8 bytes in the machine's order at `offset`; the caller guarantees offset + 8 <= length.
val inline internal native64: src: System.ReadOnlySpan<byte> -> offset: int -> uint64

/// Loads 4 bytes in the machine's order at `offset`; the caller guarantees offset + 4 <= length.
val inline internal native32: src: System.ReadOnlySpan<byte> -> offset: int -> uint32
