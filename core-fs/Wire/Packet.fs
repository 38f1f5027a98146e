namespace Stack.Core.Wire

open System
open System.Runtime.CompilerServices

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
                        let valid = Tcp.checksumValid h.Source h.Destination body

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

    /// Writes a whole TCP/IPv4 packet: `ip` (its protocol and payload length are set
    /// here), `tcp` and `payload`, both checksums filled in. Returns the total length.
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let writeTcp (ip: Ipv4Header) (tcp: TcpHeader) (payload: ReadOnlySpan<byte>) (dest: Span<byte>) : int =
        let segmentLength = tcp.HeaderLength + payload.Length
        let ipLength = Ipv4.writeWith ip IpProtocol.Tcp segmentLength dest

        Tcp.writeSegment ip.Source ip.Destination tcp payload (dest.Slice ipLength)
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
