/// Which sequence ranges beyond RCV.NXT have arrived (out of order), so the receiver knows
/// what became contiguous when a hole fills and which SACK blocks to report (RFC 2018).
/// Only the bookkeeping lives here: the bytes sit in the caller's receive buffer, written
/// at their offsets. The ranges live in one array that is reused, so an out-of-order
/// segment allocates nothing.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Reassembly

open System

/// A received range [Start, End).
[<Struct>]
type Block = { Start: SeqNum; End: SeqNum }

/// How many separate out-of-order ranges are kept; a segment that would make more is not
/// recorded (its bytes come again by retransmission).
[<Literal>]
let MaxBlocks = 512

/// What one arrival did.
[<Struct>]
type Arrival =
    /// The bytes now contiguous from RCV.NXT on (0 when the segment left or filled no hole
    /// at the front); RCV.NXT advances by this much.
    | Advanced of bytes: int
    /// Not recorded: too many holes already.
    | Ignored

/// The out-of-order ranges of one connection: sorted, disjoint, never touching each
/// other, all after the point they were last advanced past. Bounded in number so a peer
/// cannot make them grow. Owned by one connection; `Clone` for a copy.
[<Sealed; AllowNullLiteral>]
type Ranges() =
    let mutable blocks: Block array = Array.empty
    let mutable count = 0
    /// The end of the range that took the most recent arrival (first in SACK reports).
    let mutable latestEnd = ValueNone

    member _.Count = count
    member _.IsEmpty = count = 0

    /// The range at `index`, in sequence order.
    member _.Item(index: int) = blocks[index]

    /// The ranges, in sequence order (for tests and printing).
    member _.Blocks = [ for i in 0 .. count - 1 -> blocks[i] ]

    /// The range that took the most recent arrival, if it is still kept.
    member _.Latest =
        match latestEnd with
        | ValueSome e ->
            let mutable found = ValueNone

            for i in 0 .. count - 1 do
                if blocks[i].End = e then
                    found <- ValueSome blocks[i]

            found
        | ValueNone -> ValueNone

    /// Whether [start, stop) was already received out of order.
    member _.Covers(start: SeqNum, stop: SeqNum) =
        let mutable covered = false

        for i in 0 .. count - 1 do
            if SeqNum.le blocks[i].Start start && SeqNum.le stop blocks[i].End then
                covered <- true

        covered

    member _.Clone() =
        let r = Ranges()
        r.Restore((if count = 0 then Array.empty else Array.sub blocks 0 count), count, latestEnd)
        r

    member private _.Restore(b, n, l) =
        blocks <- b
        count <- n
        latestEnd <- l

    /// Records [start, segEnd) past `rcvNxt`, merging it with every range it touches.
    member internal _.AddOutOfOrder(rcvNxt: SeqNum, start: SeqNum, segEnd: SeqNum) =
        let segStart = SeqNum.max start rcvNxt
        // The first range that ends at or after the segment's start, and the first that
        // starts after its end: the ranges between them touch it.
        let mutable first = 0

        while first < count && SeqNum.lt blocks[first].End segStart do
            first <- first + 1

        let mutable past = first

        while past < count && SeqNum.le blocks[past].Start segEnd do
            past <- past + 1

        // The limit applies to ranges kept for later: a segment that fills the front hole
        // is always taken, or a receiver full of holes could never advance.
        if past = first && count >= MaxBlocks && SeqNum.gt segStart rcvNxt then
            Ignored
        else
            let merged =
                if past = first then
                    { Start = segStart; End = segEnd }
                else
                    {
                        Start = SeqNum.min segStart blocks[first].Start
                        End = SeqNum.max segEnd blocks[past - 1].End
                    }

            // Ranges first .. past-1 become the one merged range.
            let removed = past - first
            let next = count - removed + 1

            if next > blocks.Length then
                let bigger = Array.zeroCreate (max 8 (2 * blocks.Length))
                Array.Copy(blocks, bigger, count)
                blocks <- bigger

            Array.Copy(blocks, past, blocks, first + 1, count - past)
            blocks[first] <- merged
            count <- next

            if SeqNum.le merged.Start rcvNxt then
                // The front hole is filled: the first range becomes contiguous.
                Array.Copy(blocks, 1, blocks, 0, count - 1)
                count <- count - 1

                // The latest range went with it if it was merged in.
                if latestEnd.IsSome && SeqNum.le latestEnd.Value merged.End then
                    latestEnd <- ValueNone

                Advanced(merged.End - rcvNxt)
            else
                latestEnd <- ValueSome merged.End
                Advanced 0

    /// Writes up to `room` SACK blocks into `destination` as (start, end) pairs: the one
    /// with the latest arrival first (RFC 2018 section 4), then the others in sequence
    /// order. Returns how many.
    member r.WriteSackBlocks(room: int, destination: Span<Block>) =
        let mutable n = 0
        let mutable latestAt = -1

        for i in 0 .. count - 1 do
            if latestEnd.IsSome && blocks[i].End = latestEnd.Value then
                latestAt <- i

        if latestAt >= 0 && room > 0 then
            destination[0] <- blocks[latestAt]
            n <- 1

        let mutable i = 0

        while n < room && i < count do
            if i <> latestAt then
                destination[n] <- blocks[i]
                n <- n + 1

            i <- i + 1

        n

/// No range yet.
let empty () = Ranges()

/// Records [start, start + length), already trimmed by the caller to the receive window,
/// given the current RCV.NXT, changing `ranges` in place. Returns how far RCV.NXT
/// advances. Inlined, so the usual case costs a comparison.
[<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)>]
let add (rcvNxt: SeqNum) (start: SeqNum) (length: int) (ranges: Ranges) : Arrival =
    let segEnd = start + length

    if length <= 0 || SeqNum.le segEnd rcvNxt then
        Advanced 0
    elif ranges.IsEmpty && SeqNum.le start rcvNxt then
        // The common case, in order with nothing pending: no bookkeeping at all.
        Advanced(segEnd - rcvNxt)
    else
        ranges.AddOutOfOrder(rcvNxt, start, segEnd)

/// Up to `count` SACK blocks to send, as `WriteSackBlocks` orders them (a list: for tests).
let sackBlocks (count: int) (ranges: Ranges) : Block list =
    let area = Array.zeroCreate (max 0 count)
    let n = ranges.WriteSackBlocks(count, Span area)
    List.ofArray area |> List.truncate n
