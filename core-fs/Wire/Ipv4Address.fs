namespace Stack.Core.Wire

open System
open System.Runtime.CompilerServices

/// An IPv4 address, held as the 32-bit number it is on the wire (most significant
/// octet first, so 10.0.0.1 is 0x0A000001).
[<Struct; IsReadOnly; CustomEquality; CustomComparison>]
type Ipv4Address =
    val Value: uint32
    new(value: uint32) = { Value = value }

    new(a: byte, b: byte, c: byte, d: byte) =
        {
            Value = (uint32 a <<< 24) ||| (uint32 b <<< 16) ||| (uint32 c <<< 8) ||| uint32 d
        }

    member x.Octets =
        [|
            byte (x.Value >>> 24)
            byte (x.Value >>> 16)
            byte (x.Value >>> 8)
            byte x.Value
        |]

    override x.ToString() =
        $"{x.Value >>> 24}.{(x.Value >>> 16) &&& 0xFFu}.{(x.Value >>> 8) &&& 0xFFu}.{x.Value &&& 0xFFu}"

    override x.Equals(o: obj) =
        match o with
        | :? Ipv4Address as other -> other.Value = x.Value
        | _ -> false

    override x.GetHashCode() = int x.Value

    interface IEquatable<Ipv4Address> with
        member x.Equals(other: Ipv4Address) = other.Value = x.Value

    interface IComparable<Ipv4Address> with
        member x.CompareTo(other: Ipv4Address) = compare x.Value other.Value

    interface IComparable with
        member x.CompareTo(o: obj) =
            match o with
            | :? Ipv4Address as other -> compare x.Value other.Value
            | _ -> invalidArg "o" "not an Ipv4Address"

    /// Whether a packet from this address can come from a peer at all (RFC 1122 3.2.1.3):
    /// not "this network" (0.0.0.0/8), loopback (127.0.0.0/8), multicast (224.0.0.0/4)
    /// or the reserved class E with the limited broadcast (240.0.0.0/4). Answering such a
    /// source would reflect to a group, a broadcast, or nobody.
    member x.CanBeSource =
        let first = x.Value >>> 24
        first <> 0u && first <> 127u && first < 224u

    /// Parses dotted-quad text ("10.0.0.1"); None for anything else.
    static member TryParse(text: string) : Ipv4Address option =
        if isNull text then
            None
        else
            let parts = text.Trim().Split('.')

            let octet (s: string) =
                match Byte.TryParse(s, Globalization.NumberStyles.None, Globalization.CultureInfo.InvariantCulture) with
                | true, b when s.Length <= 3 -> Some b
                | _ -> None

            if parts.Length <> 4 then
                None
            else
                match octet parts[0], octet parts[1], octet parts[2], octet parts[3] with
                | Some a, Some b, Some c, Some d -> Some(Ipv4Address(a, b, c, d))
                | _ -> None

    /// Parses dotted-quad text, raising FormatException with the text on failure.
    static member Parse(text: string) =
        match Ipv4Address.TryParse text with
        | Some a -> a
        | None -> raise (FormatException $"'{text}' is not an IPv4 address (expected four numbers 0-255 like 10.0.0.1)")
