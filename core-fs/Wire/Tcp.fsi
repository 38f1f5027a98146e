namespace Stack.Core.Wire

/// The TCP control bits (RFC 9293 3.1, RFC 3168 for ECE and CWR).
[<System.Flags>]
type TcpFlags =
    | None = 0uy
    | Fin = 1uy
    | Syn = 2uy
    | Rst = 4uy
    | Psh = 8uy
    | Ack = 16uy
    | Urg = 32uy
    | Ece = 64uy
    | Cwr = 128uy

/// A TCP header (RFC 9293 3.1) as values. The data offset and checksum follow from it.
[<NoComparison; Struct>]
type TcpHeader =
    {
        SourcePort: uint16
        DestinationPort: uint16
        SequenceNumber: uint32
        AcknowledgmentNumber: uint32

        /// The four bits between the data offset and CWR; zero on a sane network, kept so
        /// bytes roundtrip.
        Reserved: byte
        Flags: TcpFlags
        Window: uint16
        UrgentPointer: uint16

        /// Option bytes as on the wire (see `TcpOptions`); `write` pads them with zeros to a
        /// multiple of 4.
        Options: OptionBytes
    }

    member Has: flag: TcpFlags -> bool

    /// The data offset field: header length in 32-bit words.
    member DataOffset: int

    /// Header length in bytes: 20 plus the options rounded up to 4.
    member HeaderLength: int

/// A TCP segment as read from bytes: the header, the stored checksum and where the
/// payload lies in the parsed buffer.
[<NoComparison; Struct>]
type TcpSegment =
    {
        Header: TcpHeader
        Checksum: uint16
        PayloadLength: int
    }

    /// Where the payload starts in the parsed buffer: right after the header.
    member PayloadOffset: int

[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Tcp =

    [<Literal>]
    val MinHeaderLength: int = 20

    /// A header with no options, a zero window and no flags; fill in with `with`.
    val header: sourcePort: uint16 -> destinationPort: uint16 -> TcpHeader

    /// The checksum a segment (header and payload, as in `segment`) should carry.
    val computeChecksum: source: IpAddress -> destination: IpAddress -> segment: System.ReadOnlySpan<byte> -> uint16

    /// True when the stored checksum of `segment` (header and payload) is right.
    val checksumValid: source: IpAddress -> destination: IpAddress -> segment: System.ReadOnlySpan<byte> -> bool

    /// The header length the data offset of the segment in `buf` gives.
    val internal headerLengthOf: buf: System.ReadOnlySpan<byte> -> int

    /// The header of the segment in `buf`, which `problem` found nothing wrong with.
    [<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
    val internal readHeader: buf: System.ReadOnlySpan<byte> -> TcpHeader

    /// What makes the segment in `buf` unreadable, checksum included: with `readHeader`,
    /// `tryParse` for a caller that keeps the header without a result around it.
    val internal problemVerified:
        source: IpAddress -> destination: IpAddress -> buf: System.ReadOnlySpan<byte> -> ParseError voption

    /// Reads a TCP segment that fills `buf` exactly (an IPv4 payload). Validates the data
    /// offset and every option length; does not look at the checksum.
    val tryParseUnchecked: buf: System.ReadOnlySpan<byte> -> Result<TcpSegment, ParseError>

    /// Reads a TCP segment that fills `buf` exactly and verifies its checksum against the
    /// pseudo-header of `source` and `destination`.
    val tryParse:
        source: IpAddress -> destination: IpAddress -> buf: System.ReadOnlySpan<byte> -> Result<TcpSegment, ParseError>

    /// The one's complement sum of the header's words, checksum field excluded, from the
    /// field values.
    val headerSum: h: TcpHeader -> uint32

    /// Writes the header at the start of `dest` with a zero checksum and returns its length.
    /// Fill the checksum with `fillChecksum` once the payload is in place. Raises
    /// ArgumentException when `dest` is too small.
    val write: h: TcpHeader -> dest: System.Span<byte> -> int

    /// The writer behind `writeSegment`, reading the header in place.
    val internal writeSegmentInto:
        source: IpAddress ->
        destination: IpAddress ->
        h: inref<TcpHeader> ->
        payload: System.ReadOnlySpan<byte> ->
        dest: System.Span<byte> ->
            int

    /// Writes the header and `payload` into `dest` with the checksum for `source` and
    /// `destination` filled in (summed from the header's values and the payload bytes) and
    /// returns the segment length.
    [<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
    val writeSegment:
        source: IpAddress ->
        destination: IpAddress ->
        h: TcpHeader ->
        payload: System.ReadOnlySpan<byte> ->
        dest: System.Span<byte> ->
            int

    /// Computes and stores the checksum of `segment` (header and payload, in place).
    val fillChecksum: source: IpAddress -> destination: IpAddress -> segment: System.Span<byte> -> unit
