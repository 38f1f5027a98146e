namespace Stack.Core

/// A seeded pseudo-random generator as a value (SplitMix64, Steele, Lea and Flood 2014):
/// each draw returns the number and the next state, so a run replays exactly from its
/// seed. For simulation and impairment, not for secrets.
[<Struct>]
type Rng = { State: uint64 }

module Rng =

    val create: seed: uint64 -> Rng

    /// The next 64 random bits and the state after them.
    val next: rng: Rng -> struct (uint64 * Rng)

    /// A float in [0, 1) and the next state.
    val nextFloat: rng: Rng -> struct (float * Rng)

    /// An integer in [0, bound) for bound > 0, and the next state.
    val nextBelow: bound: int -> rng: Rng -> struct (int * Rng)

    /// True with probability `p`, and the next state. Draws even when p is 0 or 1, so the
    /// sequence of draws does not depend on the probabilities.
    val chance: p: float -> rng: Rng -> struct (bool * Rng)
