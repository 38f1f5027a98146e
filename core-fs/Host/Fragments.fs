namespace Stack.Core.Host

open System
open System.Collections.Immutable
open Stack.Core.Wire

/// Which datagram a fragment belongs to (RFC 791 3.2, RFC 8200 4.5): its ends, its
/// identification and, for IPv4, its protocol.
[<Struct>]
type FragmentKey =
    {
        Source: IpAddress
        Destination: IpAddress
        Identification: uint32
        Protocol: byte
    }

/// A datagram being put back together: the pieces so far, each at its offset, in order.
type PartialDatagram =
    {
        /// When its first fragment arrived: it is given up `Timeout` after.
        Started: int64

        /// What goes before the data once it is whole: the first fragment's header, as
        /// the family's reassembly wants it; null until that fragment arrives.
        Header: byte array
        Pieces: struct (int * byte array) list

        /// Bytes charged for it: each piece's data, header and `PieceOverhead`.
        Held: int

        /// The data's whole length, known once the last fragment came; -1 before.
        Total: int
    }

/// How much reassembly may hold, and for how long.
type FragmentLimits =
    {
        /// Bytes of fragments held at once, all sources together (Linux: ipfrag_high_thresh,
        /// 4 MiB), each piece charged its bytes and `FragmentTable.PieceOverhead`.
        MaxBytes: int

        /// Bytes of fragments held at once from one source address.
        MaxBytesPerSource: int

        /// Fragments one datagram may be cut into (a 64 KiB datagram over a 576-byte IPv4
        /// link takes 118): more are dropped with the datagram, which keeps the work per
        /// fragment small whatever a peer sends.
        MaxPieces: int

        /// A datagram not whole this long after its first fragment is given up (Linux:
        /// ipfrag_time, 30 s; RFC 8200 4.5: 60 s).
        TimeoutMicros: int64
    }

/// Why a fragment was dropped.
type FragmentDrop =
    /// It overlaps a fragment already held: the whole datagram is dropped (RFC 5722).
    | Overlap

    /// Holding it would pass a limit of `FragmentLimits` (bytes, or pieces: then the
    /// datagram is dropped too).
    | OverLimit

    /// Its data would end past 65,535 bytes, or a fragment with more to come is not a
    /// multiple of 8 bytes long.
    | Malformed

/// What became of a fragment.
type FragmentOutcome =
    /// Held until the rest arrives.
    | Waiting

    /// The datagram is whole: the first fragment's header and all the data.
    | Whole of header: byte array * data: byte array

    | Dropped of FragmentDrop

/// Every datagram being reassembled, by key, with what it holds. A value: adding a
/// fragment gives a new one, so a host copied for a value step shares it safely.
type FragmentTable =
    {
        Partials: ImmutableDictionary<FragmentKey, PartialDatagram>
        Held: int
        HeldBySource: ImmutableDictionary<IpAddress, int>

        /// When `sweep` next looks for datagrams out of time.
        NextSweep: int64
    }

