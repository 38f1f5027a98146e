namespace Stack.Core.Host

/// One write to the device: a datagram as it is, or `Count` segments of one connection
/// sent as one packet that the device splits every `SegmentSize` payload bytes
/// (segmentation offload; a plain segment is a run of one).
[<NoComparison; Struct>]
type Write =
    {

        /// The packet to write as it is; null for segments.
        Datagram: byte array
        Tuple: FourTuple

        /// The first segment's header (with PSH when the run's last segment had it) and the
        /// payload length of the whole run.
        Segment: Stack.Core.Tcp.Outgoing
        Count: int
        SegmentSize: int
    }

/// What a batch of steps puts on the wire, decided as a whole: TCP policy the driver
/// carries out without judging it. A batch is whatever the driver gathers before it
/// writes (the shell: the packets of one read, each step's transmits in order).
/// - A pure ACK is left out when the next segment of its connection in the batch
///   acknowledges more: that one says all it said. An ACK followed by one with the same
///   number stays, since duplicate ACKs tell the peer of a loss (RFC 5681 4.2).
/// - With runs on, consecutive data segments of one connection that continue each other
///   (the next sequence number, the same ACK and window, the first one's size but the
///   last, PSH only on the last) become one write.
/// Holds its scratch, so planning allocates nothing once warm.
[<Sealed>]
type WirePlan =

    new: unit -> WirePlan

    /// The writes that carry `transmits`, in their order; with `runs`, data segments are
    /// gathered into runs. Valid until the next call.
    member Plan: transmits: System.ReadOnlySpan<Transmit> * runs: bool -> System.ReadOnlySpan<Write>
