namespace Stack.Core.Wire

/// An IPv6 address: its 128 bits as two 64-bit halves, the most significant first, as on
/// the wire.
[<Struct>]
type Ipv6Address =
    {
        High: uint64
        Low: uint64
    }

    /// The address in its 16 bytes, as the wire carries it.
    member Bytes: byte array

    /// The address read from the first 16 bytes of `bytes`.
    static member Read: bytes: System.ReadOnlySpan<byte> -> Ipv6Address

    /// The address in RFC 5952's text form ("fd00::2").
    override ToString: unit -> string

    /// Parses IPv6 text; None for anything else (an IPv4 address included).
    static member TryParse: text: string -> Ipv6Address option

/// An address of either family, as one 128-bit value: an IPv4 address is held as its
/// IPv4-mapped IPv6 form (::ffff:a.b.c.d, RFC 4291 2.5.5.2), so a 4-tuple, a hash and a
/// comparison are the same code for both.
[<System.Runtime.CompilerServices.IsReadOnly; CustomEquality; CustomComparison; Struct>]
type IpAddress =
    interface System.IComparable
    interface System.IComparable<IpAddress>
    interface System.IEquatable<IpAddress>

    new: high: uint64 * low: uint64 -> IpAddress

    val High: uint64
    val Low: uint64

    static member OfIpv4: a: Ipv4Address -> IpAddress

    static member OfIpv6: a: Ipv6Address -> IpAddress

    /// An IPv4 address (in its mapped form), not an IPv6 one.
    member IsIpv4: bool

    /// The IPv4 address, for an address with `IsIpv4`.
    member Ipv4: Ipv4Address

    member Ipv6: Ipv6Address

    /// The pseudo-header's share of this address (RFC 8200 8.1), not folded: its four
    /// 32-bit halves added, which one's complement folding takes to the sum of its eight
    /// 16-bit words (2^16 is 1 modulo 0xFFFF). For a mapped IPv4 address the extra
    /// 0xFFFF adds nothing in one's complement, so the sum is the IPv4 one's.
    member WordSum: uint64

    override ToString: unit -> string

    /// The address with a port, as URLs write it: "10.0.0.1:7", "[fd00::1]:7".
    member WithPort: port: uint16 -> string

    override Equals: o: obj -> bool

    override GetHashCode: unit -> int

    /// Whether a packet from this address can come from a peer at all. IPv4: RFC 1122
    /// 3.2.1.3 (see `Ipv4Address.CanBeSource`). IPv6: not the unspecified address, not
    /// loopback, not multicast (ff00::/8, RFC 4291 2.7). An IPv4-mapped source on an IPv6
    /// packet (which RFC 4291 2.5.5.2 keeps off the wire) is refused where the packet is
    /// read: as a value of this type it is an IPv4 address.
    member CanBeSource: bool

    /// The .NET address: an IPv4 one for a mapped IPv4 address.
    member ToIPAddress: unit -> System.Net.IPAddress

    /// The address of a .NET address of either family (an IPv4-mapped IPv6 one becomes
    /// IPv4, as it is on the wire).
    static member OfIPAddress: a: System.Net.IPAddress -> IpAddress

    /// Parses IPv4 dotted-quad or IPv6 text; None for anything else.
    static member TryParse: text: string -> IpAddress option

    /// Parses either family, raising FormatException with the text on failure.
    static member Parse: text: string -> IpAddress
