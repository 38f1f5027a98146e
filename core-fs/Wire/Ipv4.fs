namespace Stack.Core.Wire

open System
open System.Buffers.Binary

/// IP protocol numbers this stack knows by name.
module IpProtocol =
    [<Literal>]
    let Icmp = 1uy

    [<Literal>]
    let Tcp = 6uy

    [<Literal>]
    let Udp = 17uy

    let name (p: byte) =
        match p with
        | Icmp -> "ICMP"
        | Tcp -> "TCP"
        | Udp -> "UDP"
        | other -> $"protocol {other}"

/// An IPv4 header (RFC 791) as values. The checksum and the lengths on the wire follow
/// from it: `Ipv4.write` computes them.
[<Struct>]
type Ipv4Header =
    {
        /// DSCP (upper 6 bits) and ECN (lower 2 bits).
        Tos: byte
        Identification: uint16
        /// The reserved flag bit; always false on a sane network, kept so bytes roundtrip.
        ReservedFlag: bool
        DontFragment: bool
        MoreFragments: bool
        /// Fragment offset in 8-byte units (13 bits).
        FragmentOffset: uint16
        Ttl: byte
        Protocol: byte
        Source: Ipv4Address
        Destination: Ipv4Address
        /// Option bytes as on the wire; `write` pads them with zeros to a multiple of 4.
        Options: OptionBytes
        /// Bytes after the header (total length minus header length).
        PayloadLength: int
    }

    /// Header length in bytes: 20 plus the options rounded up to 4.
    member h.HeaderLength = 20 + ((h.Options.Length + 3) &&& ~~~3)
    member h.TotalLength = h.HeaderLength + h.PayloadLength

/// An IPv4 packet as read from bytes: the header plus what the wire said about it.
[<Struct>]
type Ipv4Packet =
    {
        Header: Ipv4Header
        /// The checksum field as stored.
        Checksum: uint16
        ChecksumValid: bool
    }

    member p.HeaderLength = p.Header.HeaderLength
    member p.TotalLength = p.Header.TotalLength
    /// Where the payload starts in the parsed buffer.
    member p.PayloadOffset = p.Header.HeaderLength
    member p.PayloadLength = p.Header.PayloadLength

