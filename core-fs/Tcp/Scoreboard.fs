/// The sender's record of the data in flight: one entry per segment as it last left, with
/// its sequence range, when it left, and whether the peer SACKed it, loss detection judged
/// it lost, or it was ever sent again. Loss detection (RACK, RFC 6675) marks entries; the
/// sender retransmits what is marked lost. The entries live in one array that grows with
/// the flight and is reused, so nothing is allocated per segment.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Scoreboard

open System

/// What is known of one entry.
[<Flags>]
type Marks =
    | None = 0uy
    /// The peer reported holding it (RFC 2018).
    | Sacked = 1uy
    /// Judged lost and not sent again since: it waits for retransmission.
    | Lost = 2uy
    /// Sent more than once: an ACK for it may be for any of the copies.
    | Retransmitted = 4uy

/// A segment in flight: [Start, End) of sequence space (a FIN counts one), when it last
/// left, and the order it left in (segments of one step leave at the same time; the
/// order tells which went first).
[<Struct>]
type Entry =
    {
        mutable Start: SeqNum
        mutable End: SeqNum
        mutable SentAt: int64
        mutable Order: int
        mutable Marks: Marks
    }

    member e.Length = e.End - e.Start
    member e.Has(m: Marks) = e.Marks &&& m = m

/// Entries kept at most. Past it, new data joins the last entry and SACK blocks that would
/// split an entry are taken whole or not at all, so a peer that SACKs odd ranges cannot
/// make the board grow.
[<Literal>]
let MaxEntries = 4096

