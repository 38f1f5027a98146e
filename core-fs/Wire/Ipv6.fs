namespace Stack.Core.Wire

open System
open System.Buffers.Binary

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

/// What an IPv6 fragment header says (RFC 8200 4.5).
[<Struct>]
type Ipv6Fragment =
    {
        /// Where this fragment's data goes in the original payload, in bytes.
        Offset: int
        More: bool
        Identification: uint32
        /// The header that follows the fragment header in the original packet.
        NextHeader: byte
        /// Where this fragment's data starts in the packet: just past the fragment header.
        DataStart: int
    }

/// Where an IPv6 packet's upper-layer header starts, past the extension headers, and what
/// the fragment header said, if there was one.
[<Struct>]
type Ipv6Payload =
    {
        Header: Ipv6Header
        /// The upper-layer protocol (6 TCP, 58 ICMPv6, 59 none).
        Protocol: byte

        /// Offset of the next-header field that names `Protocol` (for a parameter problem
        /// that points at it).
        ProtocolAt: int
        /// Offset of the upper-layer header from the packet's first byte.
        Offset: int
        /// The bytes from `Offset` to the end of the payload.
        Length: int
        /// The fragment header, when there was one. Past a fragment that is not the
        /// first, the walk stops: its data is not a header.
        Fragment: Ipv6Fragment voption
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

    /// The fixed header's fields, from at least 40 bytes.
    let private readFixed (bytes: ReadOnlySpan<byte>) (first: uint32) =
        {
            TrafficClass = byte ((first >>> 20) &&& 0xFFu)
            FlowLabel = first &&& 0xFFFFFu
            PayloadLength = int (BinaryPrimitives.ReadUInt16BigEndian(bytes.Slice 4))
            NextHeader = bytes[6]
            HopLimit = bytes[7]
            Source = Ipv6Address.Read(bytes.Slice 8)
            Destination = Ipv6Address.Read(bytes.Slice 24)
        }

    /// Reads the fixed header: the version must be 6, and the payload length within the
    /// bytes given (bytes beyond it are ignored).
    let tryParseHeader (bytes: ReadOnlySpan<byte>) : Result<Ipv6Header, ParseError> =
        if bytes.Length < HeaderLength then
            Error(Truncated(Layer.Ipv6, "header", HeaderLength, bytes.Length))
        else
            let first = BinaryPrimitives.ReadUInt32BigEndian bytes
            let version = int (first >>> 28)
            let header = readFixed bytes first

            if version <> 6 then
                Error(BadVersion version)
            elif HeaderLength + header.PayloadLength > bytes.Length then
                Error(BadTotalLength(HeaderLength + header.PayloadLength, HeaderLength, bytes.Length))
            else
                Ok header

    let private isExtension (h: byte) =
        h = HopByHop
        || h = Routing
        || h = FragmentHeader
        || h = DestinationOptions
        || h = Authentication

    /// The first problem among the options of a hop-by-hop or destination options
    /// header at `start`, `length` bytes long (RFC 8200 4.2): an option running past the
    /// header, or one whose type's two high bits say not to skip it when unrecognized
    /// (01 discard; 10 and 11 discard and answer; Pad1 and PadN are all this host knows).
    let private optionProblem (bytes: ReadOnlySpan<byte>) (start: int) (length: int) =
        let finish = start + length
        let mutable at = start + 2
        let mutable problem = ValueNone

        while problem.IsNone && at < finish do
            let kind = bytes[at]

            if kind = 0uy then
                at <- at + 1
            elif at + 2 > finish || at + 2 + int bytes[at + 1] > finish then
                problem <- ValueSome(BadOptionLength(Layer.Ipv6, kind, finish - at, at))
            else
                match kind >>> 6 with
                | 0uy -> at <- at + 2 + int bytes[at + 1]
                | 1uy -> problem <- ValueSome(Unsupported(Layer.Ipv6, $"option type {kind}, which says to discard"))
                | _ -> problem <- ValueSome(Ipv6ParameterProblem(2uy, at, $"unrecognized option type {kind}"))

        problem

    /// Walks the extension headers after the fixed header, up to `finish`; `received`
    /// also acts on their options and routing, as a packet addressed to us asks.
    let private walk
        (bytes: ReadOnlySpan<byte>)
        (header: Ipv6Header)
        (finish: int)
        (received: bool)
        : Result<Ipv6Payload, ParseError> =
        let mutable next = header.NextHeader
        let mutable nextAt = 6
        let mutable offset = HeaderLength
        let mutable count = 0
        let mutable fragment = ValueNone
        let mutable error = ValueNone
        let mutable stop = false

        while error.IsNone && not stop && isExtension next do
            if next = HopByHop && count > 0 then
                error <- ValueSome(Ipv6ParameterProblem(1uy, nextAt, "hop-by-hop options after another header"))
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
                elif received && (next = HopByHop || next = DestinationOptions) then
                    error <- optionProblem bytes offset length
                // A host is the end of any route: one with segments left cannot be followed.
                elif received && next = Routing && bytes[offset + 3] <> 0uy then
                    error <- ValueSome(Ipv6ParameterProblem(0uy, offset + 2, "a routing header with segments left"))

                if error.IsSome then
                    ()
                else
                    let isFragment = next = FragmentHeader

                    if isFragment then
                        let field = BinaryPrimitives.ReadUInt16BigEndian(bytes.Slice(offset + 2))

                        fragment <-
                            ValueSome
                                {
                                    Offset = int (field &&& 0xFFF8us)
                                    More = field &&& 1us = 1us
                                    Identification = BinaryPrimitives.ReadUInt32BigEndian(bytes.Slice(offset + 4))
                                    NextHeader = bytes[offset]
                                    DataStart = offset + 8
                                }

                    next <- bytes[offset]
                    nextAt <- offset
                    offset <- offset + length
                    count <- count + 1

                    // A later fragment's data starts here and is not a header.
                    if isFragment && fragment.Value.Offset <> 0 then
                        stop <- true

        match error with
        | ValueSome e -> Error e
        | ValueNone ->
            Ok
                {
                    Header = header
                    Protocol = next
                    ProtocolAt = nextAt
                    Offset = offset
                    Length = finish - offset
                    Fragment = fragment
                }

    /// Reads the fixed header and walks the extension headers to the upper layer
    /// (RFC 8200 section 4): hop-by-hop options (first only), routing, fragment,
    /// destination options and authentication; each within the payload, at most
    /// `MaxExtensionHeaders` of them. Any other next-header value is the upper layer.
    /// As the packet's destination would (RFC 8200 4.2, 4.4): an option this reader does
    /// not know whose type says not to skip it, or a routing header with segments left,
    /// is an error (`Ipv6ParameterProblem` when the RFC says to answer).
    let tryParse (bytes: ReadOnlySpan<byte>) : Result<Ipv6Payload, ParseError> =
        match tryParseHeader bytes with
        | Error e -> Error e
        | Ok header -> walk bytes header (HeaderLength + header.PayloadLength) true

    /// Reads the start of a packet an ICMPv6 error quotes (RFC 4443 2.4(c)): the quote
    /// may stop anywhere after the fixed header, so the payload length is not checked and
    /// `Length` is what was quoted. Extension headers must lie within the quote.
    let tryParseQuoted (bytes: ReadOnlySpan<byte>) : Result<Ipv6Payload, ParseError> =
        if bytes.Length < HeaderLength then
            Error(Truncated(Layer.Ipv6, "header", HeaderLength, bytes.Length))
        else
            let first = BinaryPrimitives.ReadUInt32BigEndian bytes

            if first >>> 28 <> 6u then
                Error(BadVersion(int (first >>> 28)))
            else
                walk bytes (readFixed bytes first) bytes.Length false

    /// Writes a fixed header with no extension headers, traffic class 0, and the given
    /// fields into the first 40 bytes of `destination`; returns 40.
    let writePlain
        (nextHeader: byte)
        (source: IpAddress)
        (destination: IpAddress)
        (hopLimit: byte)
        (flowLabel: uint32)
        (payloadLength: int)
        (dest: Span<byte>)
        =
        if payloadLength < 0 || payloadLength > 0xFFFF || dest.Length < HeaderLength then
            invalidArg "dest" $"cannot write an IPv6 header for {payloadLength} payload bytes into {dest.Length}"

        BinaryPrimitives.WriteUInt32BigEndian(dest, (6u <<< 28) ||| (flowLabel &&& 0xFFFFFu))
        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice 4, uint16 payloadLength)
        dest[6] <- nextHeader
        dest[7] <- hopLimit
        BinaryPrimitives.WriteUInt64BigEndian(dest.Slice 8, source.High)
        BinaryPrimitives.WriteUInt64BigEndian(dest.Slice 16, source.Low)
        BinaryPrimitives.WriteUInt64BigEndian(dest.Slice 24, destination.High)
        BinaryPrimitives.WriteUInt64BigEndian(dest.Slice 32, destination.Low)
        HeaderLength

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
