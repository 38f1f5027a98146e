namespace Stack.Core.Tcp

/// A TCP sequence number: a point on a circle of 2^32 (RFC 9293 3.4). Only wrap-safe
/// operations exist - there is deliberately no ordinary comparison, since "less than"
/// only means something between numbers less than 2^31 apart.
[<System.Runtime.CompilerServices.IsReadOnly; NoComparison; Struct>]
type SeqNum =

    new: value: uint32 -> SeqNum

    val Value: uint32

    /// The number `n` places further on (n may be negative).
    static member (+): s: SeqNum * n: int -> SeqNum

    /// The signed distance from `b` to `a`: positive when `a` is after `b`.
    static member (-): a: SeqNum * b: SeqNum -> int

    /// The number `n` places back.
    static member (-): s: SeqNum * n: int -> SeqNum

    override ToString: unit -> string

/// Comparisons modulo 2^32, in the RFC's notation: `lt a b` is "a < b" where b is less
/// than 2^31 ahead of a.
module SeqNum =

    val inline ofUInt32: v: uint32 -> SeqNum

    /// a < b
    val inline lt: a: SeqNum -> b: SeqNum -> bool

    /// a <= b
    val inline le: a: SeqNum -> b: SeqNum -> bool

    /// a > b
    val inline gt: a: SeqNum -> b: SeqNum -> bool

    /// a >= b
    val inline ge: a: SeqNum -> b: SeqNum -> bool

    /// The later of two numbers.
    val inline max: a: SeqNum -> b: SeqNum -> SeqNum

    /// The earlier of two numbers.
    val inline min: a: SeqNum -> b: SeqNum -> SeqNum

    /// start <= x < start + length: `x` falls in the window of `length` numbers that
    /// begins at `start` (the receive-window test of RFC 9293 3.10.7.4). An empty window
    /// holds nothing.
    val inline inWindow: start: SeqNum -> length: uint32 -> x: SeqNum -> bool

    /// low < x <= high, the acceptable-ACK test of RFC 9293 3.10.7.4 (SND.UNA < SEG.ACK =<
    /// SND.NXT).
    val inline betweenExclusiveInclusive: low: SeqNum -> x: SeqNum -> high: SeqNum -> bool
