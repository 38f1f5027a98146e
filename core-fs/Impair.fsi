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
val none: Options

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
    member TryGetCorruptOffset: [<System.Runtime.InteropServices.Out>] offset: byref<int> -> bool

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
    member TryGetFirst: [<System.Runtime.InteropServices.Out>] first: byref<Delivery> -> bool

    /// The second copy, when the link duplicated a delivered packet (for C#).
    member TryGetDuplicate: [<System.Runtime.InteropServices.Out>] duplicate: byref<Delivery> -> bool

    /// The copies delivered, in the order the link made them.
    member Copies: Delivery list

/// The link between packets: its options, its generator, and when its transmitter is
/// next free (for the rate limit).
[<Struct>]
type Link =
    {
        Options: Options
        Rng: Stack.Core.Rng
        BusyUntil: int64
    }

val create: options: Options -> seed: uint64 -> Link

/// The fate of a packet of `length` bytes offered at `now`, and the link after it.
/// Every offer draws the same number of random values whatever the options, so changing
/// one probability does not reshuffle the rest of a run.
val offer: now: int64 -> length: int -> link: Link -> struct (Fate * Link)
