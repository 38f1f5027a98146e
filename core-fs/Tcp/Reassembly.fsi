/// Which sequence ranges beyond RCV.NXT have arrived (out of order), so the receiver knows
/// what became contiguous when a hole fills and which SACK blocks to report (RFC 2018).
/// Only the bookkeeping lives here: the bytes sit in the caller's receive buffer, written
/// at their offsets. The ranges live in one array that is reused, so an out-of-order
/// segment allocates nothing.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Reassembly

/// A received range [Start, End).
[<NoComparison; Struct>]
type Block =
    {
        Start: Stack.Core.Tcp.SeqNum
        End: Stack.Core.Tcp.SeqNum
    }

/// How many separate out-of-order ranges are kept; a segment that would make more is not
/// recorded (its bytes come again by retransmission).
[<Literal>]
val MaxBlocks: int = 512

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
type Ranges =

    new: unit -> Ranges

    /// Records [start, segEnd) past `rcvNxt`, merging it with every range it touches.
    member internal AddOutOfOrder:
        rcvNxt: Stack.Core.Tcp.SeqNum * start: Stack.Core.Tcp.SeqNum * segEnd: Stack.Core.Tcp.SeqNum -> Arrival

    member Clone: unit -> Ranges

    /// Whether [start, stop) was already received out of order.
    member Covers: start: Stack.Core.Tcp.SeqNum * stop: Stack.Core.Tcp.SeqNum -> bool

    /// The range at `index`, in sequence order.
    member Item: index: int -> Block

    /// Writes up to `room` SACK blocks into `destination` as (start, end) pairs: the one
    /// with the latest arrival first (RFC 2018 section 4), then the others in sequence
    /// order. Returns how many.
    member WriteSackBlocks: room: int * destination: System.Span<Block> -> int

    /// The ranges, in sequence order (for tests and printing).
    member Blocks: Block list

    member Count: int

    member IsEmpty: bool

    /// The range that took the most recent arrival, if it is still kept.
    member Latest: Block voption

/// No range yet.
val empty: unit -> Ranges

/// Records [start, start + length), already trimmed by the caller to the receive window,
/// given the current RCV.NXT, changing `ranges` in place. Returns how far RCV.NXT
/// advances. Inlined, so the usual case costs a comparison.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val add: rcvNxt: Stack.Core.Tcp.SeqNum -> start: Stack.Core.Tcp.SeqNum -> length: int -> ranges: Ranges -> Arrival

/// Up to `count` SACK blocks to send, as `WriteSackBlocks` orders them (a list: for tests).
val sackBlocks: count: int -> ranges: Ranges -> Block list
