namespace Stack.Core.Host

/// Which datagram a fragment belongs to (RFC 791 3.2, RFC 8200 4.5): its ends, its
/// identification and, for IPv4, its protocol.
[<Struct>]
type FragmentKey =
    {
        Source: Stack.Core.Wire.IpAddress
        Destination: Stack.Core.Wire.IpAddress
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
        Partials: System.Collections.Immutable.ImmutableDictionary<FragmentKey, PartialDatagram>
        Held: int
        HeldBySource: System.Collections.Immutable.ImmutableDictionary<Stack.Core.Wire.IpAddress, int>

        /// When `sweep` next looks for datagrams out of time.
        NextSweep: int64
    }

module FragmentTable =

    /// Bytes charged for each piece held beside its data: what holding it costs in
    /// memory, so that tiny fragments cannot hold many times the limit.
    [<Literal>]
    val PieceOverhead: int = 256

    /// How often `sweep` looks for datagrams out of time (100 ms).
    [<Literal>]
    val SweepIntervalMicros: int64 = 100_000L

    val empty: FragmentTable

    /// Gives up the datagrams whose time ran out; also how many.
    val expire: now: int64 -> limits: FragmentLimits -> r: FragmentTable -> struct (FragmentTable * int)

    /// `expire`, at most once per `SweepIntervalMicros`: a datagram is given up at most
    /// that much after its time, and a flood of fragments costs no scan per fragment.
    val sweep: now: int64 -> limits: FragmentLimits -> r: FragmentTable -> struct (FragmentTable * int)

    /// The earliest time a held datagram runs out, if any is held.
    val nextDeadline: limits: FragmentLimits -> r: FragmentTable -> int64 voption

    /// A fragment arrives: `data` goes at byte `offset` of the datagram, `more` says
    /// whether fragments follow, and `header` is what precedes the data once whole (kept
    /// from the fragment at offset 0). Overlapping data drops the datagram; an exact
    /// duplicate of a piece held is ignored, as a duplicated packet.
    val add:
        now: int64 ->
        limits: FragmentLimits ->
        key: FragmentKey ->
        offset: int ->
        more: bool ->
        header: System.ReadOnlySpan<byte> ->
        data: System.ReadOnlySpan<byte> ->
        r: FragmentTable ->
            struct (FragmentTable * FragmentOutcome)
