namespace Stack.Core

/// A seeded pseudo-random generator as a value (SplitMix64, Steele, Lea and Flood 2014):
/// each draw returns the number and the next state, so a run replays exactly from its
/// seed. For simulation and impairment, not for secrets.
[<Struct>]
type Rng = { State: uint64 }

module Rng =
    let create (seed: uint64) = { State = seed }

    /// The next 64 random bits and the state after them.
    let next (rng: Rng) : struct (uint64 * Rng) =
        let state = rng.State + 0x9E3779B97F4A7C15UL
        let mutable z = state
        z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
        z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
        struct (z ^^^ (z >>> 31), { State = state })

    /// A float in [0, 1) and the next state.
    let nextFloat (rng: Rng) : struct (float * Rng) =
        let struct (bits, rng) = next rng
        // The top 53 bits make every double in [0, 1) with 2^-53 spacing equally likely.
        struct (float (bits >>> 11) * (1.0 / 9007199254740992.0), rng)

    /// An integer in [0, bound) for bound > 0, and the next state.
    let nextBelow (bound: int) (rng: Rng) : struct (int * Rng) =
        let struct (f, rng) = nextFloat rng
        struct (min (bound - 1) (int (f * float bound)), rng)

    /// True with probability `p`, and the next state. Draws even when p is 0 or 1, so the
    /// sequence of draws does not depend on the probabilities.
    let chance (p: float) (rng: Rng) : struct (bool * Rng) =
        let struct (f, rng) = nextFloat rng
        struct (f < p, rng)
