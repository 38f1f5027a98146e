namespace Stack.Core.Tcp

open System
open System.Runtime.CompilerServices

/// A TCP sequence number: a point on a circle of 2^32 (RFC 9293 3.4). Only wrap-safe
/// operations exist - there is deliberately no ordinary comparison, since "less than"
/// only means something between numbers less than 2^31 apart.
[<Struct; IsReadOnly; NoComparison>]
type SeqNum =
    val Value: uint32
    new(value: uint32) = { Value = value }

    /// The number `n` places further on (n may be negative).
    static member (+)(s: SeqNum, n: int) = SeqNum(s.Value + uint32 n)

    /// The number `n` places back.
    static member (-)(s: SeqNum, n: int) = SeqNum(s.Value - uint32 n)

    /// The signed distance from `b` to `a`: positive when `a` is after `b`.
    static member (-)(a: SeqNum, b: SeqNum) : int = int (a.Value - b.Value)

    override s.ToString() = string s.Value

/// Comparisons modulo 2^32, in the RFC's notation: `lt a b` is "a < b" where b is less
/// than 2^31 ahead of a.
module SeqNum =
    let inline ofUInt32 (v: uint32) = SeqNum v

    /// a < b
    let inline lt (a: SeqNum) (b: SeqNum) = int (a.Value - b.Value) < 0

    /// a <= b
    let inline le (a: SeqNum) (b: SeqNum) = int (a.Value - b.Value) <= 0

    /// a > b
    let inline gt (a: SeqNum) (b: SeqNum) = int (a.Value - b.Value) > 0

    /// a >= b
    let inline ge (a: SeqNum) (b: SeqNum) = int (a.Value - b.Value) >= 0

    /// The later of two numbers.
    let inline max (a: SeqNum) (b: SeqNum) = if ge a b then a else b

    /// The earlier of two numbers.
    let inline min (a: SeqNum) (b: SeqNum) = if le a b then a else b

    /// start <= x < start + length: `x` falls in the window of `length` numbers that
    /// begins at `start` (the receive-window test of RFC 9293 3.10.7.4). An empty window
    /// holds nothing.
    let inline inWindow (start: SeqNum) (length: uint32) (x: SeqNum) = x.Value - start.Value < length

    /// low < x <= high, the acceptable-ACK test of RFC 9293 3.10.7.4 (SND.UNA < SEG.ACK =<
    /// SND.NXT).
    let inline betweenExclusiveInclusive (low: SeqNum) (x: SeqNum) (high: SeqNum) =
        x.Value - low.Value - 1u < high.Value - low.Value
