namespace Stack.Core.Wire

/// ICMPv6 message types this stack reads or sends (RFC 4443).
module Icmpv6Type =

    [<Literal>]
    val DestinationUnreachable: byte = 1uy

    [<Literal>]
    val PacketTooBig: byte = 2uy

    [<Literal>]
    val TimeExceeded: byte = 3uy

    [<Literal>]
    val ParameterProblem: byte = 4uy

    [<Literal>]
    val EchoRequest: byte = 128uy

    [<Literal>]
    val EchoReply: byte = 129uy

    val name: t: byte -> string

/// The 8-byte ICMPv6 header: type, code and the 32 bits whose meaning depends on the type.
[<Struct>]
type Icmpv6Header =
    {
        Type: byte
        Code: byte

        /// Echo: identifier and sequence number; packet too big: the MTU; parameter
        /// problem: the pointer; otherwise unused.
        RestOfHeader: uint32
    }

    member Identifier: uint16

    member SequenceNumber: uint16

    member Mtu: uint32

    /// Error messages have types 0-127, informational ones 128-255 (RFC 4443 2.1).
    member IsError: bool

/// The start of the packet an ICMPv6 error quotes: its header, the upper layer past any
/// extension headers, and that layer's first bytes (up to 8: ports and sequence number).
[<NoComparison; Struct>]
type QuotedOriginal6 =
    {
        Header: Ipv6Header
        Protocol: byte

        /// Up to the first 8 upper-layer bytes, most significant byte first.
        TransportPrefix: uint64
        TransportPrefixLength: int
    }

    member SourcePort: uint16 voption

    member DestinationPort: uint16 voption

    /// The quoted TCP sequence number, when the original was TCP and 8 bytes were quoted.
    member TcpSequenceNumber: uint32 voption

/// An ICMPv6 message as read from bytes.
[<NoComparison; Struct>]
type Icmpv6Packet =
    {
        Header: Icmpv6Header
        Checksum: uint16
        ChecksumValid: bool
        PayloadOffset: int
        PayloadLength: int

        /// For the error messages: the quoted original packet.
        Original: QuotedOriginal6 voption
    }

module Icmpv6 =

    [<Literal>]
    val HeaderLength: int = 8

    /// ICMPv6's next-header value (and its pseudo-header's protocol).
    [<Literal>]
    val Protocol: byte = 58uy

    /// The smallest MTU of any IPv6 link (RFC 8200 5): an error message with its quote
    /// fits in it (RFC 4443 2.4(c)).
    [<Literal>]
    val MinimumMtu: int = 1280

    val echoRequest: identifier: uint16 -> sequence: uint16 -> Icmpv6Header

    val echoReply: identifier: uint16 -> sequence: uint16 -> Icmpv6Header

    /// Codes: 0 no route, 1 administratively prohibited, 3 address unreachable, 4 port
    /// unreachable.
    val destinationUnreachable: code: byte -> Icmpv6Header

    val packetTooBig: mtu: uint32 -> Icmpv6Header

    val timeExceeded: code: byte -> Icmpv6Header

    /// Codes: 0 erroneous header field, 1 unrecognized next header, 2 unrecognized option;
    /// `pointer`: the offset in the quoted packet of the byte at fault.
    val parameterProblem: code: byte -> pointer: uint32 -> Icmpv6Header

    /// Reads the original packet an ICMPv6 error quotes.
    val tryParseQuoted: quote: System.ReadOnlySpan<byte> -> Result<QuotedOriginal6, ParseError>

    /// Reads an ICMPv6 message that fills `buf` exactly (the upper layer of an IPv6
    /// packet from `source` to `destination`) and verifies its checksum, which covers the
    /// IPv6 pseudo-header. Error messages must quote a readable IPv6 header.
    val tryParse:
        source: IpAddress ->
        destination: IpAddress ->
        buf: System.ReadOnlySpan<byte> ->
            Result<Icmpv6Packet, ParseError>

    /// `tryParse` that records the checksum's validity instead of enforcing it.
    val tryParseUnchecked:
        source: IpAddress ->
        destination: IpAddress ->
        buf: System.ReadOnlySpan<byte> ->
            Result<Icmpv6Packet, ParseError>

    /// Writes the header and `payload` into `dest` with the checksum for `source` and
    /// `destination` filled in and returns the length. Raises ArgumentException when
    /// `dest` is too small.
    val write:
        source: IpAddress ->
        destination: IpAddress ->
        h: Icmpv6Header ->
        payload: System.ReadOnlySpan<byte> ->
        dest: System.Span<byte> ->
            int
