namespace Stack.Core.Wire

/// What an IP packet carries, as far as this stack reads it.
type Transport =
    | TcpTransport of segment: TcpSegment * checksumValid: bool * options: TcpOption list
    | IcmpTransport of IcmpPacket
    | Icmpv6Transport of Icmpv6Packet

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

/// An IPv6 packet read for display or inspection, as `DecodedPacket` is for IPv4.
type DecodedPacket6 =
    {
        Ip: Ipv6Payload
        Transport: Transport

        /// Offset and length, in the decoded buffer, of the innermost payload.
        PayloadOffset: int
        PayloadLength: int
    }

/// A packet of either family, read by `Packet.decodeAny`.
type Decoded =
    | V4 of DecodedPacket
    | V6 of DecodedPacket6

[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Packet =

    /// Reads every layer of the IPv4 packet at the start of `buf` without enforcing
    /// checksums. Fails only when the IPv4 header itself is unreadable.
    val decode: buf: System.ReadOnlySpan<byte> -> Result<DecodedPacket, ParseError>

    /// Reads every layer of the IPv6 packet at the start of `buf` without enforcing
    /// checksums. Fails only when the IPv6 header or its extension headers are unreadable.
    val decode6: buf: System.ReadOnlySpan<byte> -> Result<DecodedPacket6, ParseError>

    /// Reads a packet of either family, by its version nibble.
    val decodeAny: buf: System.ReadOnlySpan<byte> -> Result<Decoded, ParseError>

    /// Writes a whole TCP packet of either family from `source` to `destination` (an
    /// IPv4 header with DF and no options, or an IPv6 header with `flowLabel`), the
    /// checksum filled in. Returns the total length.
    val writeTcpBetween:
        source: IpAddress ->
        destination: IpAddress ->
        ttl: byte ->
        flowLabel: uint32 ->
        tcp: inref<TcpHeader> ->
        payload: System.ReadOnlySpan<byte> ->
        dest: System.Span<byte> ->
            int

    /// `writeTcpBetween` for a segment without payload, into a new array.
    val tcpBetweenToArray: source: IpAddress -> destination: IpAddress -> ttl: byte -> tcp: TcpHeader -> byte array

    /// A whole ICMPv6/IPv6 packet, the checksum filled in, in a new array.
    val icmpv6ToArray:
        source: IpAddress ->
        destination: IpAddress ->
        hopLimit: byte ->
        icmp: Icmpv6Header ->
        payload: System.ReadOnlySpan<byte> ->
            byte array

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
