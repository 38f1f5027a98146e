namespace Stack.Core.Wire

open System
open System.Buffers.Binary
open System.Runtime.CompilerServices

/// The TCP control bits (RFC 9293 3.1, RFC 3168 for ECE and CWR).
[<Flags>]
type TcpFlags =
    | None = 0uy
    | Fin = 0x01uy
    | Syn = 0x02uy
    | Rst = 0x04uy
    | Psh = 0x08uy
    | Ack = 0x10uy
    | Urg = 0x20uy
    | Ece = 0x40uy
    | Cwr = 0x80uy

/// A TCP header (RFC 9293 3.1) as values. The data offset and checksum follow from it.
[<Struct>]
type TcpHeader =
    {
        SourcePort: uint16
        DestinationPort: uint16
        SequenceNumber: uint32
        AcknowledgmentNumber: uint32
        /// The four bits between the data offset and CWR; zero on a sane network, kept so
        /// bytes roundtrip.
        Reserved: byte
        Flags: TcpFlags
        Window: uint16
        UrgentPointer: uint16
        /// Option bytes as on the wire (see `TcpOptions`); `write` pads them with zeros to a
        /// multiple of 4.
        Options: OptionBytes
    }

    /// Header length in bytes: 20 plus the options rounded up to 4.
    member h.HeaderLength = 20 + ((h.Options.Length + 3) &&& ~~~3)
    /// The data offset field: header length in 32-bit words.
    member h.DataOffset = h.HeaderLength / 4
    member h.Has(flag: TcpFlags) = h.Flags &&& flag = flag

/// A TCP segment as read from bytes: the header, the stored checksum and where the
/// payload lies in the parsed buffer.
[<Struct>]
type TcpSegment =
    {
        Header: TcpHeader
        Checksum: uint16
        PayloadLength: int
    }

    /// Where the payload starts in the parsed buffer: right after the header.
    member s.PayloadOffset = s.Header.HeaderLength

