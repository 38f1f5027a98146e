namespace Stack.Core.Wire

/// What an IPv4 packet carries, as far as this stack reads it.
type Transport =
    | TcpTransport of segment: TcpSegment * checksumValid: bool * options: TcpOption list
    | IcmpTransport of IcmpPacket

    /// A fragment (offset or more-fragments set): its transport header is not read.
    | Fragment

    /// A protocol this stack does not read (UDP among them, for now).
    | OtherProtocol of protocol: byte

    /// The transport header is malformed; the IPv4 header was fine.
    | TransportError of ParseError

/// A whole packet read for display or inspection: every layer, checksums reported, not
/// enforced. The fast path uses the per-layer parsers directly.
type DecodedPacket =
    {
        Ip: Ipv4Packet
        Transport: Transport

        /// Offset and length, in the decoded buffer, of the innermost payload (TCP data,
        /// ICMP body, or the IP payload when the transport was not read).
        PayloadOffset: int
        PayloadLength: int
    }

[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Packet =

    /// Reads every layer of the IPv4 packet at the start of `buf` without enforcing
    /// checksums. Fails only when the IPv4 header itself is unreadable.
    val decode: buf: System.ReadOnlySpan<byte> -> Result<DecodedPacket, ParseError>

    /// Writes a whole TCP/IPv4 packet: `ip` (its protocol and payload length are set
    /// here), `tcp` and `payload`, both checksums filled in. Returns the total length.
    [<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
    val writeTcp:
        ip: Ipv4Header -> tcp: TcpHeader -> payload: System.ReadOnlySpan<byte> -> dest: System.Span<byte> -> int

    /// Writes a whole ICMP/IPv4 packet, both checksums filled in. Returns the total length.
    val writeIcmp:
        ip: Ipv4Header -> icmp: IcmpHeader -> payload: System.ReadOnlySpan<byte> -> dest: System.Span<byte> -> int

    /// `writeTcp` into a new array of the right size.
    val tcpToArray: ip: Ipv4Header -> tcp: TcpHeader -> payload: System.ReadOnlySpan<byte> -> byte array

    /// `writeIcmp` into a new array of the right size.
    val icmpToArray: ip: Ipv4Header -> icmp: IcmpHeader -> payload: System.ReadOnlySpan<byte> -> byte array
