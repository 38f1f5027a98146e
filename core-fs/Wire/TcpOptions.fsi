namespace Stack.Core.Wire

/// One TCP option (RFC 9293 3.1, RFC 7323, RFC 2018). `Eol` ends the list: bytes after
/// it are padding.
type TcpOption =
    | Eol
    | Nop

    /// Maximum segment size (kind 2).
    | Mss of uint16

    /// Window scale shift count (kind 3, RFC 7323).
    | WindowScale of byte

    /// SACK permitted (kind 4, RFC 2018).
    | SackPermitted

    /// SACK blocks as (left edge, right edge) pairs, 1 to 4 of them (kind 5, RFC 2018).
    | Sack of (uint32 * uint32) list

    /// Timestamps (kind 8, RFC 7323).
    | Timestamps of tsval: uint32 * tsecr: uint32

    /// Any other option, kept with its kind and data bytes.
    | Unknown of kind: byte * data: byte array

module TcpOptionKind =

    [<Literal>]
    val Eol: byte = 0uy

    [<Literal>]
    val Nop: byte = 1uy

    [<Literal>]
    val Mss: byte = 2uy

    [<Literal>]
    val WindowScale: byte = 3uy

    [<Literal>]
    val SackPermitted: byte = 4uy

    [<Literal>]
    val Sack: byte = 5uy

    [<Literal>]
    val Timestamps: byte = 8uy

/// The options a TCP engine acts on, read without allocating: what a segment carries of
/// MSS, window scale, SACK-permitted, timestamps and up to four SACK blocks.
[<Struct>]
type KnownOptions =
    {
        Mss: uint16 voption
        WindowScale: byte voption
        SackPermitted: bool

        /// TSval and TSecr.
        Timestamps: struct (uint32 * uint32) voption

        /// How many SACK blocks the segment carries (0 to 4).
        SackBlockCount: int
        Sack0: struct (uint32 * uint32)
        Sack1: struct (uint32 * uint32)
        Sack2: struct (uint32 * uint32)
        Sack3: struct (uint32 * uint32)
    }

    /// SACK block `i` (0-based, below SackBlockCount) as (left edge, right edge).
    member SackBlock: i: int -> struct (uint32 * uint32)

[<System.Runtime.CompilerServices.SkipLocalsInit>]
module TcpOptions =

    /// The most SACK blocks that fit in the 40-byte option area.
    [<Literal>]
    val MaxSackBlocks: int = 4

    /// The offset of the first option whose length is impossible, or -1 when all are fine.
    /// Stops at EOL: what follows is padding.
    val firstBadOption: area: System.ReadOnlySpan<byte> -> int

    /// The error for the option at `offset` (as found by `firstBadOption`).
    val badOptionAt: area: System.ReadOnlySpan<byte> -> offset: int -> ParseError

    /// Checks every option length in `area` without allocating.
    val validate: area: System.ReadOnlySpan<byte> -> Result<unit, ParseError>

    /// Reads the option area into a list. Stops after EOL.
    val tryParse: area: System.ReadOnlySpan<byte> -> Result<TcpOption list, ParseError>

    /// Reads the options held in a parsed header (already validated by `Tcp.tryParse`).
    val toList: options: OptionBytes -> Result<TcpOption list, ParseError>

    /// A segment that carries none of the options an engine acts on.
    val none: KnownOptions

    /// `summarize` reading the options where they lie: a header just parsed, whose copy
    /// would wait for the stores that wrote it.
    [<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
    val internal summarizeIn: options: inref<OptionBytes> -> KnownOptions

    /// The known options of a parsed header (its option lengths were validated by
    /// `Tcp.tryParse`; anything malformed is skipped, never thrown). The layout data
    /// segments carry - NOP, NOP, timestamps (RFC 7323 appendix A) - is read in one step.
    val summarize: options: OptionBytes -> KnownOptions

    /// Bytes one option takes on the wire.
    val encodedLength: o: TcpOption -> int

    /// Writes the options in order (no padding) and returns the bytes written. Raises
    /// ArgumentException for an option that has no valid encoding.
    val write: options: TcpOption list -> dest: System.Span<byte> -> int

    /// Encodes a list for a header, padded with zeros (EOL) to a multiple of 4 bytes as the
    /// header needs, so `toList` of the result ends with `Eol` when padding was added.
    /// Raises ArgumentException past 40 bytes.
    val ofList: options: TcpOption list -> OptionBytes
