/// The sender's record of the data in flight: one entry per segment as it last left, with
/// its sequence range, when it left, and whether the peer SACKed it, loss detection judged
/// it lost, or it was ever sent again. Loss detection (RACK, RFC 6675) marks entries; the
/// sender retransmits what is marked lost. The entries live in one array that grows with
/// the flight and is reused, so nothing is allocated per segment.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Scoreboard

/// What is known of one entry.
[<System.Flags>]
type Marks =
    | None = 0uy
    | Sacked = 1uy
    | Lost = 2uy
    | Retransmitted = 4uy

/// A segment in flight: [Start, End) of sequence space (a FIN counts one), when it last
/// left, and the order it left in (segments of one step leave at the same time; the
/// order tells which went first).
[<NoComparison; Struct>]
type Entry =
    {
        mutable Start: Stack.Core.Tcp.SeqNum
        mutable End: Stack.Core.Tcp.SeqNum
        mutable SentAt: int64
        mutable Order: int
        mutable Marks: Marks
    }

    member Has: m: Marks -> bool

    member Length: int

/// Entries kept at most. Past it, new data joins the last entry and SACK blocks that would
/// split an entry are taken whole or not at all, so a peer that SACKs odd ranges cannot
/// make the board grow.
[<Literal>]
val MaxEntries: int = 4096

/// The entries of one connection, in sequence order, contiguous from SND.UNA to SND.MAX.
[<Sealed; AllowNullLiteral>]
type Board =

    new: unit -> Board

    /// Entries that end at or before `una` leave (the peer has them); one that straddles it
    /// is cut. Returns how many entries left whole.
    member AckTo: una: Stack.Core.Tcp.SeqNum -> int

    /// New data [start, stop) left at `now`, after every entry.
    member Append: start: Stack.Core.Tcp.SeqNum * stop: Stack.Core.Tcp.SeqNum * now: int64 * order: int -> unit

    /// The entry at `index` (0 is the one at SND.UNA), in place.
    member At: index: int -> byref<Entry>

    /// Forgets every entry.
    member Clear: unit -> unit

    /// Nothing is judged lost any more (a reduction was undone: the losses were not real).
    member ClearLost: unit -> unit

    /// A copy with entries of its own, just the live ones (for the value steps).
    member Clone: unit -> Board

    /// The first entry at or after `from` that is marked lost, or -1.
    member FirstLost: from: int -> int

    /// The peer dropped what it SACKed (RFC 2018 8): no entry counts as SACKed any more.
    member ForgetSacks: unit -> unit

    /// The index of the entry holding `seq`, or -1.
    member IndexOf: seq: Stack.Core.Tcp.SeqNum -> int

    /// After a retransmission timeout (RFC 6675 5.1, RFC 2018 8): what the peer SACKed is
    /// not trusted any more (it may have dropped it), and everything is lost.
    member MarkAllLost: unit -> unit

    /// Marks the entry at `index` lost, unless the peer holds it.
    member MarkLost: index: int -> unit

    /// The entry at `index` left again at `now`.
    member MarkRetransmitted: index: int * now: int64 * order: int -> unit

    /// Marks the entry at `index` SACKed; returns the bytes that newly became SACKed.
    member MarkSacked: index: int -> int

    /// Cuts the entry holding `seq` in two at `seq`, both halves keeping its marks and
    /// time. False when no entry holds `seq` inside it, or when the board is full and
    /// `force` is off.
    member SplitAt: seq: Stack.Core.Tcp.SeqNum * force: bool -> bool

    /// The entries as a list, first to last (for tests and the pretty printer).
    member ToList: unit -> Entry list

    /// Entries in flight (SACKed and lost ones included).
    member Count: int

    /// Bytes judged lost and not yet sent again.
    member LostBytes: int

    /// Bytes the peer reported holding above SND.UNA.
    member SackedBytes: int
