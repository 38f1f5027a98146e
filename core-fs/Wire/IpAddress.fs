namespace Stack.Core.Wire

open System
open System.Buffers.Binary
open System.Runtime.CompilerServices

/// An IPv6 address: its 128 bits as two 64-bit halves, the most significant first, as on
/// the wire.
[<Struct>]
type Ipv6Address =
    {
        High: uint64
        Low: uint64
    }

    /// The address in its 16 bytes, as the wire carries it.
    member a.Bytes =
        let bytes = Array.zeroCreate<byte> 16
        BinaryPrimitives.WriteUInt64BigEndian(Span(bytes, 0, 8), a.High)
        BinaryPrimitives.WriteUInt64BigEndian(Span(bytes, 8, 8), a.Low)
        bytes

    /// The address read from the first 16 bytes of `bytes`.
    static member Read(bytes: ReadOnlySpan<byte>) =
        {
            High = BinaryPrimitives.ReadUInt64BigEndian bytes
            Low = BinaryPrimitives.ReadUInt64BigEndian(bytes.Slice 8)
        }

    /// The address in RFC 5952's text form ("fd00::2").
    override a.ToString() =
        Net.IPAddress(ReadOnlySpan(a.Bytes)).ToString()

    /// Parses IPv6 text; None for anything else (an IPv4 address included).
    static member TryParse(text: string) =
        match Net.IPAddress.TryParse text with
        | true, ip when ip.AddressFamily = Net.Sockets.AddressFamily.InterNetworkV6 && ip.ScopeId = 0L ->
            Some(Ipv6Address.Read(ReadOnlySpan(ip.GetAddressBytes())))
        | _ -> None

/// An address of either family, as one 128-bit value: an IPv4 address is held as its
/// IPv4-mapped IPv6 form (::ffff:a.b.c.d, RFC 4291 2.5.5.2), so a 4-tuple, a hash and a
/// comparison are the same code for both.
[<Struct; IsReadOnly; CustomEquality; CustomComparison>]
type IpAddress =
    val High: uint64
    val Low: uint64
    new(high: uint64, low: uint64) = { High = high; Low = low }

    static member OfIpv4(a: Ipv4Address) =
        IpAddress(0UL, 0xFFFF_0000_0000UL ||| uint64 a.Value)

    static member OfIpv6(a: Ipv6Address) = IpAddress(a.High, a.Low)

    /// An IPv4 address (in its mapped form), not an IPv6 one.
    member x.IsIpv4 = x.High = 0UL && (x.Low >>> 32) = 0xFFFFUL

    /// The IPv4 address, for an address with `IsIpv4`.
    member x.Ipv4 = Ipv4Address(uint32 x.Low)

    member x.Ipv6 = { High = x.High; Low = x.Low }

    /// The pseudo-header's share of this address (RFC 8200 8.1), not folded: its four
    /// 32-bit halves added, which one's complement folding takes to the sum of its eight
    /// 16-bit words (2^16 is 1 modulo 0xFFFF). For a mapped IPv4 address the extra
    /// 0xFFFF adds nothing in one's complement, so the sum is the IPv4 one's.
    member x.WordSum =
        (x.High >>> 32)
        + (x.High &&& 0xFFFF_FFFFUL)
        + (x.Low >>> 32)
        + (x.Low &&& 0xFFFF_FFFFUL)

    override x.ToString() =
        if x.IsIpv4 then x.Ipv4.ToString() else x.Ipv6.ToString()

    /// The address with a port, as URLs write it: "10.0.0.1:7", "[fd00::1]:7".
    member x.WithPort(port: uint16) =
        if x.IsIpv4 then $"{x}:{port}" else $"[{x}]:{port}"

    override x.Equals(o: obj) =
        match o with
        | :? IpAddress as other -> other.High = x.High && other.Low = x.Low
        | _ -> false

    override x.GetHashCode() = HashCode.Combine(x.High, x.Low)

    interface IEquatable<IpAddress> with
        member x.Equals(other: IpAddress) =
            other.High = x.High && other.Low = x.Low

    interface IComparable<IpAddress> with
        member x.CompareTo(other: IpAddress) =
            let c = compare x.High other.High
            if c <> 0 then c else compare x.Low other.Low

    interface IComparable with
        member x.CompareTo(o: obj) =
            match o with
            | :? IpAddress as other -> (x :> IComparable<IpAddress>).CompareTo other
            | _ -> invalidArg "o" "not an IpAddress"

    /// Whether a packet from this address can come from a peer at all. IPv4: RFC 1122
    /// 3.2.1.3 (see `Ipv4Address.CanBeSource`). IPv6: not the unspecified address, not
    /// loopback, not multicast (ff00::/8, RFC 4291 2.7). An IPv4-mapped source on an IPv6
    /// packet (which RFC 4291 2.5.5.2 keeps off the wire) is refused where the packet is
    /// read: as a value of this type it is an IPv4 address.
    member x.CanBeSource =
        if x.IsIpv4 then
            x.Ipv4.CanBeSource
        else
            let unspecifiedOrLoopback = x.High = 0UL && x.Low <= 1UL
            let multicast = (x.High >>> 56) = 0xFFUL
            not unspecifiedOrLoopback && not multicast

    /// The .NET address: an IPv4 one for a mapped IPv4 address.
    member x.ToIPAddress() =
        if x.IsIpv4 then
            Net.IPAddress(x.Ipv4.Octets)
        else
            Net.IPAddress(ReadOnlySpan(x.Ipv6.Bytes))

    /// The address of a .NET address of either family (an IPv4-mapped IPv6 one becomes
    /// IPv4, as it is on the wire).
    static member OfIPAddress(a: Net.IPAddress) =
        let bytes = a.GetAddressBytes()

        if bytes.Length = 4 then
            IpAddress.OfIpv4(Ipv4Address(bytes[0], bytes[1], bytes[2], bytes[3]))
        else
            IpAddress.OfIpv6(Ipv6Address.Read(ReadOnlySpan bytes))

    /// Parses IPv4 dotted-quad or IPv6 text; None for anything else.
    static member TryParse(text: string) : IpAddress option =
        match Ipv4Address.TryParse text with
        | Some a -> Some(IpAddress.OfIpv4 a)
        | None -> Ipv6Address.TryParse text |> Option.map IpAddress.OfIpv6

    /// Parses either family, raising FormatException with the text on failure.
    static member Parse(text: string) =
        match IpAddress.TryParse text with
        | Some a -> a
        | None ->
            raise (FormatException $"'{text}' is not an IP address (expected IPv4 like 10.0.0.1 or IPv6 like fd00::1)")
