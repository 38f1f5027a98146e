namespace Stack.Core.Wire

open System
open System.Buffers.Binary

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
        PayloadOffset: int
        PayloadLength: int
    }

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
    let computeChecksum (source: Ipv4Address) (destination: Ipv4Address) (segment: ReadOnlySpan<byte>) =
        let pseudo = Checksum.pseudoHeader source destination IpProtocol.Tcp segment.Length
        Checksum.finish (Checksum.add pseudo (Checksum.sum segment))

    /// True when the stored checksum of `segment` (header and payload) is right.
    let checksumValid (source: Ipv4Address) (destination: Ipv4Address) (segment: ReadOnlySpan<byte>) =
        let pseudo = Checksum.pseudoHeader source destination IpProtocol.Tcp segment.Length
        Checksum.add pseudo (Checksum.sum segment) = 0xFFFFu

    /// Reads a TCP segment that fills `buf` exactly (an IPv4 payload). Validates the data
    /// offset and every option length; does not look at the checksum.
    let tryParseUnchecked (buf: ReadOnlySpan<byte>) : Result<TcpSegment, ParseError> =
        if buf.Length < MinHeaderLength then
            Error(Truncated(Layer.Tcp, "fixed header", MinHeaderLength, buf.Length))
        else
            let headerLength = int (buf[12] >>> 4) * 4

            if headerLength < MinHeaderLength then
                Error(BadHeaderLength(Layer.Tcp, headerLength))
            elif headerLength > buf.Length then
                Error(Truncated(Layer.Tcp, "options", headerLength, buf.Length))
            else
                let area = buf.Slice(MinHeaderLength, headerLength - MinHeaderLength)

                match TcpOptions.validate area with
                | Error e -> Error e
                | Ok() ->
                    let header =
                        {
                            SourcePort = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(0, 2))
                            DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(2, 2))
                            SequenceNumber = BinaryPrimitives.ReadUInt32BigEndian(buf.Slice(4, 4))
                            AcknowledgmentNumber = BinaryPrimitives.ReadUInt32BigEndian(buf.Slice(8, 4))
                            Reserved = buf[12] &&& 0x0Fuy
                            Flags = LanguagePrimitives.EnumOfValue<byte, TcpFlags> buf[13]
                            Window = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(14, 2))
                            UrgentPointer = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(18, 2))
                            Options = OptionBytes.Create area
                        }

                    Ok
                        {
                            Header = header
                            Checksum = BinaryPrimitives.ReadUInt16BigEndian(buf.Slice(16, 2))
                            PayloadOffset = headerLength
                            PayloadLength = buf.Length - headerLength
                        }

    /// Reads a TCP segment that fills `buf` exactly and verifies its checksum against the
    /// pseudo-header of `source` and `destination`.
    let tryParse (source: Ipv4Address) (destination: Ipv4Address) (buf: ReadOnlySpan<byte>) =
        match tryParseUnchecked buf with
        | Ok seg when not (checksumValid source destination buf) ->
            let zeroed =
                Checksum.add
                    (Checksum.add
                        (Checksum.pseudoHeader source destination IpProtocol.Tcp buf.Length)
                        (Checksum.sum buf))
                    (uint32 (~~~seg.Checksum))

            Error(BadChecksum(Layer.Tcp, seg.Checksum, Checksum.finish zeroed))
        | result -> result

    /// Writes the header at the start of `dest` with a zero checksum and returns its length.
    /// Fill the checksum with `fillChecksum` once the payload is in place. Raises
    /// ArgumentException when `dest` is too small.
    let write (h: TcpHeader) (dest: Span<byte>) : int =
        let headerLength = h.HeaderLength

        if dest.Length < headerLength then
            invalidArg "dest" $"needs {headerLength} bytes for the TCP header, has {dest.Length}"

        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(0, 2), h.SourcePort)
        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(2, 2), h.DestinationPort)
        BinaryPrimitives.WriteUInt32BigEndian(dest.Slice(4, 4), h.SequenceNumber)
        BinaryPrimitives.WriteUInt32BigEndian(dest.Slice(8, 4), h.AcknowledgmentNumber)
        dest[12] <- (byte (headerLength / 4) <<< 4) ||| (h.Reserved &&& 0x0Fuy)
        dest[13] <- byte h.Flags
        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(14, 2), h.Window)
        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(16, 2), 0us)
        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(18, 2), h.UrgentPointer)
        h.Options.CopyTo(dest.Slice MinHeaderLength)
        dest.Slice(MinHeaderLength + h.Options.Length, headerLength - MinHeaderLength - h.Options.Length).Clear()
        headerLength

    /// Computes and stores the checksum of `segment` (header and payload, in place).
    let fillChecksum (source: Ipv4Address) (destination: Ipv4Address) (segment: Span<byte>) =
        BinaryPrimitives.WriteUInt16BigEndian(segment.Slice(16, 2), 0us)
        let checksum = computeChecksum source destination (Span<byte>.op_Implicit segment)
        BinaryPrimitives.WriteUInt16BigEndian(segment.Slice(16, 2), checksum)
