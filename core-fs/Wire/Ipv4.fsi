namespace Stack.Core.Wire

/// IP protocol numbers this stack knows by name.
module IpProtocol =

    [<Literal>]
    val Icmp: byte = 1uy

    [<Literal>]
    val Tcp: byte = 6uy

    [<Literal>]
    val Udp: byte = 17uy

    val name: p: byte -> string

/// An IPv4 header (RFC 791) as values. The checksum and the lengths on the wire follow
/// from it: `Ipv4.write` computes them.
[<NoComparison; Struct>]
type Ipv4Header =
    {

        /// DSCP (upper 6 bits) and ECN (lower 2 bits).
        Tos: byte
        Identification: uint16

        /// The reserved flag bit; always false on a sane network, kept so bytes roundtrip.
        ReservedFlag: bool
        DontFragment: bool
        MoreFragments: bool

        /// Fragment offset in 8-byte units (13 bits).
        FragmentOffset: uint16
        Ttl: byte
        Protocol: byte
        Source: Ipv4Address
        Destination: Ipv4Address

        /// Option bytes as on the wire; `write` pads them with zeros to a multiple of 4.
        Options: OptionBytes

        /// Bytes after the header (total length minus header length).
        PayloadLength: int
    }

    /// Header length in bytes: 20 plus the options rounded up to 4.
    member HeaderLength: int

    member TotalLength: int

/// An IPv4 packet as read from bytes: the header plus what the wire said about it.
[<NoComparison; Struct>]
type Ipv4Packet =
    {
        Header: Ipv4Header

        /// The checksum field as stored.
        Checksum: uint16
        ChecksumValid: bool
    }

    member HeaderLength: int

    member PayloadLength: int

    /// Where the payload starts in the parsed buffer.
    member PayloadOffset: int

    member TotalLength: int

[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Ipv4 =

    [<Literal>]
    val MinHeaderLength: int = 20

    [<Literal>]
    val MaxTotalLength: int = 65535

    /// A header with common defaults (TTL 64, DF set, no options) for the given endpoints.
    val header: protocol: byte -> source: Ipv4Address -> destination: Ipv4Address -> payloadLength: int -> Ipv4Header

    /// The header at the start of `buf`, which `problem` found nothing wrong with.
    val internal readHeader: buf: System.ReadOnlySpan<byte> -> Ipv4Header

    /// What makes the header at the start of `buf` unreadable, checksum included: with
    /// `readHeader`, `tryParse` for a caller that keeps the header without a result
    /// around it (the host, once per packet).
    val internal problemVerified: buf: System.ReadOnlySpan<byte> -> ParseError voption

    /// Reads an IPv4 header from the start of `buf`, checking the checksum as `policy` says.
    /// Bytes beyond the total length are ignored.
    val tryParseWith: policy: ChecksumPolicy -> buf: System.ReadOnlySpan<byte> -> Result<Ipv4Packet, ParseError>

    /// Reads an IPv4 header from the start of `buf` and verifies its checksum.
    val tryParse: buf: System.ReadOnlySpan<byte> -> Result<Ipv4Packet, ParseError>

    /// Reads the original header quoted in an ICMP error, whose total length names bytes
    /// that were not quoted. The checksum is recorded, not enforced.
    val tryParseQuoted: buf: System.ReadOnlySpan<byte> -> Result<Ipv4Packet, ParseError>

    /// The writer behind `write` and `writeWith`, reading the header in place.
    val internal writeInto:
        h: inref<Ipv4Header> -> protocol: byte -> payloadLength: int -> dest: System.Span<byte> -> int

    /// Writes the header `header` gives (no options, DF set, identification 0) with
    /// `ttl`, straight from these values: no header value is built on the way. Returns
    /// its length, 20.
    val internal writePlain:
        protocol: byte ->
        source: Ipv4Address ->
        destination: Ipv4Address ->
        ttl: byte ->
        payloadLength: int ->
        dest: System.Span<byte> ->
            int

    /// `write` with the protocol and payload length given apart from the header, so a
    /// caller that knows them need not build a changed copy of `h`.
    [<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
    val writeWith: h: Ipv4Header -> protocol: byte -> payloadLength: int -> dest: System.Span<byte> -> int

    /// Writes the header (checksum filled in) at the start of `dest` and returns its length;
    /// the caller puts the payload after it. Raises ArgumentException when `dest` is too
    /// small or the lengths cannot be encoded.
    [<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
    val write: h: Ipv4Header -> dest: System.Span<byte> -> int
