namespace Stack.Core.Wire

open System
open System.Buffers.Binary

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
    let Eol = 0uy

    [<Literal>]
    let Nop = 1uy

    [<Literal>]
    let Mss = 2uy

    [<Literal>]
    let WindowScale = 3uy

    [<Literal>]
    let SackPermitted = 4uy

    [<Literal>]
    let Sack = 5uy

    [<Literal>]
    let Timestamps = 8uy

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
    member k.SackBlock(i: int) =
        match i with
        | 0 -> k.Sack0
        | 1 -> k.Sack1
        | 2 -> k.Sack2
        | _ -> k.Sack3

[<System.Runtime.CompilerServices.SkipLocalsInit>]
module TcpOptions =
    /// The most SACK blocks that fit in the 40-byte option area.
    [<Literal>]
    let MaxSackBlocks = 4

    /// Whether an option of `kind` may have `length` (kinds this stack reads have fixed
    /// lengths; any other needs at least its kind and length bytes).
    let inline private lengthFits (kind: byte) (length: int) =
        match kind with
        | TcpOptionKind.Mss -> length = 4
        | TcpOptionKind.WindowScale -> length = 3
        | TcpOptionKind.SackPermitted -> length = 2
        | TcpOptionKind.Sack -> length >= 10 && (length - 2) % 8 = 0
        | TcpOptionKind.Timestamps -> length = 10
        | _ -> length >= 2

    /// Every option in turn (see `firstBadOption`).
    let private firstBadOptionWalk (area: ReadOnlySpan<byte>) : int =
        let mutable offset = 0
        let mutable bad = -1

        while offset < area.Length do
            let kind = area[offset]

            if kind > TcpOptionKind.Nop then
                let length = if offset + 1 < area.Length then int area[offset + 1] else 0

                if lengthFits kind length && length <= area.Length - offset then
                    offset <- offset + length
                else
                    bad <- offset
                    offset <- area.Length
            elif kind = TcpOptionKind.Nop then
                offset <- offset + 1
            else
                offset <- area.Length

        bad

    /// The layouts nearly every segment carries, recognised whole (as Linux's own fast
    /// path does): NOP NOP timestamps on data segments, and Linux's SYN and SYN-ACK with
    /// MSS, SACK-permitted, timestamps, NOP, window scale. Every length in them is right.
    let private commonLayout (area: ReadOnlySpan<byte>) =
        match area.Length with
        | 12 -> BinaryPrimitives.ReadUInt32BigEndian area = 0x0101080Au
        | 20 ->
            BinaryPrimitives.ReadUInt32BigEndian area &&& 0xFFFF0000u = 0x02040000u
            && BinaryPrimitives.ReadUInt32BigEndian(area.Slice 4) = 0x0402080Au
            && BinaryPrimitives.ReadUInt32BigEndian(area.Slice 16) &&& 0xFFFFFF00u = 0x01030300u
        | _ -> false

    /// The offset of the first option whose length is impossible, or -1 when all are fine.
    /// Stops at EOL: what follows is padding.
    let firstBadOption (area: ReadOnlySpan<byte>) : int =
        if commonLayout area then -1 else firstBadOptionWalk area

    /// The error for the option at `offset` (as found by `firstBadOption`).
    let badOptionAt (area: ReadOnlySpan<byte>) (offset: int) =
        let length = if offset + 1 < area.Length then int area[offset + 1] else 0
        BadOptionLength(Layer.Tcp, area[offset], length, offset)

    /// Checks every option length in `area` without allocating.
    let validate (area: ReadOnlySpan<byte>) : Result<unit, ParseError> =
        match firstBadOption area with
        | -1 -> Ok()
        | offset -> Error(badOptionAt area offset)

    let private readOption (area: ReadOnlySpan<byte>) (offset: int) (length: int) : TcpOption =
        let body = area.Slice(offset + 2, length - 2)

        match area[offset] with
        | TcpOptionKind.Mss -> Mss(BinaryPrimitives.ReadUInt16BigEndian body)
        | TcpOptionKind.WindowScale -> WindowScale body[0]
        | TcpOptionKind.SackPermitted -> SackPermitted
        | TcpOptionKind.Sack ->
            let mutable blocks = []

            for i in body.Length / 8 - 1 .. -1 .. 0 do
                let left = BinaryPrimitives.ReadUInt32BigEndian(body.Slice(i * 8, 4))
                let right = BinaryPrimitives.ReadUInt32BigEndian(body.Slice(i * 8 + 4, 4))
                blocks <- (left, right) :: blocks

            Sack blocks
        | TcpOptionKind.Timestamps ->
            Timestamps(BinaryPrimitives.ReadUInt32BigEndian body, BinaryPrimitives.ReadUInt32BigEndian(body.Slice 4))
        | kind -> Unknown(kind, body.ToArray())

    /// Reads the option area into a list. Stops after EOL.
    let tryParse (area: ReadOnlySpan<byte>) : Result<TcpOption list, ParseError> =
        match firstBadOption area with
        | -1 ->
            let options = Collections.Generic.List<TcpOption>()
            let mutable offset = 0

            while offset < area.Length do
                if area[offset] = TcpOptionKind.Eol then
                    options.Add Eol
                    offset <- area.Length
                elif area[offset] = TcpOptionKind.Nop then
                    options.Add Nop
                    offset <- offset + 1
                else
                    let length = int area[offset + 1]
                    options.Add(readOption area offset length)
                    offset <- offset + length

            Ok(List.ofSeq options)
        | offset -> Error(badOptionAt area offset)

    /// Reads the options held in a parsed header (already validated by `Tcp.tryParse`).
    let toList (options: OptionBytes) : Result<TcpOption list, ParseError> =
        tryParse (ReadOnlySpan(options.ToArray()))

    /// A segment that carries none of the options an engine acts on.
    let none =
        {
            Mss = ValueNone
            WindowScale = ValueNone
            SackPermitted = false
            Timestamps = ValueNone
            SackBlockCount = 0
            Sack0 = struct (0u, 0u)
            Sack1 = struct (0u, 0u)
            Sack2 = struct (0u, 0u)
            Sack3 = struct (0u, 0u)
        }

    let inline private u32At (o: OptionBytes) (i: int) = o.ReadUInt32 i


    /// Block `n` of the SACK option at `at` holding `count` blocks; zeros past the last.
    let private sackBlock (o: OptionBytes) (at: int) (count: int) (n: int) =
        if n < count then
            struct (u32At o (at + 2 + 8 * n), u32At o (at + 6 + 8 * n))
        else
            struct (0u, 0u)

    /// Any layout of known options, one by one (see `summarize`).
    let private summarizeAny (options: OptionBytes) : KnownOptions =
        let mutable k = none
        let mutable i = 0

        while i < options.Length do
            let kind = options[i]

            if kind = TcpOptionKind.Eol then
                i <- options.Length
            elif kind = TcpOptionKind.Nop then
                i <- i + 1
            else
                let length = if i + 1 < options.Length then int options[i + 1] else 0

                if length < 2 || i + length > options.Length then
                    i <- options.Length
                else
                    match kind with
                    | TcpOptionKind.Mss when length = 4 ->
                        k <-
                            { k with
                                Mss = ValueSome((uint16 options[i + 2] <<< 8) ||| uint16 options[i + 3])
                            }
                    | TcpOptionKind.WindowScale when length = 3 ->
                        k <-
                            { k with
                                WindowScale = ValueSome options[i + 2]
                            }
                    | TcpOptionKind.SackPermitted when length = 2 -> k <- { k with SackPermitted = true }
                    | TcpOptionKind.Timestamps when length = 10 ->
                        k <-
                            { k with
                                Timestamps = ValueSome(struct (u32At options (i + 2), u32At options (i + 6)))
                            }
                    | TcpOptionKind.Sack when length >= 10 && (length - 2) % 8 = 0 ->
                        let blocks = (length - 2) / 8

                        k <-
                            { k with
                                SackBlockCount = min MaxSackBlocks blocks
                                Sack0 = sackBlock options i blocks 0
                                Sack1 = sackBlock options i blocks 1
                                Sack2 = sackBlock options i blocks 2
                                Sack3 = sackBlock options i blocks 3
                            }
                    | _ -> ()

                    i <- i + length

        k

    /// `summarize` reading the options where they lie: a header just parsed, whose copy
    /// would wait for the stores that wrote it.
    [<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)>]
    let internal summarizeIn (options: inref<OptionBytes>) : KnownOptions =
        if options.Length = 12 && options.ReadUInt32 0 = 0x0101080Au then
            { none with
                Timestamps = ValueSome(struct (options.ReadUInt32 4, options.ReadUInt32 8))
            }
        else
            summarizeAny options

    /// The known options of a parsed header (its option lengths were validated by
    /// `Tcp.tryParse`; anything malformed is skipped, never thrown). The layout data
    /// segments carry - NOP, NOP, timestamps (RFC 7323 appendix A) - is read in one step.
    let summarize (options: OptionBytes) : KnownOptions = summarizeIn &options

    /// Bytes one option takes on the wire.
    let encodedLength (o: TcpOption) =
        match o with
        | Eol
        | Nop -> 1
        | Mss _ -> 4
        | WindowScale _ -> 3
        | SackPermitted -> 2
        | Sack blocks -> 2 + 8 * List.length blocks
        | Timestamps _ -> 10
        | Unknown(_, data) -> 2 + data.Length

    /// Writes the options in order (no padding) and returns the bytes written. Raises
    /// ArgumentException for an option that has no valid encoding.
    let write (options: TcpOption list) (dest: Span<byte>) : int =
        let mutable offset = 0

        for o in options do
            let n = encodedLength o

            if offset + n > dest.Length then
                invalidArg "options" $"options need more than the {dest.Length} bytes available"

            let d = dest.Slice(offset, n)

            match o with
            | Eol -> d[0] <- TcpOptionKind.Eol
            | Nop -> d[0] <- TcpOptionKind.Nop
            | Mss v ->
                d[0] <- TcpOptionKind.Mss
                BinaryPrimitives.WriteUInt16BigEndian(d.Slice 2, v)
            | WindowScale s ->
                d[0] <- TcpOptionKind.WindowScale
                d[2] <- s
            | SackPermitted -> d[0] <- TcpOptionKind.SackPermitted
            | Sack blocks ->
                if blocks.IsEmpty || blocks.Length > MaxSackBlocks then
                    invalidArg "options" $"a SACK option holds 1 to 4 blocks, not {blocks.Length}"

                d[0] <- TcpOptionKind.Sack

                let mutable i = 0

                for left, right in blocks do
                    BinaryPrimitives.WriteUInt32BigEndian(d.Slice(2 + i * 8, 4), left)
                    BinaryPrimitives.WriteUInt32BigEndian(d.Slice(6 + i * 8, 4), right)
                    i <- i + 1
            | Timestamps(tsval, tsecr) ->
                d[0] <- TcpOptionKind.Timestamps
                BinaryPrimitives.WriteUInt32BigEndian(d.Slice(2, 4), tsval)
                BinaryPrimitives.WriteUInt32BigEndian(d.Slice(6, 4), tsecr)
            | Unknown(kind, data) ->
                if kind = TcpOptionKind.Eol || kind = TcpOptionKind.Nop || n > 255 then
                    invalidArg "options" $"option kind {kind} with {data.Length} data bytes has no encoding"

                d[0] <- kind
                data.AsSpan().CopyTo(d.Slice 2)

            if n > 1 then
                d[1] <- byte n

            offset <- offset + n

        offset

    /// Encodes a list for a header, padded with zeros (EOL) to a multiple of 4 bytes as the
    /// header needs, so `toList` of the result ends with `Eol` when padding was added.
    /// Raises ArgumentException past 40 bytes.
    let ofList (options: TcpOption list) : OptionBytes =
        let total = options |> List.sumBy encodedLength

        if total > OptionBytes.Capacity then
            invalidArg "options" $"options take {total} bytes; a TCP header holds at most 40"

        let buf = Array.zeroCreate<byte>((total + 3) &&& ~~~3)
        write options (Span buf) |> ignore
        OptionBytes.Create buf