module FragmentTable =
    [<Literal>]
    let PieceOverhead = 256

    [<Literal>]
    let SweepIntervalMicros = 100_000L

    let empty =
        {
            Partials = ImmutableDictionary<FragmentKey, PartialDatagram>.Empty
            Held = 0
            HeldBySource = ImmutableDictionary<IpAddress, int>.Empty
            NextSweep = Int64.MinValue
        }

    let private heldBy (r: FragmentTable) (source: IpAddress) =
        match r.HeldBySource.TryGetValue source with
        | true, n -> n
        | _ -> 0

    let private release (r: FragmentTable) (key: FragmentKey) (p: PartialDatagram) =
        let left = heldBy r key.Source - p.Held

        { r with
            Partials = r.Partials.Remove key
            Held = r.Held - p.Held
            HeldBySource =
                if left <= 0 then
                    r.HeldBySource.Remove key.Source
                else
                    r.HeldBySource.SetItem(key.Source, left)
        }

    /// Gives up the datagrams whose time ran out; also how many.
    let expire (now: int64) (limits: FragmentLimits) (r: FragmentTable) : struct (FragmentTable * int) =
        if r.Partials.IsEmpty then
            struct (r, 0)
        else
            let mutable result = r
            let mutable count = 0

            for KeyValue(key, p) in r.Partials do
                if now - p.Started >= limits.TimeoutMicros then
                    result <- release result key p
                    count <- count + 1

            struct (result, count)

    let sweep (now: int64) (limits: FragmentLimits) (r: FragmentTable) : struct (FragmentTable * int) =
        if now < r.NextSweep then
            struct (r, 0)
        else
            let struct (swept, count) = expire now limits r

            struct ({ swept with
                        NextSweep = now + SweepIntervalMicros
                    },
                    count)

    /// The earliest time a held datagram runs out, if any is held.
    let nextDeadline (limits: FragmentLimits) (r: FragmentTable) =
        if r.Partials.IsEmpty then
            ValueNone
        else
            let mutable earliest = Int64.MaxValue

            for p in r.Partials.Values do
                earliest <- min earliest (p.Started + limits.TimeoutMicros)

            ValueSome earliest

    /// The data of a datagram whose pieces cover 0 to `total` without a gap.
    let private joined (pieces: struct (int * byte array) list) (total: int) =
        let mutable at = 0
        let mutable gap = false

        for struct (offset, data) in pieces do
            if offset <> at then
                gap <- true

            at <- offset + data.Length

        if gap || at <> total then
            ValueNone
        else
            let whole = Array.zeroCreate total

            for struct (offset, data) in pieces do
                data.CopyTo(whole, offset)

            ValueSome whole

    /// A fragment arrives: `data` goes at byte `offset` of the datagram, `more` says
    /// whether fragments follow, and `header` is what precedes the data once whole (kept
    /// from the fragment at offset 0). Overlapping data drops the datagram; an exact
    /// duplicate of a piece held is ignored, as a duplicated packet.
    let add
        (now: int64)
        (limits: FragmentLimits)
        (key: FragmentKey)
        (offset: int)
        (more: bool)
        (header: ReadOnlySpan<byte>)
        (data: ReadOnlySpan<byte>)
        (r: FragmentTable)
        : struct (FragmentTable * FragmentOutcome) =
        let partial =
            match r.Partials.TryGetValue key with
            | true, p -> ValueSome p
            | _ -> ValueNone

        let length = data.Length
        let finish = offset + length

        let cost = length + PieceOverhead + (if offset = 0 then header.Length else 0)

        if finish > 65535 || (more && data.Length % 8 <> 0) || (more && data.IsEmpty) then
            struct (r, Dropped Malformed)
        elif
            r.Held + cost > limits.MaxBytes
            || heldBy r key.Source + cost > limits.MaxBytesPerSource
        then
            struct (r, Dropped OverLimit)
        else
            let p =
                partial
                |> ValueOption.defaultValue
                    {
                        Started = now
                        Header = null
                        Pieces = []
                        Held = 0
                        Total = -1
                    }

            let duplicate =
                p.Pieces |> List.exists (fun (struct (o, d)) -> o = offset && d.Length = length)

            let overlaps =
                p.Pieces
                |> List.exists (fun (struct (o, d)) -> offset < o + d.Length && o < finish)

            // A last fragment must agree with what is held: nothing beyond its end, and
            // no other last fragment with a different end.
            let badEnd =
                (not more && (p.Total >= 0 && p.Total <> finish))
                || (not more
                    && p.Pieces |> List.exists (fun (struct (o, d)) -> o + d.Length > finish))
                || (more && p.Total >= 0 && finish > p.Total)

            if duplicate then
                struct (r, Waiting)
            elif overlaps || badEnd || List.length p.Pieces >= limits.MaxPieces then
                let r =
                    match partial with
                    | ValueSome p -> release r key p
                    | ValueNone -> r

                struct (r, Dropped(if overlaps || badEnd then Overlap else OverLimit))
            else
                let pieces =
                    struct (offset, data.ToArray()) :: p.Pieces
                    |> List.sortBy (fun (struct (o, _)) -> o)

                let p =
                    { p with
                        Pieces = pieces
                        Held = p.Held + cost
                        Header = (if offset = 0 then header.ToArray() else p.Header)
                        Total = (if more then p.Total else finish)
                    }

                let held =
                    { r with
                        Partials = r.Partials.SetItem(key, p)
                        Held = r.Held + cost
                        HeldBySource = r.HeldBySource.SetItem(key.Source, heldBy r key.Source + cost)
                    }

                match
                    (if p.Total >= 0 && not (isNull p.Header) then
                         joined p.Pieces p.Total
                     else
                         ValueNone)
                with
                | ValueSome whole -> struct (release held key p, Whole(p.Header, whole))
                | ValueNone -> struct (held, Waiting)
