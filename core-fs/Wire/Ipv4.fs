namespace Stack.Core.Wire

open System
open System.Buffers.Binary
open System.Runtime.CompilerServices

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
        | 58uy -> "ICMPv6"
        | 59uy -> "no next header"
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

[<System.Runtime.CompilerServices.SkipLocalsInit>]
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

    /// What makes the header at the start of `buf` unreadable, if anything. `quoted` skips
    /// the total-length check against the buffer, for the original header that an ICMP
    /// error quotes (it arrives without most of its payload). Kept apart from building the
    /// result so the success path carries no error temporaries.
    let private problem (verify: bool) (quoted: bool) (buf: ReadOnlySpan<byte>) : ParseError voption =
        if buf.Length < MinHeaderLength then
            ValueSome(Truncated(Layer.Ipv4, "fixed header", MinHeaderLength, buf.Length))
        else
            let version = int (buf[0] >>> 4)
            let headerLength = int (buf[0] &&& 0x0Fuy) * 4
            let totalLength = int (BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(2, 2)))

            if version <> 4 then
                ValueSome(BadVersion version)
            elif headerLength < MinHeaderLength then
                ValueSome(BadHeaderLength(Layer.Ipv4, headerLength))
            elif headerLength > buf.Length then
                ValueSome(Truncated(Layer.Ipv4, "options", headerLength, buf.Length))
            elif totalLength < headerLength || (not quoted && totalLength > buf.Length) then
                ValueSome(BadTotalLength(totalLength, headerLength, buf.Length))
            elif verify && not (Checksum.isValid (buf.Slice(0, headerLength))) then
                let stored = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(10, 2))

                let zeroed =
                    Checksum.add (Checksum.sum (buf.Slice(0, headerLength))) (uint32 (~~~stored))

                ValueSome(BadChecksum(Layer.Ipv4, stored, Checksum.finish zeroed))
            else
                ValueNone

    /// The header at the start of `buf`, which `problem` found nothing wrong with.
    let internal readHeader (buf: ReadOnlySpan<byte>) : Ipv4Header =
        let headerLength = int (buf[0] &&& 0x0Fuy) * 4
        let totalLength = int (BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(2, 2)))
        let flagsAndOffset = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(6, 2))

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
            Options =
                if headerLength = MinHeaderLength then
                    OptionBytes.Empty
                else
                    OptionBytes.Create(buf.Slice(MinHeaderLength, headerLength - MinHeaderLength))
            PayloadLength = totalLength - headerLength
        }

    /// What makes the header at the start of `buf` unreadable, checksum included: with
    /// `readHeader`, `tryParse` for a caller that keeps the header without a result
    /// around it (the host, once per packet).
    let internal problemVerified (buf: ReadOnlySpan<byte>) = problem true false buf

    let private parse
        (policy: ChecksumPolicy)
        (quoted: bool)
        (buf: ReadOnlySpan<byte>)
        : Result<Ipv4Packet, ParseError> =
        match problem policy.IsVerify quoted buf with
        | ValueSome e -> Error e
        | ValueNone ->
            let headerLength = int (buf[0] &&& 0x0Fuy) * 4

            Ok
                {
                    Header = readHeader buf
                    Checksum = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(10, 2))
                    // Verified above when the policy says so; otherwise look now.
                    ChecksumValid = policy.IsVerify || Checksum.isValid (buf.Slice(0, headerLength))
                }

    /// Reads an IPv4 header from the start of `buf`, checking the checksum as `policy` says.
    /// Bytes beyond the total length are ignored.
    let tryParseWith (policy: ChecksumPolicy) (buf: ReadOnlySpan<byte>) = parse policy false buf

    /// Reads an IPv4 header from the start of `buf` and verifies its checksum.
    let tryParse (buf: ReadOnlySpan<byte>) = parse Verify false buf

    /// Reads the original header quoted in an ICMP error, whose total length names bytes
    /// that were not quoted. The checksum is recorded, not enforced.
    let tryParseQuoted (buf: ReadOnlySpan<byte>) = parse Ignore true buf

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private cannotWrite (h: Ipv4Header) (payloadLength: int) (available: int) : unit =
        let totalLength = h.HeaderLength + payloadLength

        if payloadLength < 0 || totalLength > MaxTotalLength then
            invalidArg "h" $"total length {totalLength} is outside 20..65535"
        elif h.FragmentOffset > 0x1FFFus then
            invalidArg "h" $"fragment offset {h.FragmentOffset} does not fit in 13 bits"
        else
            invalidArg "dest" $"needs {h.HeaderLength} bytes for the IPv4 header, has {available}"

    /// Stores a header from its 16-bit words (checksum computed here from them and
    /// `optionsSum`, the options' own sum) and returns its length. `dest` is known to be
    /// long enough, and the values to fit.
    let inline private store
        (versionIhlTos: uint16)
        (totalLength: int)
        (identification: uint16)
        (flagsAndOffset: uint16)
        (ttlProtocol: uint16)
        (source: Ipv4Address)
        (destination: Ipv4Address)
        (optionsSum: uint64)
        (dest: Span<byte>)
        =
        // The checksum comes from the field values, not from re-reading what was just
        // written.
        let sum =
            uint64 versionIhlTos
            + uint64 totalLength
            + uint64 identification
            + uint64 flagsAndOffset
            + uint64 ttlProtocol
            + uint64 (source.Value >>> 16)
            + uint64 (source.Value &&& 0xFFFFu)
            + uint64 (destination.Value >>> 16)
            + uint64 (destination.Value &&& 0xFFFFu)
            + optionsSum

        Bytes.put16 dest 0 versionIhlTos
        Bytes.put16 dest 2 (uint16 totalLength)
        Bytes.put16 dest 4 identification
        Bytes.put16 dest 6 flagsAndOffset
        Bytes.put16 dest 8 ttlProtocol
        Bytes.put16 dest 10 (~~~(uint16 (Checksum.fold sum)))
        Bytes.put32 dest 12 source.Value
        Bytes.put32 dest 16 destination.Value

    /// The writer behind `write` and `writeWith`, reading the header in place.
    let internal writeInto (h: inref<Ipv4Header>) (protocol: byte) (payloadLength: int) (dest: Span<byte>) : int =
        let headerLength = h.HeaderLength
        let totalLength = headerLength + payloadLength

        if
            payloadLength < 0
            || totalLength > MaxTotalLength
            || h.FragmentOffset > 0x1FFFus
            || dest.Length < headerLength
        then
            cannotWrite h payloadLength dest.Length

        let flagsAndOffset =
            (if h.ReservedFlag then 0x8000us else 0us)
            ||| (if h.DontFragment then 0x4000us else 0us)
            ||| (if h.MoreFragments then 0x2000us else 0us)
            ||| h.FragmentOffset

        store
            (0x4000us ||| (uint16 (headerLength / 4) <<< 8) ||| uint16 h.Tos)
            totalLength
            h.Identification
            flagsAndOffset
            ((uint16 h.Ttl <<< 8) ||| uint16 protocol)
            h.Source
            h.Destination
            (if h.Options.Length = 0 then 0UL else uint64 h.Options.Sum)
            dest

        if headerLength > MinHeaderLength then
            h.Options.WriteArea(dest.Slice MinHeaderLength)

        headerLength

    /// Writes the header `header` gives (no options, DF set, identification 0) with
    /// `ttl`, straight from these values: no header value is built on the way. Returns
    /// its length, 20.
    let internal writePlain
        (protocol: byte)
        (source: Ipv4Address)
        (destination: Ipv4Address)
        (ttl: byte)
        (payloadLength: int)
        (dest: Span<byte>)
        : int =
        let totalLength = MinHeaderLength + payloadLength

        if
            payloadLength < 0
            || totalLength > MaxTotalLength
            || dest.Length < MinHeaderLength
        then
            cannotWrite (header protocol source destination payloadLength) payloadLength dest.Length

        store 0x4500us totalLength 0us 0x4000us ((uint16 ttl <<< 8) ||| uint16 protocol) source destination 0UL dest
        MinHeaderLength

    /// `write` with the protocol and payload length given apart from the header, so a
    /// caller that knows them need not build a changed copy of `h`.
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let writeWith (h: Ipv4Header) (protocol: byte) (payloadLength: int) (dest: Span<byte>) : int =
        writeInto &h protocol payloadLength dest

    /// Writes the header (checksum filled in) at the start of `dest` and returns its length;
    /// the caller puts the payload after it. Raises ArgumentException when `dest` is too
    /// small or the lengths cannot be encoded.
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let write (h: Ipv4Header) (dest: Span<byte>) : int =
        writeInto &h h.Protocol h.PayloadLength dest
