/// Classic pcap files (the libpcap format) as pure functions over bytes; reading and
/// writing the file itself is the caller's business.
module Stack.Core.Wire.Pcap

open System
open System.Buffers.Binary

/// Link-layer header types this reader knows.
module LinkType =
    [<Literal>]
    let Ethernet = 1u

    /// LINKTYPE_RAW: each record is a bare IP packet.
    [<Literal>]
    let Raw = 101u

    /// DLT_RAW as numbered on some systems.
    [<Literal>]
    let RawAlternative = 12u

    [<Literal>]
    let Ipv4 = 228u

    [<Literal>]
    let Ipv6 = 229u

[<Literal>]
let FileHeaderLength = 24

[<Literal>]
let RecordHeaderLength = 16

[<Literal>]
let private MagicMicroseconds = 0xA1B2C3D4u

[<Literal>]
let private MagicNanoseconds = 0xA1B23C4Du

[<Literal>]
let DefaultSnapLength = 262144

/// One record: when it was captured, its lengths, and where its bytes lie in the file.
[<Struct>]
type Record =
    {
        Seconds: uint32
        /// Microseconds, or nanoseconds when the file says so.
        Fraction: uint32
        CapturedLength: int
        OriginalLength: int
        DataOffset: int
    }

type File =
    {
        LinkType: uint32
        SnapLength: uint32
        Nanoseconds: bool
        Records: Record array
        /// Set when the file ends inside a record (a capture cut short); the records before
        /// it are all there.
        TruncatedAtEnd: ParseError option
    }

/// The 24-byte file header for little-endian, microsecond records.
let fileHeader (linkType: uint32) (snapLength: int) : byte array =
    let h = Array.zeroCreate FileHeaderLength
    let s = Span h
    BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(0, 4), MagicMicroseconds)
    BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(4, 2), 2us)
    BinaryPrimitives.WriteUInt16LittleEndian(s.Slice(6, 2), 4us)
    BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(16, 4), uint32 snapLength)
    BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(20, 4), linkType)
    h

/// Writes a record header and the packet into `dest` (which needs 16 + packet length
/// bytes) and returns the bytes written. `timestampMicros` counts from the Unix epoch.
let writeRecord (timestampMicros: int64) (packet: ReadOnlySpan<byte>) (dest: Span<byte>) : int =
    let length = RecordHeaderLength + packet.Length

    if dest.Length < length then
        invalidArg "dest" $"needs {length} bytes for the pcap record, has {dest.Length}"

    BinaryPrimitives.WriteUInt32LittleEndian(dest.Slice(0, 4), uint32 (timestampMicros / 1_000_000L))
    BinaryPrimitives.WriteUInt32LittleEndian(dest.Slice(4, 4), uint32 (timestampMicros % 1_000_000L))
    BinaryPrimitives.WriteUInt32LittleEndian(dest.Slice(8, 4), uint32 packet.Length)
    BinaryPrimitives.WriteUInt32LittleEndian(dest.Slice(12, 4), uint32 packet.Length)
    packet.CopyTo(dest.Slice RecordHeaderLength)
    length

/// A record (header and packet) as a new array.
let record (timestampMicros: int64) (packet: ReadOnlySpan<byte>) : byte array =
    let buf = Array.zeroCreate (RecordHeaderLength + packet.Length)
    writeRecord timestampMicros packet (Span buf) |> ignore
    buf

/// A whole LINKTYPE_RAW file holding `packets`, one per `timestampsMicros` entry.
let ofPackets (packets: (int64 * byte array) seq) : byte array =
    let parts =
        [|
            yield fileHeader LinkType.Raw DefaultSnapLength
            for t, p in packets -> record t (ReadOnlySpan p)
        |]

    Array.concat parts

let private readU32 (littleEndian: bool) (s: ReadOnlySpan<byte>) =
    if littleEndian then
        BinaryPrimitives.ReadUInt32LittleEndian s
    else
        BinaryPrimitives.ReadUInt32BigEndian s

/// Reads a classic pcap file of either byte order, micro- or nanosecond timestamps.
let tryRead (bytes: ReadOnlySpan<byte>) : Result<File, ParseError> =
    if bytes.Length < FileHeaderLength then
        Error(Truncated(Layer.Pcap, "file header", FileHeaderLength, bytes.Length))
    else
        let magicLe = BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(0, 4))
        let magicBe = BinaryPrimitives.ReadUInt32BigEndian(bytes.Slice(0, 4))

        let littleEndian, nanoseconds =
            if magicLe = MagicMicroseconds then Some true, false
            elif magicLe = MagicNanoseconds then Some true, true
            elif magicBe = MagicMicroseconds then Some false, false
            elif magicBe = MagicNanoseconds then Some false, true
            else None, false

        match littleEndian with
        | None -> Error(Unsupported(Layer.Pcap, $"file: magic number 0x%08x{magicBe} is not classic pcap"))
        | Some le ->

            let records = Collections.Generic.List<Record>()
            let mutable offset = FileHeaderLength
            let mutable truncated = None

            while offset < bytes.Length && truncated.IsNone do
                if bytes.Length - offset < RecordHeaderLength then
                    truncated <- Some(Truncated(Layer.Pcap, "record header", RecordHeaderLength, bytes.Length - offset))
                else
                    let h = bytes.Slice(offset, RecordHeaderLength)
                    let captured = readU32 le (h.Slice(8, 4))
                    let available = bytes.Length - offset - RecordHeaderLength

                    if captured > uint32 available then
                        truncated <-
                            Some(Truncated(Layer.Pcap, "record data", int (min captured 0x7FFFFFFFu), available))
                    else
                        records.Add
                            {
                                Seconds = readU32 le (h.Slice(0, 4))
                                Fraction = readU32 le (h.Slice(4, 4))
                                CapturedLength = int captured
                                OriginalLength = int (min (readU32 le (h.Slice(12, 4))) 0x7FFFFFFFu)
                                DataOffset = offset + RecordHeaderLength
                            }

                        offset <- offset + RecordHeaderLength + int captured

            Ok
                {
                    LinkType = readU32 le (bytes.Slice(20, 4))
                    SnapLength = readU32 le (bytes.Slice(16, 4))
                    Nanoseconds = nanoseconds
                    Records = records.ToArray()
                    TruncatedAtEnd = truncated
                }

/// Where the IP packet (either family) lies inside a record's bytes for the file's link
/// type: the whole record for raw links, past the 14-byte header for Ethernet frames of
/// type IPv4 or IPv6.
let ipRange (linkType: uint32) (data: ReadOnlySpan<byte>) : struct (int * int) voption =
    match linkType with
    | LinkType.Raw
    | LinkType.RawAlternative
    | LinkType.Ipv4
    | LinkType.Ipv6 -> ValueSome(struct (0, data.Length))
    | LinkType.Ethernet when
        data.Length >= 14
        && ((data[12] = 0x08uy && data[13] = 0x00uy)
            || (data[12] = 0x86uy && data[13] = 0xDDuy))
        ->
        ValueSome(struct (14, data.Length - 14))
    | _ -> ValueNone