[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Tcp =
    [<Literal>]
    let MinHeaderLength = 20

    /// A header with no options, a zero window and no flags; fill in with `with`.
    let header (sourcePort: uint16) (destinationPort: uint16) =
        {
            SourcePort = sourcePort
            DestinationPort = destinationPort
            SequenceNumber = 0u
            AcknowledgmentNumber = 0u
            Reserved = 0uy
            Flags = TcpFlags.None
            Window = 0us
            UrgentPointer = 0us
            Options = OptionBytes.Empty
        }

    /// The checksum a segment (header and payload, as in `segment`) should carry.
    let computeChecksum (source: IpAddress) (destination: IpAddress) (segment: ReadOnlySpan<byte>) =
        let pseudo = Checksum.pseudoHeader source destination IpProtocol.Tcp segment.Length
        Checksum.finish (Checksum.add pseudo (Checksum.sum segment))

    /// True when the stored checksum of `segment` (header and payload) is right.
    let checksumValid (source: IpAddress) (destination: IpAddress) (segment: ReadOnlySpan<byte>) =
        Checksum.isValidWithPseudoHeader source destination IpProtocol.Tcp segment

    /// The bad-checksum error for a segment whose checksum did not verify.
    let private badChecksum (source: IpAddress) (destination: IpAddress) (buf: ReadOnlySpan<byte>) =
        let stored = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(16, 2))
        let pseudo = Checksum.pseudoHeader source destination IpProtocol.Tcp buf.Length

        let zeroed =
            Checksum.add (Checksum.add pseudo (Checksum.sum buf)) (uint32 (~~~stored))

        BadChecksum(Layer.Tcp, stored, Checksum.finish zeroed)

    /// What makes the segment in `buf` unreadable, if anything. Kept apart from building
    /// the result so the success path carries no error temporaries.
    let private problem
        (verify: bool)
        (source: IpAddress)
        (destination: IpAddress)
        (buf: ReadOnlySpan<byte>)
        : ParseError voption =
        if buf.Length < MinHeaderLength then
            ValueSome(Truncated(Layer.Tcp, "fixed header", MinHeaderLength, buf.Length))
        else
            let headerLength = int (buf[12] >>> 4) * 4

            if headerLength < MinHeaderLength then
                ValueSome(BadHeaderLength(Layer.Tcp, headerLength))
            elif headerLength > buf.Length then
                ValueSome(Truncated(Layer.Tcp, "options", headerLength, buf.Length))
            else
                match TcpOptions.firstBadOption (buf.Slice(MinHeaderLength, headerLength - MinHeaderLength)) with
                | -1 when verify && not (checksumValid source destination buf) ->
                    ValueSome(badChecksum source destination buf)
                | -1 -> ValueNone
                | offset ->
                    ValueSome(
                        TcpOptions.badOptionAt (buf.Slice(MinHeaderLength, headerLength - MinHeaderLength)) offset
                    )

    /// The header length the data offset of the segment in `buf` gives.
    let internal headerLengthOf (buf: ReadOnlySpan<byte>) = int (buf[12] >>> 4) * 4

    /// The header of the segment in `buf`, which `problem` found nothing wrong with.
    [<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)>]
    let internal readHeader (buf: ReadOnlySpan<byte>) : TcpHeader =
        let headerLength = headerLengthOf buf

        {
            SourcePort = BinaryPrimitives.ReadUInt16BigEndian(buf)
            DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(2, 2))
            SequenceNumber = BinaryPrimitives.ReadUInt32BigEndian(buf.Slice(4, 4))
            AcknowledgmentNumber = BinaryPrimitives.ReadUInt32BigEndian(buf.Slice(8, 4))
            Reserved = buf[12] &&& 0x0Fuy
            Flags = LanguagePrimitives.EnumOfValue<byte, TcpFlags> buf[13]
            Window = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(14, 2))
            UrgentPointer = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(18, 2))
            Options = OptionBytes.Create(buf.Slice(MinHeaderLength, headerLength - MinHeaderLength))
        }

    /// What makes the segment in `buf` unreadable, checksum included: with `readHeader`,
    /// `tryParse` for a caller that keeps the header without a result around it.
    let internal problemVerified (source: IpAddress) (destination: IpAddress) (buf: ReadOnlySpan<byte>) =
        problem true source destination buf

    let private parse
        (verify: bool)
        (source: IpAddress)
        (destination: IpAddress)
        (buf: ReadOnlySpan<byte>)
        : Result<TcpSegment, ParseError> =
        match problem verify source destination buf with
        | ValueSome e -> Error e
        | ValueNone ->
            let header = readHeader buf

            Ok
                {
                    Header = header
                    Checksum = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(16, 2))
                    PayloadLength = buf.Length - header.HeaderLength
                }

    /// Reads a TCP segment that fills `buf` exactly (an IPv4 payload). Validates the data
    /// offset and every option length; does not look at the checksum.
    let tryParseUnchecked (buf: ReadOnlySpan<byte>) =
        parse false (IpAddress(0UL, 0UL)) (IpAddress(0UL, 0UL)) buf

    /// Reads a TCP segment that fills `buf` exactly and verifies its checksum against the
    /// pseudo-header of `source` and `destination`.
    let tryParse (source: IpAddress) (destination: IpAddress) (buf: ReadOnlySpan<byte>) =
        parse true source destination buf

    let inline private offsetAndFlags (h: inref<TcpHeader>) =
        (uint16 h.DataOffset <<< 12)
        ||| (uint16 (h.Reserved &&& 0x0Fuy) <<< 8)
        ||| uint16 h.Flags

    /// The header's 16-bit words summed wide (fold with `Checksum.fold`), checksum field
    /// excluded, from the field values.
    let inline private wideHeaderSum (h: inref<TcpHeader>) =
        uint64 h.SourcePort
        + uint64 h.DestinationPort
        + uint64 (h.SequenceNumber >>> 16)
        + uint64 (h.SequenceNumber &&& 0xFFFFu)
        + uint64 (h.AcknowledgmentNumber >>> 16)
        + uint64 (h.AcknowledgmentNumber &&& 0xFFFFu)
        + uint64 (offsetAndFlags &h)
        + uint64 h.Window
        + uint64 h.UrgentPointer
        + (if h.Options.Length = 0 then 0UL else uint64 h.Options.Sum)

    /// The one's complement sum of the header's words, checksum field excluded, from the
    /// field values.
    let headerSum (h: TcpHeader) : uint32 = Checksum.fold (wideHeaderSum &h)

    [<MethodImpl(MethodImplOptions.NoInlining)>]
    let private tooSmall (needed: int) (available: int) : unit =
        invalidArg "dest" $"needs {needed} bytes for the TCP segment, has {available}"

    /// Stores the header with the given checksum; `dest` is known to be long enough.
    let inline private store (h: inref<TcpHeader>) (headerLength: int) (checksum: uint16) (dest: Span<byte>) =
        Bytes.put16 dest 0 h.SourcePort
        Bytes.put16 dest 2 h.DestinationPort
        Bytes.put32 dest 4 h.SequenceNumber
        Bytes.put32 dest 8 h.AcknowledgmentNumber
        Bytes.put16 dest 12 (offsetAndFlags &h)
        Bytes.put16 dest 14 h.Window
        Bytes.put16 dest 16 checksum
        Bytes.put16 dest 18 h.UrgentPointer

        if headerLength > MinHeaderLength then
            h.Options.WriteArea(dest.Slice MinHeaderLength)

    /// Writes the header at the start of `dest` with a zero checksum and returns its length.
    /// Fill the checksum with `fillChecksum` once the payload is in place. Raises
    /// ArgumentException when `dest` is too small.
    let write (h: TcpHeader) (dest: Span<byte>) : int =
        let headerLength = h.HeaderLength

        if dest.Length < headerLength then
            tooSmall headerLength dest.Length

        store &h headerLength 0us dest
        headerLength

    /// The writer behind `writeSegment`, reading the header in place.
    let internal writeSegmentInto
        (source: IpAddress)
        (destination: IpAddress)
        (h: inref<TcpHeader>)
        (payload: ReadOnlySpan<byte>)
        (dest: Span<byte>)
        : int =
        let headerLength = h.HeaderLength
        let length = headerLength + payload.Length

        if dest.Length < length then
            tooSmall length dest.Length

        // The payload is copied in as its sum is taken: one pass over its bytes.
        let payloadSum =
            if payload.IsEmpty then
                0u
            else
                Checksum.copyAndSum payload (dest.Slice headerLength)

        let sum =
            source.WordSum
            + destination.WordSum
            + uint64 IpProtocol.Tcp
            + uint64 length
            + wideHeaderSum &h
            + uint64 payloadSum

        store &h headerLength (~~~(uint16 (Checksum.fold sum))) dest
        length

    /// Writes the header and `payload` into `dest` with the checksum for `source` and
    /// `destination` filled in (summed from the header's values and the payload bytes) and
    /// returns the segment length.
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let writeSegment
        (source: IpAddress)
        (destination: IpAddress)
        (h: TcpHeader)
        (payload: ReadOnlySpan<byte>)
        (dest: Span<byte>)
        : int =
        writeSegmentInto source destination &h payload dest

    /// Computes and stores the checksum of `segment` (header and payload, in place).
    let fillChecksum (source: IpAddress) (destination: IpAddress) (segment: Span<byte>) =
        BinaryPrimitives.WriteUInt16BigEndian(segment.Slice(16, 2), 0us)
        let checksum = computeChecksum source destination (Span<byte>.op_Implicit segment)
        BinaryPrimitives.WriteUInt16BigEndian(segment.Slice(16, 2), checksum)
