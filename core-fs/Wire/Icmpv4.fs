namespace Stack.Core.Wire

open System
open System.Buffers.Binary

module IcmpType =
    [<Literal>]
    let EchoReply = 0uy

    [<Literal>]
    let DestinationUnreachable = 3uy

    [<Literal>]
    let EchoRequest = 8uy

    [<Literal>]
    let TimeExceeded = 11uy

    let name (t: byte) =
        match t with
        | EchoReply -> "echo reply"
        | DestinationUnreachable -> "destination unreachable"
        | EchoRequest -> "echo request"
        | TimeExceeded -> "time exceeded"
        | other -> $"type {other}"

/// Codes of destination unreachable (RFC 792, RFC 1191, RFC 1812).
module UnreachableCode =
    let name (code: byte) =
        match code with
        | 0uy -> "net unreachable"
        | 1uy -> "host unreachable"
        | 2uy -> "protocol unreachable"
        | 3uy -> "port unreachable"
        | 4uy -> "fragmentation needed"
        | 5uy -> "source route failed"
        | 9uy -> "network administratively prohibited"
        | 10uy -> "host administratively prohibited"
        | 13uy -> "communication administratively prohibited"
        | other -> $"code {other}"

/// The 8-byte ICMPv4 header (RFC 792): type, code and the 32 bits whose meaning depends on
/// the type. The checksum follows from header and payload.
[<Struct>]
type IcmpHeader =
    {
        Type: byte
        Code: byte
        /// Echo: identifier and sequence number; fragmentation needed: next-hop MTU in the low
        /// 16 bits (RFC 1191); otherwise unused.
        RestOfHeader: uint32
    }

    member h.Identifier = uint16 (h.RestOfHeader >>> 16)
    member h.SequenceNumber = uint16 h.RestOfHeader
    member h.NextHopMtu = uint16 h.RestOfHeader

    member h.IsError =
        h.Type = IcmpType.DestinationUnreachable || h.Type = IcmpType.TimeExceeded

/// The start of the datagram an ICMP error quotes: its IPv4 header and the first bytes (up
/// to 8) of its payload, which hold the ports (and for TCP the sequence number).
[<Struct>]
type QuotedOriginal =
    {
        Header: Ipv4Header
        /// Up to the first 8 payload bytes, most significant byte first.
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
        if q.TransportPrefixLength >= 8 && q.Header.Protocol = IpProtocol.Tcp then
            ValueSome(uint32 q.TransportPrefix)
        else
            ValueNone

/// An ICMPv4 message as read from bytes.
[<Struct>]
type IcmpPacket =
    {
        Header: IcmpHeader
        Checksum: uint16
        ChecksumValid: bool
        PayloadOffset: int
        PayloadLength: int
        /// For destination unreachable and time exceeded: the quoted original datagram.
        Original: QuotedOriginal voption
    }

module Icmpv4 =
    [<Literal>]
    let HeaderLength = 8

    let echoRequest (identifier: uint16) (sequence: uint16) =
        {
            Type = IcmpType.EchoRequest
            Code = 0uy
            RestOfHeader = (uint32 identifier <<< 16) ||| uint32 sequence
        }

    let echoReply (identifier: uint16) (sequence: uint16) =
        { echoRequest identifier sequence with
            Type = IcmpType.EchoReply
        }

    let destinationUnreachable (code: byte) (nextHopMtu: uint16) =
        {
            Type = IcmpType.DestinationUnreachable
            Code = code
            RestOfHeader = uint32 nextHopMtu
        }

    let timeExceeded (code: byte) =
        {
            Type = IcmpType.TimeExceeded
            Code = code
            RestOfHeader = 0u
        }

    /// Reads the original datagram an ICMP error quotes.
    let tryParseQuoted (quote: ReadOnlySpan<byte>) : Result<QuotedOriginal, ParseError> =
        match Ipv4.tryParseQuoted quote with
        | Error e -> Error(BadQuote e)
        | Ok ip ->
            let rest = quote.Slice ip.HeaderLength
            let n = min 8 rest.Length
            let mutable prefix = 0UL

            for i in 0 .. n - 1 do
                prefix <- prefix ||| (uint64 rest[i] <<< (56 - 8 * i))

            Ok
                {
                    Header = ip.Header
                    TransportPrefix = prefix
                    TransportPrefixLength = n
                }

    let private parse (policy: ChecksumPolicy) (buf: ReadOnlySpan<byte>) : Result<IcmpPacket, ParseError> =
        if buf.Length < HeaderLength then
            Error(Truncated(Layer.Icmpv4, "header", HeaderLength, buf.Length))
        else
            let stored = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(2, 2))
            let valid = Checksum.isValid buf

            if policy.IsVerify && not valid then
                let zeroed = Checksum.add (Checksum.sum buf) (uint32 (~~~stored))
                Error(BadChecksum(Layer.Icmpv4, stored, Checksum.finish zeroed))
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

    /// Reads an ICMPv4 message that fills `buf` exactly (an IPv4 payload) and verifies its
    /// checksum. Errors (destination unreachable, time exceeded) must quote a readable
    /// IPv4 header.
    let tryParse (buf: ReadOnlySpan<byte>) = parse Verify buf

    /// `tryParse` that records the checksum's validity instead of enforcing it.
    let tryParseUnchecked (buf: ReadOnlySpan<byte>) = parse Ignore buf

    /// Writes the header and `payload` into `dest` with the checksum filled in and returns
    /// the length. Raises ArgumentException when `dest` is too small.
    let write (h: IcmpHeader) (payload: ReadOnlySpan<byte>) (dest: Span<byte>) : int =
        let length = HeaderLength + payload.Length

        if dest.Length < length then
            invalidArg "dest" $"needs {length} bytes for the ICMP message, has {dest.Length}"

        dest[0] <- h.Type
        dest[1] <- h.Code
        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(2, 2), 0us)
        BinaryPrimitives.WriteUInt32BigEndian(dest.Slice(4, 4), h.RestOfHeader)
        payload.CopyTo(dest.Slice HeaderLength)
        let checksum = Checksum.compute (Span<byte>.op_Implicit(dest.Slice(0, length)))
        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(2, 2), checksum)
        length
