/// Readable text for every layer: multi-line blocks in the manner of the seed's
/// `pp_ip_packet`, and one-line summaries for packet logs.
module Stack.Core.Wire.Pretty

/// Flag names, lowest bit first (so a SYN-ACK reads "SYN, ACK").
val flagNames: flags: Stack.Core.Wire.TcpFlags -> string list

val flags: f: Stack.Core.Wire.TcpFlags -> string

val option: o: Stack.Core.Wire.TcpOption -> string

val options: opts: Stack.Core.Wire.TcpOption list -> string

/// The IPv4 header as a block of labelled lines.
val ipv4: p: Stack.Core.Wire.Ipv4Packet -> string

/// The TCP header as a block of labelled lines.
val tcp: seg: Stack.Core.Wire.TcpSegment -> checksumValid: bool -> opts: Stack.Core.Wire.TcpOption list -> string

/// The ICMP message as a block of labelled lines.
val icmp: m: Stack.Core.Wire.IcmpPacket -> string

/// Every layer of a decoded packet, one block each.
val decoded: d: Stack.Core.Wire.DecodedPacket -> string

/// The IPv6 header and its extension headers' outcome as a block of labelled lines.
val ipv6: p: Stack.Core.Wire.Ipv6Payload -> string

/// The ICMPv6 message as a block of labelled lines.
val icmpv6: m: Stack.Core.Wire.Icmpv6Packet -> string

/// Every layer of a decoded IPv6 packet, one block each.
val decoded6: d: Stack.Core.Wire.DecodedPacket6 -> string

/// Every layer of the packet at the start of `buf`, or why it cannot be read.
val packet: buf: System.ReadOnlySpan<byte> -> string

/// One line for a decoded packet, in the manner of tcpdump.
val summaryOf: d: Stack.Core.Wire.DecodedPacket -> string

/// One line for a decoded IPv6 packet, in the manner of tcpdump.
val summaryOf6: d: Stack.Core.Wire.DecodedPacket6 -> string

/// One line for the packet at the start of `buf`.
val summary: buf: System.ReadOnlySpan<byte> -> string

/// Bytes as hex in rows of 16, each row led by its offset.
val hexDump: bytes: System.ReadOnlySpan<byte> -> string
