namespace Stack.Core.Wire

/// Up to 40 bytes of header options (the most an IPv4 or TCP header can carry), held
/// inline so a parsed header allocates nothing. The bytes are kept exactly as on the wire,
/// padding included, so writing a parsed header gives back the same bytes.
[<System.Runtime.CompilerServices.IsReadOnly; CustomEquality; NoComparison; Struct>]
type OptionBytes =
    interface System.IEquatable<OptionBytes>

    private new: w0: uint64 * w1: uint64 * w2: uint64 * w3: uint64 * w4: uint64 * length: int -> OptionBytes

    val internal W0: uint64

    val internal W1: uint64

    val internal W2: uint64

    val internal W3: uint64

    val internal W4: uint64

    /// How many bytes are held (0..40).
    val Length: int

    static member Create: source: byte array -> OptionBytes

    /// Takes a copy of `source`; raises ArgumentException when it is longer than 40 bytes.
    static member Create: source: System.ReadOnlySpan<byte> -> OptionBytes

    /// Copies the bytes into `destination`, which must hold Length bytes.
    member CopyTo: destination: System.Span<byte> -> unit

    override Equals: o: obj -> bool

    member Equals: o: OptionBytes -> bool

    override GetHashCode: unit -> int

    /// The four bytes at `index` as a big-endian number (zeros past the end), straight from
    /// the held words.
    member ReadUInt32: index: int -> uint32

    member ToArray: unit -> byte array

    override ToString: unit -> string

    /// Writes the option area of a header: the bytes, then zeros up to the next multiple
    /// of 4 (the padding a header needs), in whole-word stores. `destination` must hold
    /// that many bytes (the caller checked the header length).
    member internal WriteArea: destination: System.Span<byte> -> unit

    /// The byte at `index` (0-based); bytes at or past Length read as zero.
    member Item: index: int -> byte with get

    /// The one's complement sum of the bytes as big-endian 16-bit words (see `Checksum`),
    /// computed from the held words without touching memory.
    member Sum: uint32

    /// The most option bytes an IPv4 or TCP header has room for.
    static member Capacity: int

    static member Empty: OptionBytes
