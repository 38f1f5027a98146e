namespace Stack.Core.Wire

/// An IPv4 address, held as the 32-bit number it is on the wire (most significant
/// octet first, so 10.0.0.1 is 0x0A000001).
[<System.Runtime.CompilerServices.IsReadOnly; CustomEquality; CustomComparison; Struct>]
type Ipv4Address =
    interface System.IComparable
    interface System.IComparable<Ipv4Address>
    interface System.IEquatable<Ipv4Address>

    new: a: byte * b: byte * c: byte * d: byte -> Ipv4Address

    new: value: uint32 -> Ipv4Address

    val Value: uint32

    /// Parses dotted-quad text, raising FormatException with the text on failure.
    static member Parse: text: string -> Ipv4Address

    /// Parses dotted-quad text ("10.0.0.1"); None for anything else.
    static member TryParse: text: string -> Ipv4Address option

    override Equals: o: obj -> bool

    override GetHashCode: unit -> int

    override ToString: unit -> string

    /// Whether a packet from this address can come from a peer at all (RFC 1122 3.2.1.3):
    /// not "this network" (0.0.0.0/8), loopback (127.0.0.0/8), multicast (224.0.0.0/4)
    /// or the reserved class E with the limited broadcast (240.0.0.0/4). Answering such a
    /// source would reflect to a group, a broadcast, or nobody.
    member CanBeSource: bool

    member Octets: byte array