/// The entries of one connection, in sequence order, contiguous from SND.UNA to SND.MAX.
[<Sealed; AllowNullLiteral>]
type Board() =
    let mutable items: Entry array = Array.empty
    let mutable head = 0
    let mutable count = 0
    let mutable sackedBytes = 0
    let mutable lostBytes = 0

    /// Room for `extra` more entries after the last: the array is compacted when at most
    /// half of it is used, otherwise doubled.
    member private _.Reserve(extra: int) =
        if head + count + extra > items.Length then
            if count + extra <= items.Length / 2 then
                Array.Copy(items, head, items, 0, count)
            else
                let bigger = Array.zeroCreate (max 16 (2 * (count + extra)))
                Array.Copy(items, head, bigger, 0, count)
                items <- bigger

            head <- 0

    /// Entries in flight (SACKed and lost ones included).
    member _.Count = count
    /// Bytes the peer reported holding above SND.UNA.
    member _.SackedBytes = sackedBytes
    /// Bytes judged lost and not yet sent again.
    member _.LostBytes = lostBytes

    /// The entry at `index` (0 is the one at SND.UNA), in place.
    member _.At(index: int) : byref<Entry> = &items[head + index]

    /// A copy with entries of its own, just the live ones (for the value steps).
    member _.Clone() =
        let b = Board()

        let live =
            if count = 0 then
                Array.empty
            else
                Array.sub items head count

        b.Restore(live, 0, count, sackedBytes, lostBytes)
        b

    member private _.Restore(i, h, n, s, l) =
        items <- i
        head <- h
        count <- n
        sackedBytes <- s
        lostBytes <- l

    /// Forgets every entry.
    member _.Clear() =
        head <- 0
        count <- 0
        sackedBytes <- 0
        lostBytes <- 0

    /// New data [start, stop) left at `now`, after every entry.
    member b.Append(start: SeqNum, stop: SeqNum, now: int64, order: int) =
        if count > 0 && count >= MaxEntries && items[head + count - 1].Marks = Marks.None then
            let last = &items[head + count - 1]
            last.End <- stop
            last.SentAt <- now
            last.Order <- order
        else
            b.Reserve 1

            items[head + count] <-
                {
                    Start = start
                    End = stop
                    SentAt = now
                    Order = order
                    Marks = Marks.None
                }

            count <- count + 1

    /// The index of the entry holding `seq`, or -1.
    member _.IndexOf(seq: SeqNum) =
        let mutable lo = 0
        let mutable hi = count - 1
        let mutable found = -1

        while lo <= hi do
            let mid = (lo + hi) >>> 1
            let e = &items[head + mid]

            if SeqNum.lt seq e.Start then
                hi <- mid - 1
            elif SeqNum.ge seq e.End then
                lo <- mid + 1
            else
                found <- mid
                lo <- hi + 1

        found

    /// Cuts the entry holding `seq` in two at `seq`, both halves keeping its marks and
    /// time. False when no entry holds `seq` inside it, or when the board is full and
    /// `force` is off.
    member b.SplitAt(seq: SeqNum, force: bool) =
        let i = b.IndexOf seq

        if i < 0 || items[head + i].Start = seq || (count >= MaxEntries && not force) then
            false
        else
            b.Reserve 1
            let at = head + i
            Array.Copy(items, at, items, at + 1, count - i)
            count <- count + 1
            items[at].End <- seq
            items[at + 1].Start <- seq
            true

    /// Marks the entry at `index` SACKed; returns the bytes that newly became SACKed.
    member _.MarkSacked(index: int) =
        let e = &items[head + index]

        if e.Has Marks.Sacked then
            0
        else
            if e.Has Marks.Lost then
                lostBytes <- lostBytes - e.Length

            e.Marks <- (e.Marks &&& ~~~Marks.Lost) ||| Marks.Sacked
            sackedBytes <- sackedBytes + e.Length
            e.Length

    /// Marks the entry at `index` lost, unless the peer holds it.
    member _.MarkLost(index: int) =
        let e = &items[head + index]

        if not (e.Has Marks.Sacked || e.Has Marks.Lost) then
            e.Marks <- e.Marks ||| Marks.Lost
            lostBytes <- lostBytes + e.Length

    /// The entry at `index` left again at `now`.
    member _.MarkRetransmitted(index: int, now: int64, order: int) =
        let e = &items[head + index]

        if e.Has Marks.Lost then
            lostBytes <- lostBytes - e.Length

        e.Marks <- (e.Marks &&& ~~~Marks.Lost) ||| Marks.Retransmitted
        e.SentAt <- now
        e.Order <- order

    /// After a retransmission timeout (RFC 6675 5.1, RFC 2018 8): what the peer SACKed is
    /// not trusted any more (it may have dropped it), and everything is lost.
    member _.MarkAllLost() =
        sackedBytes <- 0
        lostBytes <- 0

        for i in head .. head + count - 1 do
            let e = &items[i]
            e.Marks <- (e.Marks &&& Marks.Retransmitted) ||| Marks.Lost
            lostBytes <- lostBytes + e.Length

    /// The peer dropped what it SACKed (RFC 2018 8): no entry counts as SACKed any more.
    member _.ForgetSacks() =
        sackedBytes <- 0

        for i in head .. head + count - 1 do
            items[i].Marks <- items[i].Marks &&& ~~~Marks.Sacked

    /// Nothing is judged lost any more (a reduction was undone: the losses were not real).
    member _.ClearLost() =
        lostBytes <- 0

        for i in head .. head + count - 1 do
            items[i].Marks <- items[i].Marks &&& ~~~Marks.Lost

    /// Entries that end at or before `una` leave (the peer has them); one that straddles it
    /// is cut. Returns how many entries left whole.
    member _.AckTo(una: SeqNum) =
        let mutable gone = 0

        while gone < count && SeqNum.le items[head + gone].End una do
            let e = &items[head + gone]

            if e.Has Marks.Sacked then
                sackedBytes <- sackedBytes - e.Length
            elif e.Has Marks.Lost then
                lostBytes <- lostBytes - e.Length

            gone <- gone + 1

        head <- head + gone
        count <- count - gone

        if count = 0 then
            head <- 0
        elif SeqNum.lt items[head].Start una then
            let e = &items[head]
            let cut = una - e.Start

            if e.Has Marks.Sacked then
                sackedBytes <- sackedBytes - cut
            elif e.Has Marks.Lost then
                lostBytes <- lostBytes - cut

            e.Start <- una

        gone

    /// The first entry at or after `from` that is marked lost, or -1.
    member _.FirstLost(from: int) =
        let mutable i = max 0 from

        if lostBytes = 0 then
            -1
        else
            while i < count && not (items[head + i].Has Marks.Lost) do
                i <- i + 1

            if i < count then i else -1

    /// The entries as a list, first to last (for tests and the pretty printer).
    member _.ToList() =
        [ for i in head .. head + count - 1 -> items[i] ]
