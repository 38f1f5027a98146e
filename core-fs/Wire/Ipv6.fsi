namespace Stack.Core.Wire

/// The fixed IPv6 header (RFC 8200 section 3).
[<Struct>]
type Ipv6Header =
    {
        TrafficClass: byte

        /// 20 bits.
        FlowLabel: uint32

        /// Bytes after the fixed header, extension headers included.
        PayloadLength: int
        NextHeader: byte
        HopLimit: byte
        Source: Ipv6Address
        Destination: Ipv6Address
    }

/// What an IPv6 fragment header says (RFC 8200 4.5).
[<Struct>]
type Ipv6Fragment =
    {
        /// Where this fragment's data goes in the original payload, in bytes.
        Offset: int

        More: bool
        Identification: uint32

        /// The header that follows the fragment header in the original packet.
        NextHeader: byte

        /// Where this fragment's data starts in the packet: just past the fragment header.
        DataStart: int
    }

/// Where an IPv6 packet's upper-layer header starts, past the extension headers, and what
/// the fragment header said, if there was one.
[<Struct>]
type Ipv6Payload =
    {
        Header: Ipv6Header

        /// The upper-layer protocol (6 TCP, 58 ICMPv6, 59 none).
        Protocol: byte

        /// Offset of the next-header field that names `Protocol` (for a parameter problem
        /// that points at it).
        ProtocolAt: int

        /// Offset of the upper-layer header from the packet's first byte.
        Offset: int

        /// The bytes from `Offset` to the end of the payload.
        Length: int

        /// The fragment header, when there was one. Past a fragment that is not the
        /// first, the walk stops: its data is not a header.
        Fragment: Ipv6Fragment voption
    }

module Ipv6 =

    /// The fixed header's length.
    [<Literal>]
    val HeaderLength: int = 40

    /// The most extension headers read before the upper layer: a chain longer than this
    /// is refused, so a crafted packet cannot make the walk long.
    [<Literal>]
    val MaxExtensionHeaders: int = 8

    /// Reads the fixed header: the version must be 6, and the payload length within the
    /// bytes given (bytes beyond it are ignored).
    val tryParseHeader: bytes: System.ReadOnlySpan<byte> -> Result<Ipv6Header, ParseError>

    /// Reads the fixed header and walks the extension headers to the upper layer
    /// (RFC 8200 section 4): hop-by-hop options (first only), routing, fragment,
    /// destination options and authentication; each within the payload, at most
    /// `MaxExtensionHeaders` of them. Any other next-header value is the upper layer.
    /// As the packet's destination would (RFC 8200 4.2, 4.4): an option this reader does
    /// not know whose type says not to skip it, or a routing header with segments left,
    /// is an error (`Ipv6ParameterProblem` when the RFC says to answer).
    val tryParse: bytes: System.ReadOnlySpan<byte> -> Result<Ipv6Payload, ParseError>

    /// Reads the start of a packet an ICMPv6 error quotes (RFC 4443 2.4(c)): the quote
    /// may stop anywhere after the fixed header, so the payload length is not checked and
    /// `Length` is what was quoted. Extension headers must lie within the quote.
    val tryParseQuoted: bytes: System.ReadOnlySpan<byte> -> Result<Ipv6Payload, ParseError>

    /// Writes a fixed header with no extension headers, traffic class 0, and the given
    /// fields into the first 40 bytes of `destination`; returns 40.
    val writePlain:
        nextHeader: byte ->
        source: IpAddress ->
        destination: IpAddress ->
        hopLimit: byte ->
        flowLabel: uint32 ->
        payloadLength: int ->
        dest: System.Span<byte> ->
            int

    /// Writes the fixed header into the first 40 bytes of `destination`; returns 40.
    val write: h: Ipv6Header -> destination: System.Span<byte> -> int
