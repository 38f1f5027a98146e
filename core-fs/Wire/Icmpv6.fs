namespace Stack.Core.Wire

open System
open System.Buffers.Binary

/// ICMPv6 message types this stack reads or sends (RFC 4443).
module Icmpv6Type =
    [<Literal>]
    let DestinationUnreachable = 1uy

    [<Literal>]
    let PacketTooBig = 2uy

    [<Literal>]
    let TimeExceeded = 3uy

    [<Literal>]
    let ParameterProblem = 4uy

    [<Literal>]
    let EchoRequest = 128uy

    [<Literal>]
    let EchoReply = 129uy

    let name (t: byte) =
        match t with
        | DestinationUnreachable -> "destination unreachable"
        | PacketTooBig -> "packet too big"
        | TimeExceeded -> "time exceeded"
        | ParameterProblem -> "parameter problem"
        | EchoRequest -> "echo request"
        | EchoReply -> "echo reply"
        | 133uy -> "router solicitation"
        | 134uy -> "router advertisement"
        | 135uy -> "neighbor solicitation"
        | 136uy -> "neighbor advertisement"
        | 143uy -> "multicast listener report"
        | other -> $"type {other}"

/// The 8-byte ICMPv6 header: type, code and the 32 bits whose meaning depends on the type.
[<Struct>]
type Icmpv6Header =
    {
        Type: byte
        Code: byte
        /// Echo: identifier and sequence number; packet too big: the MTU; parameter
        /// problem: the pointer; otherwise unused.
        RestOfHeader: uint32
    }

    member h.Identifier = uint16 (h.RestOfHeader >>> 16)
    member h.SequenceNumber = uint16 h.RestOfHeader
    member h.Mtu = h.RestOfHeader

    /// Error messages have types 0-127, informational ones 128-255 (RFC 4443 2.1).
    member h.IsError = h.Type < 128uy

/// The start of the packet an ICMPv6 error quotes: its header, the upper layer past any
/// extension headers, and that layer's first bytes (up to 8: ports and sequence number).
[<Struct>]
type QuotedOriginal6 =
    {
        Header: Ipv6Header
        Protocol: byte
        /// Up to the first 8 upper-layer bytes, most significant byte first.
        TransportPrefix: uint64
        TransportPrefixLength: int
    }

    member q.SourcePort =
        if q.TransportPrefixLength >= 2 then
            ValueSome(uint16 (q.TransportPrefix >>> 48))
        else
            ValueNone

    member q.DestinationPort =
        if q.TransportPrefixLength >= 4 then
            ValueSome(uint16 (q.TransportPrefix >>> 32))
        else
            ValueNone

    /// The quoted TCP sequence number, when the original was TCP and 8 bytes were quoted.
    member q.TcpSequenceNumber =
        if q.TransportPrefixLength >= 8 && q.Protocol = IpProtocol.Tcp then
            ValueSome(uint32 q.TransportPrefix)
        else
            ValueNone

/// An ICMPv6 message as read from bytes.
[<Struct>]
type Icmpv6Packet =
    {
        Header: Icmpv6Header
        Checksum: uint16
        ChecksumValid: bool
        PayloadOffset: int
        PayloadLength: int
        /// For the error messages: the quoted original packet.
        Original: QuotedOriginal6 voption
    }

