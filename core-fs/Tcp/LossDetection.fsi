/// Deciding which segments in flight are lost, behind one seam: each detector marks
/// entries of the scoreboard lost, and the sender retransmits what is marked. RACK
/// (RFC 8985) judges by time, RFC 6675 by how much was SACKed above a hole, and without
/// SACK, NewReno (RFC 6582) by three duplicate ACKs.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.LossDetection

/// Duplicate ACKs, or segments' worth SACKed above a hole, that mean a loss (DupThresh).
[<Literal>]
val internal DupThresh: int = 3

/// Marks the segments the connection now knows to be lost, after an ACK (whose D-SACK,
/// if any, is `dsack`) or when the reordering timer fires.
val internal detect: c: Stack.Core.Tcp.Connection -> now: int64 -> dsack: bool -> unit