module Ipv4 =
    [<Literal>]
    let MinHeaderLength = 20

    [<Literal>]
    let MaxTotalLength = 65535

    /// A header with common defaults (TTL 64, DF set, no options) for the given endpoints.
    let header (protocol: byte) (source: Ipv4Address) (destination: Ipv4Address) (payloadLength: int) =
        {
            Tos = 0uy
            Identification = 0us
            ReservedFlag = false
            DontFragment = true
            MoreFragments = false
            FragmentOffset = 0us
            Ttl = 64uy
            Protocol = protocol
            Source = source
            Destination = destination
            Options = OptionBytes.Empty
            PayloadLength = payloadLength
        }

    let private readAddress (buf: ReadOnlySpan<byte>) (offset: int) =
        Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(buf.Slice(offset, 4)))

    /// Reads the header; `quoted` skips the total-length check against the buffer, for the
    /// original header that an ICMP error quotes (it arrives without most of its payload).
    let private parse
        (policy: ChecksumPolicy)
        (quoted: bool)
        (buf: ReadOnlySpan<byte>)
        : Result<Ipv4Packet, ParseError> =
        if buf.Length < MinHeaderLength then
            Error(Truncated(Layer.Ipv4, "fixed header", MinHeaderLength, buf.Length))
        else
            let version = int (buf[0] >>> 4)
            let headerLength = int (buf[0] &&& 0x0Fuy) * 4
            let totalLength = int (BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(2, 2)))

            if version <> 4 then
                Error(BadVersion version)
            elif headerLength < MinHeaderLength then
                Error(BadHeaderLength(Layer.Ipv4, headerLength))
            elif headerLength > buf.Length then
                Error(Truncated(Layer.Ipv4, "options", headerLength, buf.Length))
            elif totalLength < headerLength || (not quoted && totalLength > buf.Length) then
                Error(BadTotalLength(totalLength, headerLength, buf.Length))
            else
                let headerBytes = buf.Slice(0, headerLength)
                let stored = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(10, 2))
                let valid = Checksum.isValid headerBytes

                if policy = Verify && not valid then
                    let zeroed = Checksum.add (Checksum.sum headerBytes) (uint32 (~~~stored))
                    Error(BadChecksum(Layer.Ipv4, stored, Checksum.finish zeroed))
                else
                    let flagsAndOffset = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(6, 2))

                    let header =
                        {
                            Tos = buf[1]
                            Identification = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(4, 2))
                            ReservedFlag = flagsAndOffset &&& 0x8000us <> 0us
                            DontFragment = flagsAndOffset &&& 0x4000us <> 0us
                            MoreFragments = flagsAndOffset &&& 0x2000us <> 0us
                            FragmentOffset = flagsAndOffset &&& 0x1FFFus
                            Ttl = buf[8]
                            Protocol = buf[9]
                            Source = readAddress buf 12
                            Destination = readAddress buf 16
                            Options = OptionBytes.Create(buf.Slice(MinHeaderLength, headerLength - MinHeaderLength))
                            PayloadLength = totalLength - headerLength
                        }

                    Ok
                        {
                            Header = header
                            Checksum = stored
                            ChecksumValid = valid
                        }

    /// Reads an IPv4 header from the start of `buf`, checking the checksum as `policy` says.
    /// Bytes beyond the total length are ignored.
    let tryParseWith (policy: ChecksumPolicy) (buf: ReadOnlySpan<byte>) = parse policy false buf

    /// Reads an IPv4 header from the start of `buf` and verifies its checksum.
    let tryParse (buf: ReadOnlySpan<byte>) = parse Verify false buf

    /// Reads the original header quoted in an ICMP error, whose total length names bytes
    /// that were not quoted. The checksum is recorded, not enforced.
    let tryParseQuoted (buf: ReadOnlySpan<byte>) = parse Ignore true buf

    /// Writes the header (checksum filled in) at the start of `dest` and returns its length;
    /// the caller puts the payload after it. Raises ArgumentException when `dest` is too
    /// small or the lengths cannot be encoded.
    let write (h: Ipv4Header) (dest: Span<byte>) : int =
        let headerLength = h.HeaderLength

        if h.PayloadLength < 0 || h.TotalLength > MaxTotalLength then
            invalidArg "h" $"total length {h.TotalLength} is outside 20..65535"

        if h.FragmentOffset > 0x1FFFus then
            invalidArg "h" $"fragment offset {h.FragmentOffset} does not fit in 13 bits"

        if dest.Length < headerLength then
            invalidArg "dest" $"needs {headerLength} bytes for the IPv4 header, has {dest.Length}"

        dest[0] <- byte (0x40 ||| (headerLength / 4))
        dest[1] <- h.Tos
        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(2, 2), uint16 h.TotalLength)
        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(4, 2), h.Identification)

        let flags =
            (if h.ReservedFlag then 0x8000us else 0us)
            ||| (if h.DontFragment then 0x4000us else 0us)
            ||| (if h.MoreFragments then 0x2000us else 0us)

        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(6, 2), flags ||| h.FragmentOffset)
        dest[8] <- h.Ttl
        dest[9] <- h.Protocol
        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(10, 2), 0us)
        BinaryPrimitives.WriteUInt32BigEndian(dest.Slice(12, 4), h.Source.Value)
        BinaryPrimitives.WriteUInt32BigEndian(dest.Slice(16, 4), h.Destination.Value)
        h.Options.CopyTo(dest.Slice MinHeaderLength)
        dest.Slice(MinHeaderLength + h.Options.Length, headerLength - MinHeaderLength - h.Options.Length).Clear()

        let checksum =
            Checksum.compute (Span<byte>.op_Implicit(dest.Slice(0, headerLength)))

        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(10, 2), checksum)
        headerLength