module Icmpv6 =
    [<Literal>]
    let HeaderLength = 8

    /// ICMPv6's next-header value (and its pseudo-header's protocol).
    [<Literal>]
    let Protocol = 58uy

    /// The smallest MTU of any IPv6 link (RFC 8200 5): an error message with its quote
    /// fits in it (RFC 4443 2.4(c)).
    [<Literal>]
    let MinimumMtu = 1280

    let private make (t: byte) (code: byte) (rest: uint32) =
        {
            Type = t
            Code = code
            RestOfHeader = rest
        }

    let echoRequest (identifier: uint16) (sequence: uint16) =
        make Icmpv6Type.EchoRequest 0uy ((uint32 identifier <<< 16) ||| uint32 sequence)

    let echoReply (identifier: uint16) (sequence: uint16) =
        make Icmpv6Type.EchoReply 0uy ((uint32 identifier <<< 16) ||| uint32 sequence)

    /// Codes: 0 no route, 1 administratively prohibited, 3 address unreachable, 4 port
    /// unreachable.
    let destinationUnreachable (code: byte) =
        make Icmpv6Type.DestinationUnreachable code 0u

    let packetTooBig (mtu: uint32) = make Icmpv6Type.PacketTooBig 0uy mtu

    let timeExceeded (code: byte) = make Icmpv6Type.TimeExceeded code 0u

    let parameterProblem (code: byte) (pointer: uint32) =
        make Icmpv6Type.ParameterProblem code pointer

    /// Reads the original packet an ICMPv6 error quotes.
    let tryParseQuoted (quote: ReadOnlySpan<byte>) : Result<QuotedOriginal6, ParseError> =
        match Ipv6.tryParseQuoted quote with
        | Error e -> Error(BadQuote e)
        | Ok ip ->
            let rest = quote.Slice ip.Offset
            let n = min 8 rest.Length
            let mutable prefix = 0UL

            for i in 0 .. n - 1 do
                prefix <- prefix ||| (uint64 rest[i] <<< (56 - 8 * i))

            Ok
                {
                    Header = ip.Header
                    Protocol = ip.Protocol
                    TransportPrefix = prefix
                    TransportPrefixLength = n
                }

    let private parse
        (policy: ChecksumPolicy)
        (source: IpAddress)
        (destination: IpAddress)
        (buf: ReadOnlySpan<byte>)
        : Result<Icmpv6Packet, ParseError> =
        if buf.Length < HeaderLength then
            Error(Truncated(Layer.Icmpv6, "header", HeaderLength, buf.Length))
        else
            let stored = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(2, 2))
            let valid = Checksum.isValidWithPseudoHeader source destination Protocol buf

            if policy.IsVerify && not valid then
                let pseudo = Checksum.pseudoHeader source destination Protocol buf.Length

                let zeroed =
                    Checksum.add (Checksum.add pseudo (Checksum.sum buf)) (uint32 (~~~stored))

                Error(BadChecksum(Layer.Icmpv6, stored, Checksum.finish zeroed))
            else
                let header =
                    {
                        Type = buf[0]
                        Code = buf[1]
                        RestOfHeader = BinaryPrimitives.ReadUInt32BigEndian(buf.Slice(4, 4))
                    }

                let payload = buf.Slice HeaderLength

                let original =
                    if header.IsError then
                        match tryParseQuoted payload with
                        | Ok q -> Ok(ValueSome q)
                        | Error e -> Error e
                    else
                        Ok ValueNone

                match original with
                | Error e -> Error e
                | Ok original ->
                    Ok
                        {
                            Header = header
                            Checksum = stored
                            ChecksumValid = valid
                            PayloadOffset = HeaderLength
                            PayloadLength = payload.Length
                            Original = original
                        }

    /// Reads an ICMPv6 message that fills `buf` exactly (the upper layer of an IPv6
    /// packet from `source` to `destination`) and verifies its checksum, which covers the
    /// IPv6 pseudo-header. Error messages must quote a readable IPv6 header.
    let tryParse (source: IpAddress) (destination: IpAddress) (buf: ReadOnlySpan<byte>) =
        parse Verify source destination buf

    /// `tryParse` that records the checksum's validity instead of enforcing it.
    let tryParseUnchecked (source: IpAddress) (destination: IpAddress) (buf: ReadOnlySpan<byte>) =
        parse Ignore source destination buf

    /// Writes the header and `payload` into `dest` with the checksum for `source` and
    /// `destination` filled in and returns the length. Raises ArgumentException when
    /// `dest` is too small.
    let write
        (source: IpAddress)
        (destination: IpAddress)
        (h: Icmpv6Header)
        (payload: ReadOnlySpan<byte>)
        (dest: Span<byte>)
        : int =
        let length = HeaderLength + payload.Length

        if dest.Length < length then
            invalidArg "dest" $"needs {length} bytes for the ICMPv6 message, has {dest.Length}"

        dest[0] <- h.Type
        dest[1] <- h.Code
        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(2, 2), 0us)
        BinaryPrimitives.WriteUInt32BigEndian(dest.Slice(4, 4), h.RestOfHeader)
        payload.CopyTo(dest.Slice HeaderLength)
        let pseudo = Checksum.pseudoHeader source destination Protocol length

        let sum =
            Checksum.add pseudo (Checksum.sum (Span<byte>.op_Implicit(dest.Slice(0, length))))

        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(2, 2), Checksum.finish sum)
        length
