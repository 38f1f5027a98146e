/// The Internet checksum (RFC 1071), its incremental update (RFC 1624) and the TCP/UDP
/// pseudo-header. Sums are kept as 16-bit one's complement values in a uint32 (0..0xFFFF),
/// in wire (big-endian) order, so partial sums of consecutive even-length spans add up.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Wire.Checksum

/// Which loop sums the bulk of a span. Each takes a whole number of its granules and
/// leaves the rest to a scalar tail; `Kernel.best` is the widest one this CPU runs well.
type internal Kernel =
    | Madd512 = 0
    | Portable = 1

module internal Kernel =

    /// Inlined, so the JIT sees a constant and keeps only the chosen loop.
    val inline best: unit -> Kernel

    val isSupported: kernel: Kernel -> bool

    /// The kernel takes a whole number of these: the AVX-512 kernel ends on a 256-bit
    /// vector, the portable one takes two `Vector<T>` at a time.
    val inline granule: kernel: Kernel -> int

/// The one's complement sum of `data` as big-endian 16-bit words (odd length padded with a
/// zero byte), folded to 16 bits. Not complemented: combine partial sums with `add`.
val sum: data: System.ReadOnlySpan<byte> -> uint32

/// `sum` with a given kernel (for tests: each kernel against the textbook sum).
val internal sumWith: kernel: Kernel -> data: System.ReadOnlySpan<byte> -> uint32

/// `copyAndSum` with a given kernel.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val internal copyAndSumWith:
    kernel: Kernel -> source: System.ReadOnlySpan<byte> -> destination: System.Span<byte> -> uint32

/// Copies `source` to the start of `destination` and returns `sum source`, in one pass
/// over the bytes: a segment's payload goes into its packet as its checksum is made.
val copyAndSum: source: System.ReadOnlySpan<byte> -> destination: System.Span<byte> -> uint32

/// Folds a wide sum of 16-bit words (up to 2^48 of them) to a 16-bit partial sum.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val fold: wide: uint64 -> uint32

/// One's complement addition of two partial sums.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val add: a: uint32 -> b: uint32 -> uint32

/// The checksum field value for a finished sum.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val finish: total: uint32 -> uint16

/// The checksum of `data` (RFC 1071).
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val compute: data: System.ReadOnlySpan<byte> -> uint16

/// True when `data`, checksum field included, sums to all ones: the check RFC 1071 describes.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val isValid: data: System.ReadOnlySpan<byte> -> bool

/// The sum of the pseudo-header that TCP and UDP checksums cover, for either family
/// (IPv4: RFC 9293 3.1, IPv6: RFC 8200 8.1; they agree for a mapped IPv4 address).
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val pseudoHeader:
    source: Stack.Core.Wire.IpAddress ->
    destination: Stack.Core.Wire.IpAddress ->
    protocol: byte ->
    length: int ->
        uint32

/// True when a TCP, UDP or ICMPv6 message's checksum is right for its pseudo-header.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val isValidWithPseudoHeader:
    source: Stack.Core.Wire.IpAddress ->
    destination: Stack.Core.Wire.IpAddress ->
    protocol: byte ->
    segment: System.ReadOnlySpan<byte> ->
        bool

/// RFC 1624 equation 3: the new checksum after one 16-bit word of the covered data
/// changed from `oldWord` to `newWord`, without summing the data again.
val update: checksum: uint16 -> oldWord: uint16 -> newWord: uint16 -> uint16

/// `update` for a 32-bit field (an address or a sequence number).
val update32: checksum: uint16 -> oldValue: uint32 -> newValue: uint32 -> uint16
