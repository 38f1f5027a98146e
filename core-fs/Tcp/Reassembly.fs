/// Which sequence ranges beyond RCV.NXT have arrived (out of order), so the receiver knows
/// what became contiguous when a hole fills and which SACK blocks to report (RFC 2018).
/// Only the bookkeeping lives here: the bytes sit in the caller's receive buffer, written
/// at their offsets.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Reassembly

/// A received range [Start, End).
[<Struct>]
type Block = { Start: SeqNum; End: SeqNum }

/// The out-of-order ranges: sorted, disjoint, never touching each other, all after the
/// point they were last advanced past. Bounded in number so a peer cannot make it grow.
type Ranges =
    {
        Blocks: Block list
        /// The block that holds the most recently received bytes, first in SACK reports.
        Latest: Block voption
    }

/// How many separate out-of-order ranges are kept; a segment that would make more is not
/// recorded (its bytes come again by retransmission).
[<Literal>]
let MaxBlocks = 512

let empty = { Blocks = []; Latest = ValueNone }

/// What one arrival did.
[<Struct>]
type Arrival =
    /// The bytes now contiguous from RCV.NXT on (0 when the segment left or filled no hole
    /// at the front); RCV.NXT advances by this much.
    | Advanced of bytes: int
    /// Not recorded: too many holes already.
    | Ignored

let private touches (a: Block) (b: Block) =
    SeqNum.le a.Start b.End && SeqNum.le b.Start a.End

let private merge (a: Block) (b: Block) =
    {
        Start = SeqNum.min a.Start b.Start
        End = SeqNum.max a.End b.End
    }

/// `add` for a segment that is past RCV.NXT or finds ranges pending.
[<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)>]
let private addOutOfOrder (rcvNxt: SeqNum) (start: SeqNum) (segEnd: SeqNum) (ranges: Ranges) =
    let seg =
        {
            Start = SeqNum.max start rcvNxt
            End = segEnd
        }
    // Fold the new range into the sorted list, merging everything it touches.
    let before = ranges.Blocks |> List.filter (fun b -> SeqNum.lt b.End seg.Start)
    let after = ranges.Blocks |> List.filter (fun b -> SeqNum.gt b.Start seg.End)

    let merged = ranges.Blocks |> List.filter (touches seg) |> List.fold merge seg

    let blocks = before @ [ merged ] @ after

    // The limit applies to ranges kept for later: a segment that fills the front hole
    // is always taken, or a receiver full of holes could never advance.
    if blocks.Length > MaxBlocks && SeqNum.gt merged.Start rcvNxt then
        struct (Ignored, ranges)
    elif SeqNum.le merged.Start rcvNxt then
        // The front hole is filled: the first block becomes contiguous.
        let rest = List.tail blocks

        let latest =
            match ranges.Latest with
            | ValueSome l when rest |> List.contains l -> ValueSome l
            | _ -> ValueNone

        struct (Advanced(merged.End - rcvNxt), { Blocks = rest; Latest = latest })
    else
        struct (Advanced 0,
                {
                    Blocks = blocks
                    Latest = ValueSome merged
                })

/// Records [start, start + length), already trimmed by the caller to the receive window,
/// given the current RCV.NXT. Returns how far RCV.NXT advances and the ranges after it.
/// Inlined, so the usual case costs a comparison and its answer stays in registers.
[<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)>]
let add (rcvNxt: SeqNum) (start: SeqNum) (length: int) (ranges: Ranges) : struct (Arrival * Ranges) =
    let segEnd = start + length

    if length <= 0 || SeqNum.le segEnd rcvNxt then
        struct (Advanced 0, ranges)
    elif ranges.Blocks.IsEmpty && SeqNum.le start rcvNxt then
        // The common case, in order with nothing pending: no bookkeeping at all.
        struct (Advanced(segEnd - rcvNxt), ranges)
    else
        addOutOfOrder rcvNxt start segEnd ranges

/// Up to `count` SACK blocks to send: the one with the latest arrival first (RFC 2018
/// section 4), then the others in sequence order.
let sackBlocks (count: int) (ranges: Ranges) : Block list =
    let others =
        match ranges.Latest with
        | ValueSome l -> ranges.Blocks |> List.filter ((<>) l)
        | ValueNone -> ranges.Blocks

    let ordered =
        match ranges.Latest with
        | ValueSome l -> l :: others
        | ValueNone -> others

    List.truncate count ordered

/// The ranges with everything before `point` forgotten: blocks that end at or before it
/// go, a block that straddles it is cut (the sender's scoreboard as SND.UNA advances).
let dropBelow (point: SeqNum) (ranges: Ranges) : Ranges =
    if ranges.Blocks.IsEmpty then
        ranges
    else
        let blocks =
            ranges.Blocks
            |> List.filter (fun b -> SeqNum.gt b.End point)
            |> List.map (fun b ->
                if SeqNum.lt b.Start point then
                    { b with Start = point }
                else
                    b)

        let latest =
            match ranges.Latest with
            | ValueSome l when SeqNum.gt l.End point ->
                ValueSome(List.head (blocks |> List.filter (fun b -> b.End = l.End)))
            | _ -> ValueNone

        { Blocks = blocks; Latest = latest }

/// Bytes the ranges cover in [from, until).
let coveredBetween (from: SeqNum) (until: SeqNum) (ranges: Ranges) =
    let mutable total = 0

    for b in ranges.Blocks do
        let s = SeqNum.max b.Start from
        let e = SeqNum.min b.End until

        if SeqNum.lt s e then
            total <- total + (e - s)

    total
