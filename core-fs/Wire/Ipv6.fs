namespace Stack.Core.Wire

open System
open System.Buffers.Binary

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

/// The fixed IPv6 header (RFC 8200 section 3).
[<Struct>]
type Ipv6Header =
    {
        TrafficClass: byte
        /// 20 bits.
        FlowLabel: uint32
        /// Bytes after the fixed header, extension headers included.
        PayloadLength: int
        NextHeader: byte
        HopLimit: byte
        Source: Ipv6Address
        Destination: Ipv6Address
    }

/// Where an IPv6 packet's upper-layer header starts, past the extension headers, and what
/// the fragment header said, if there was one.
[<Struct>]
type Ipv6Payload =
    {
        Header: Ipv6Header
        /// The upper-layer protocol (6 TCP, 58 ICMPv6, 59 none).
        Protocol: byte
        /// Offset of the upper-layer header from the packet's first byte.
        Offset: int
        /// The bytes from `Offset` to the end of the payload.
        Length: int
        /// A fragment header's offset in bytes, more-fragments flag and identification,
        /// when there was one.
        Fragment: struct (int * bool * uint32) voption
    }

module Ipv6 =
    /// The fixed header's length.
    [<Literal>]
    let HeaderLength = 40

    /// The most extension headers read before the upper layer: a chain longer than this
    /// is refused, so a crafted packet cannot make the walk long.
    [<Literal>]
    let MaxExtensionHeaders = 8

    [<Literal>]
    let private HopByHop = 0uy

    [<Literal>]
    let private Routing = 43uy

    [<Literal>]
    let private FragmentHeader = 44uy

    [<Literal>]
    let private DestinationOptions = 60uy

    [<Literal>]
    let private Authentication = 51uy

    /// Reads the fixed header: the version must be 6, and the payload length within the
    /// bytes given (bytes beyond it are ignored).
    let tryParseHeader (bytes: ReadOnlySpan<byte>) : Result<Ipv6Header, ParseError> =
        if bytes.Length < HeaderLength then
            Error(Truncated(Layer.Ipv6, "header", HeaderLength, bytes.Length))
        else
            let first = BinaryPrimitives.ReadUInt32BigEndian bytes
            let version = int (first >>> 28)
            let payloadLength = int (BinaryPrimitives.ReadUInt16BigEndian(bytes.Slice 4))

            if version <> 6 then
                Error(BadVersion version)
            elif HeaderLength + payloadLength > bytes.Length then
                Error(BadTotalLength(HeaderLength + payloadLength, HeaderLength, bytes.Length))
            else
                Ok
                    {
                        TrafficClass = byte ((first >>> 20) &&& 0xFFu)
                        FlowLabel = first &&& 0xFFFFFu
                        PayloadLength = payloadLength
                        NextHeader = bytes[6]
                        HopLimit = bytes[7]
                        Source = Ipv6Address.Read(bytes.Slice 8)
                        Destination = Ipv6Address.Read(bytes.Slice 24)
                    }

    /// Reads the fixed header and walks the extension headers to the upper layer
    /// (RFC 8200 section 4): hop-by-hop options (first only), routing, fragment,
    /// destination options and authentication; each within the payload, at most
    /// `MaxExtensionHeaders` of them. Any other next-header value is the upper layer.
    let tryParse (bytes: ReadOnlySpan<byte>) : Result<Ipv6Payload, ParseError> =
        match tryParseHeader bytes with
        | Error e -> Error e
        | Ok header ->
            let finish = HeaderLength + header.PayloadLength
            let mutable next = header.NextHeader
            let mutable offset = HeaderLength
            let mutable count = 0
            let mutable fragment = ValueNone
            let mutable error = ValueNone

            let isExtension (h: byte) =
                h = HopByHop
                || h = Routing
                || h = FragmentHeader
                || h = DestinationOptions
                || h = Authentication

            while error.IsNone && isExtension next do
                if next = HopByHop && count > 0 then
                    error <- ValueSome(Unsupported(Layer.Ipv6, "hop-by-hop options after another header"))
                elif count = MaxExtensionHeaders then
                    error <- ValueSome(Unsupported(Layer.Ipv6, $"more than {MaxExtensionHeaders} extension headers"))
                elif offset + 8 > finish then
                    error <- ValueSome(Truncated(Layer.Ipv6, "extension header", offset + 8, finish))
                else
                    let length =
                        if next = FragmentHeader then
                            8
                        elif next = Authentication then
                            (int bytes[offset + 1] + 2) * 4
                        else
                            (int bytes[offset + 1] + 1) * 8

                    if offset + length > finish then
                        error <- ValueSome(Truncated(Layer.Ipv6, "extension header", offset + length, finish))
                    else
                        if next = FragmentHeader then
                            let field = BinaryPrimitives.ReadUInt16BigEndian(bytes.Slice(offset + 2))
                            let id = BinaryPrimitives.ReadUInt32BigEndian(bytes.Slice(offset + 4))
                            fragment <- ValueSome(struct (int (field &&& 0xFFF8us), field &&& 1us = 1us, id))

                        next <- bytes[offset]
                        offset <- offset + length
                        count <- count + 1

            match error with
            | ValueSome e -> Error e
            | ValueNone ->
                Ok
                    {
                        Header = header
                        Protocol = next
                        Offset = offset
                        Length = finish - offset
                        Fragment = fragment
                    }

    /// Writes the fixed header into the first 40 bytes of `destination`; returns 40.
    let write (h: Ipv6Header) (destination: Span<byte>) =
        let first =
            (6u <<< 28) ||| (uint32 h.TrafficClass <<< 20) ||| (h.FlowLabel &&& 0xFFFFFu)

        BinaryPrimitives.WriteUInt32BigEndian(destination, first)
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice 4, uint16 h.PayloadLength)
        destination[6] <- h.NextHeader
        destination[7] <- h.HopLimit
        BinaryPrimitives.WriteUInt64BigEndian(destination.Slice 8, h.Source.High)
        BinaryPrimitives.WriteUInt64BigEndian(destination.Slice 16, h.Source.Low)
        BinaryPrimitives.WriteUInt64BigEndian(destination.Slice 24, h.Destination.High)
        BinaryPrimitives.WriteUInt64BigEndian(destination.Slice 32, h.Destination.Low)
        HeaderLength
