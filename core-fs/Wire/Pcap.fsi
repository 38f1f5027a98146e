/// Classic pcap files (the libpcap format) as pure functions over bytes; reading and
/// writing the file itself is the caller's business.
module Stack.Core.Wire.Pcap

/// Link-layer header types this reader knows.
module LinkType =

    [<Literal>]
    val Ethernet: uint32 = 1u

    /// LINKTYPE_RAW: each record is a bare IP packet.
    [<Literal>]
    val Raw: uint32 = 101u

    /// DLT_RAW as numbered on some systems.
    [<Literal>]
    val RawAlternative: uint32 = 12u

    [<Literal>]
    val Ipv4: uint32 = 228u

    [<Literal>]
    val Ipv6: uint32 = 229u

[<Literal>]
val FileHeaderLength: int = 24

[<Literal>]
val RecordHeaderLength: int = 16

[<Literal>]
val DefaultSnapLength: int = 262144

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
        TruncatedAtEnd: Stack.Core.Wire.ParseError option
    }

/// The 24-byte file header for little-endian, microsecond records.
val fileHeader: linkType: uint32 -> snapLength: int -> byte array

/// Writes a record header and the packet into `dest` (which needs 16 + packet length
/// bytes) and returns the bytes written. `timestampMicros` counts from the Unix epoch.
val writeRecord: timestampMicros: int64 -> packet: System.ReadOnlySpan<byte> -> dest: System.Span<byte> -> int

/// A record (header and packet) as a new array.
val record: timestampMicros: int64 -> packet: System.ReadOnlySpan<byte> -> byte array

/// A whole LINKTYPE_RAW file holding `packets`, one per `timestampsMicros` entry.
val ofPackets: packets: (int64 * byte array) seq -> byte array

/// Reads a classic pcap file of either byte order, micro- or nanosecond timestamps.
val tryRead: bytes: System.ReadOnlySpan<byte> -> Result<File, Stack.Core.Wire.ParseError>

/// Where the IP packet (either family) lies inside a record's bytes for the file's link
/// type: the whole record for raw links, past the 14-byte header for Ethernet frames of
/// type IPv4 or IPv6.
val ipRange: linkType: uint32 -> data: System.ReadOnlySpan<byte> -> struct (int * int) voption
