namespace Stack.Core.Wire

open System
open System.Runtime.CompilerServices

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
    let decode (buf: ReadOnlySpan<byte>) : Result<DecodedPacket, ParseError> =
        match Ipv4.tryParseWith Ignore buf with
        | Error e -> Error e
        | Ok ip ->
            let h = ip.Header
            let body = buf.Slice(ip.PayloadOffset, ip.PayloadLength)

            let transport, offset, length =
                if h.MoreFragments || h.FragmentOffset <> 0us then
                    Fragment, 0, body.Length
                elif h.Protocol = IpProtocol.Tcp then
                    match Tcp.tryParseUnchecked body with
                    | Error e -> TransportError e, 0, body.Length
                    | Ok seg ->
                        let valid =
                            Tcp.checksumValid (IpAddress.OfIpv4 h.Source) (IpAddress.OfIpv4 h.Destination) body

                        match TcpOptions.toList seg.Header.Options with
                        | Ok options -> TcpTransport(seg, valid, options), seg.PayloadOffset, seg.PayloadLength
                        | Error e -> TransportError e, 0, body.Length
                elif h.Protocol = IpProtocol.Icmp then
                    match Icmpv4.tryParseUnchecked body with
                    | Error e -> TransportError e, 0, body.Length
                    | Ok icmp -> IcmpTransport icmp, icmp.PayloadOffset, icmp.PayloadLength
                else
                    OtherProtocol h.Protocol, 0, body.Length

            Ok
                {
                    Ip = ip
                    Transport = transport
                    PayloadOffset = ip.PayloadOffset + offset
                    PayloadLength = length
                }

    /// Reads every layer of the IPv6 packet at the start of `buf` without enforcing
    /// checksums. Fails only when the IPv6 header or its extension headers are unreadable.
    let decode6 (buf: ReadOnlySpan<byte>) : Result<DecodedPacket6, ParseError> =
        match Ipv6.tryParse buf with
        | Error e -> Error e
        | Ok ip ->
            let source = IpAddress.OfIpv6 ip.Header.Source
            let destination = IpAddress.OfIpv6 ip.Header.Destination
            let body = buf.Slice(ip.Offset, ip.Length)

            let transport, offset, length =
                match ip.Fragment with
                | ValueSome f when f.More || f.Offset <> 0 -> Fragment, 0, body.Length
                | _ when ip.Protocol = IpProtocol.Tcp ->
                    match Tcp.tryParseUnchecked body with
                    | Error e -> TransportError e, 0, body.Length
                    | Ok seg ->
                        let valid = Tcp.checksumValid source destination body

                        match TcpOptions.toList seg.Header.Options with
                        | Ok options -> TcpTransport(seg, valid, options), seg.PayloadOffset, seg.PayloadLength
                        | Error e -> TransportError e, 0, body.Length
                | _ when ip.Protocol = Icmpv6.Protocol ->
                    match Icmpv6.tryParseUnchecked source destination body with
                    | Error e -> TransportError e, 0, body.Length
                    | Ok icmp -> Icmpv6Transport icmp, icmp.PayloadOffset, icmp.PayloadLength
                | _ -> OtherProtocol ip.Protocol, 0, body.Length

            Ok
                {
                    Ip = ip
                    Transport = transport
                    PayloadOffset = ip.Offset + offset
                    PayloadLength = length
                }

    /// Reads a packet of either family, by its version nibble.
    let decodeAny (buf: ReadOnlySpan<byte>) : Result<Decoded, ParseError> =
        if not buf.IsEmpty && buf[0] >>> 4 = 6uy then
            decode6 buf |> Result.map V6
        else
            decode buf |> Result.map V4

    /// Writes a whole TCP packet of either family from `source` to `destination` (an
    /// IPv4 header with DF and no options, or an IPv6 header with `flowLabel`), the
    /// checksum filled in. Returns the total length.
    let writeTcpBetween
        (source: IpAddress)
        (destination: IpAddress)
        (ttl: byte)
        (flowLabel: uint32)
        (tcp: inref<TcpHeader>)
        (payload: ReadOnlySpan<byte>)
        (dest: Span<byte>)
        : int =
        let segmentLength = tcp.HeaderLength + payload.Length

        let ipLength =
            if destination.IsIpv4 then
                Ipv4.writePlain IpProtocol.Tcp source.Ipv4 destination.Ipv4 ttl segmentLength dest
            else
                Ipv6.writePlain IpProtocol.Tcp source destination ttl flowLabel segmentLength dest

        ipLength
        + Tcp.writeSegmentInto source destination &tcp payload (dest.Slice ipLength)

    /// `writeTcpBetween` for a segment without payload, into a new array.
    let tcpBetweenToArray (source: IpAddress) (destination: IpAddress) (ttl: byte) (tcp: TcpHeader) : byte array =
        let ipLength =
            if destination.IsIpv4 then
                Ipv4.MinHeaderLength
            else
                Ipv6.HeaderLength

        let buf = Array.zeroCreate (ipLength + tcp.HeaderLength)

        writeTcpBetween source destination ttl 0u &tcp ReadOnlySpan.Empty (Span buf)
        |> ignore

        buf

    /// A whole ICMPv6/IPv6 packet, the checksum filled in, in a new array.
    let icmpv6ToArray
        (source: IpAddress)
        (destination: IpAddress)
        (hopLimit: byte)
        (icmp: Icmpv6Header)
        (payload: ReadOnlySpan<byte>)
        : byte array =
        let length = Icmpv6.HeaderLength + payload.Length
        let buf = Array.zeroCreate (Ipv6.HeaderLength + length)

        Ipv6.writePlain Icmpv6.Protocol source destination hopLimit 0u length (Span buf)
        |> ignore

        Icmpv6.write source destination icmp payload (Span(buf, Ipv6.HeaderLength, length))
        |> ignore

        buf

    /// Writes a whole TCP/IPv4 packet: `ip` (its protocol and payload length are set
    /// here), `tcp` and `payload`, both checksums filled in. Returns the total length.
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let writeTcp (ip: Ipv4Header) (tcp: TcpHeader) (payload: ReadOnlySpan<byte>) (dest: Span<byte>) : int =
        let segmentLength = tcp.HeaderLength + payload.Length
        let ipLength = Ipv4.writeWith ip IpProtocol.Tcp segmentLength dest

        Tcp.writeSegment
            (IpAddress.OfIpv4 ip.Source)
            (IpAddress.OfIpv4 ip.Destination)
            tcp
            payload
            (dest.Slice ipLength)
        + ipLength

    /// Writes a whole ICMP/IPv4 packet, both checksums filled in. Returns the total length.
    let writeIcmp (ip: Ipv4Header) (icmp: IcmpHeader) (payload: ReadOnlySpan<byte>) (dest: Span<byte>) : int =
        let ipLength =
            Ipv4.writeWith ip IpProtocol.Icmp (Icmpv4.HeaderLength + payload.Length) dest

        Icmpv4.write icmp payload (dest.Slice ipLength) + ipLength

    /// `writeTcp` into a new array of the right size.
    let tcpToArray (ip: Ipv4Header) (tcp: TcpHeader) (payload: ReadOnlySpan<byte>) : byte array =
        let buf = Array.zeroCreate (ip.HeaderLength + tcp.HeaderLength + payload.Length)
        writeTcp ip tcp payload (Span buf) |> ignore
        buf

    /// `writeIcmp` into a new array of the right size.
    let icmpToArray (ip: Ipv4Header) (icmp: IcmpHeader) (payload: ReadOnlySpan<byte>) : byte array =
        let buf = Array.zeroCreate (ip.HeaderLength + Icmpv4.HeaderLength + payload.Length)
        writeIcmp ip icmp payload (Span buf) |> ignore
        buf
