namespace Stack.Core.Wire

module IcmpType =

    [<Literal>]
    val EchoReply: byte = 0uy

    [<Literal>]
    val DestinationUnreachable: byte = 3uy

    [<Literal>]
    val EchoRequest: byte = 8uy

    [<Literal>]
    val TimeExceeded: byte = 11uy

    val name: t: byte -> string

/// Codes of destination unreachable (RFC 792, RFC 1191, RFC 1812).
module UnreachableCode =

    val name: code: byte -> string

/// The 8-byte ICMPv4 header (RFC 792): type, code and the 32 bits whose meaning depends on
/// the type. The checksum follows from header and payload.
[<Struct>]
type IcmpHeader =
    {
        Type: byte
        Code: byte

        /// Echo: identifier and sequence number; fragmentation needed: next-hop MTU in the low
        /// 16 bits (RFC 1191); otherwise unused.
        RestOfHeader: uint32
    }

    member Identifier: uint16

    member IsError: bool

    member NextHopMtu: uint16

    member SequenceNumber: uint16

/// The start of the datagram an ICMP error quotes: its IPv4 header and the first bytes (up
/// to 8) of its payload, which hold the ports (and for TCP the sequence number).
[<NoComparison; Struct>]
type QuotedOriginal =
    {
        Header: Ipv4Header

        /// Up to the first 8 payload bytes, most significant byte first.
        TransportPrefix: uint64
        TransportPrefixLength: int
    }

    member DestinationPort: uint16 voption

    member SourcePort: uint16 voption

    /// The quoted TCP sequence number, when the original was TCP and 8 bytes were quoted.
    member TcpSequenceNumber: uint32 voption

/// An ICMPv4 message as read from bytes.
[<NoComparison; Struct>]
type IcmpPacket =
    {
        Header: IcmpHeader
        Checksum: uint16
        ChecksumValid: bool
        PayloadOffset: int
        PayloadLength: int

        /// For destination unreachable and time exceeded: the quoted original datagram.
        Original: QuotedOriginal voption
    }

module Icmpv4 =

    [<Literal>]
    val HeaderLength: int = 8

    val echoRequest: identifier: uint16 -> sequence: uint16 -> IcmpHeader

    val echoReply: identifier: uint16 -> sequence: uint16 -> IcmpHeader

    val destinationUnreachable: code: byte -> nextHopMtu: uint16 -> IcmpHeader

    val timeExceeded: code: byte -> IcmpHeader

    /// Reads the original datagram an ICMP error quotes.
    val tryParseQuoted: quote: System.ReadOnlySpan<byte> -> Result<QuotedOriginal, ParseError>

    /// Reads an ICMPv4 message that fills `buf` exactly (an IPv4 payload) and verifies its
    /// checksum. Errors (destination unreachable, time exceeded) must quote a readable
    /// IPv4 header.
    val tryParse: buf: System.ReadOnlySpan<byte> -> Result<IcmpPacket, ParseError>

    /// `tryParse` that records the checksum's validity instead of enforcing it.
    val tryParseUnchecked: buf: System.ReadOnlySpan<byte> -> Result<IcmpPacket, ParseError>

    /// Writes the header and `payload` into `dest` with the checksum filled in and returns
    /// the length. Raises ArgumentException when `dest` is too small.
    val write: h: IcmpHeader -> payload: System.ReadOnlySpan<byte> -> dest: System.Span<byte> -> int
