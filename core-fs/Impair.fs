/// A pure model of an imperfect link: what happens to each packet offered to it - lost,
/// duplicated, delayed with jitter, reordered, corrupted, held back by a rate limit with a
/// bounded queue. The simulator and the shell's impaired link both use it, so a run is
/// the same wherever its seed is replayed. Times are microseconds on the caller's clock.
module Stack.Core.Impair

/// How the link misbehaves. Probabilities are in [0, 1].
type Options =
    {
        Loss: float
        Duplicate: float
        /// Chance that a packet is held back by `ReorderDelayMicros` extra, so later packets
        /// overtake it.
        Reorder: float
        ReorderDelayMicros: int64
        /// Chance that one byte of a delivered copy is flipped.
        Corrupt: float
        DelayMicros: int64
        /// Uniform jitter in [0, JitterMicros) added to the delay. Jitter alone can reorder.
        JitterMicros: int64
        /// Link rate in bits per second; 0 for no limit.
        RateBitsPerSecond: int64
        /// Bytes the rate-limited queue holds before it drops (tail drop).
        QueueLimitBytes: int64
    }

/// A perfect link: no loss, no delay, no limit.
let none =
    {
        Loss = 0.0
        Duplicate = 0.0
        Reorder = 0.0
        ReorderDelayMicros = 0L
        Corrupt = 0.0
        DelayMicros = 0L
        JitterMicros = 0L
        RateBitsPerSecond = 0L
        QueueLimitBytes = 0L
    }

/// One copy of a packet that arrives: when, and which byte (if any) to flip with which
/// mask. The caller owns the bytes and applies the flip.
[<Struct>]
type Delivery =
    {
        At: int64
        CorruptOffset: int voption
        CorruptMask: byte
    }

    /// The byte to flip, when the link corrupts this copy (for C#).
    member d.TryGetCorruptOffset([<System.Runtime.InteropServices.Out>] offset: byref<int>) =
        match d.CorruptOffset with
        | ValueSome o ->
            offset <- o
            true
        | ValueNone -> false

/// Why a packet did not arrive.
type DropReason =
    | Lost
    | QueueFull

/// The fate of one packet: dropped, or one or two copies delivered. A struct, so a
/// packet's fate allocates nothing.
[<Struct>]
type Fate =
    | Dropped of reason: DropReason
    /// Delivered, and delivered again when the link duplicated it.
    | Delivered of first: Delivery * duplicate: Delivery voption

    /// The first copy, when the packet was delivered (for C#).
    member f.TryGetFirst([<System.Runtime.InteropServices.Out>] first: byref<Delivery>) =
        match f with
        | Delivered(d, _) ->
            first <- d
            true
        | Dropped _ -> false

    /// The second copy, when the link duplicated a delivered packet (for C#).
    member f.TryGetDuplicate([<System.Runtime.InteropServices.Out>] duplicate: byref<Delivery>) =
        match f with
        | Delivered(_, ValueSome d) ->
            duplicate <- d
            true
        | _ -> false

    /// The copies delivered, in the order the link made them.
    member f.Copies =
        match f with
        | Delivered(first, ValueSome second) -> [ first; second ]
        | Delivered(first, ValueNone) -> [ first ]
        | Dropped _ -> []

/// The link between packets: its options, its generator, and when its transmitter is
/// next free (for the rate limit).
[<Struct>]
type Link =
    {
        Options: Options
        Rng: Rng
        BusyUntil: int64
    }

let create (options: Options) (seed: uint64) =
    {
        Options = options
        Rng = Rng.create seed
        BusyUntil = 0L
    }

let private copyOf (o: Options) (departure: int64) (length: int) (rng: Rng) : struct (Delivery * Rng) =
    let struct (jitter, rng) = Rng.nextFloat rng
    let struct (reorder, rng) = Rng.chance o.Reorder rng
    let struct (corrupt, rng) = Rng.chance o.Corrupt rng
    let struct (offset, rng) = Rng.nextBelow (max 1 length) rng
    let struct (bit, rng) = Rng.nextBelow 8 rng

    let at =
        departure
        + o.DelayMicros
        + int64 (jitter * float o.JitterMicros)
        + (if reorder then o.ReorderDelayMicros else 0L)

    let delivery =
        {
            At = at
            CorruptOffset =
                if corrupt && length > 0 then
                    ValueSome offset
                else
                    ValueNone
            CorruptMask = 1uy <<< bit
        }

    struct (delivery, rng)

/// The fate of a packet of `length` bytes offered at `now`, and the link after it.
/// Every offer draws the same number of random values whatever the options, so changing
/// one probability does not reshuffle the rest of a run.
let offer (now: int64) (length: int) (link: Link) : struct (Fate * Link) =
    let o = link.Options
    let struct (lost, rng) = Rng.chance o.Loss link.Rng
    let struct (duplicated, rng) = Rng.chance o.Duplicate rng
    let struct (first, rng) = copyOf o 0L length rng
    let struct (second, rng) = copyOf o 0L length rng
    let link = { link with Rng = rng }

    if lost then
        struct (Dropped Lost, link)
    else
        // The rate limit: the packet leaves when the transmitter is free and has spent
        // its serialisation time on it; a queue longer than the limit drops it.
        let start = max now link.BusyUntil

        let queuedBytes =
            if o.RateBitsPerSecond > 0L then
                (start - now) * o.RateBitsPerSecond / 8_000_000L
            else
                0L

        if o.RateBitsPerSecond > 0L && queuedBytes + int64 length > o.QueueLimitBytes then
            struct (Dropped QueueFull, link)
        else
            let departure =
                if o.RateBitsPerSecond > 0L then
                    start
                    + (int64 length * 8_000_000L + o.RateBitsPerSecond - 1L) / o.RateBitsPerSecond
                else
                    now

            let shift (d: Delivery) = { d with At = d.At + departure }

            let duplicate = if duplicated then ValueSome(shift second) else ValueNone

            struct (Delivered(shift first, duplicate), { link with BusyUntil = departure })
