namespace Stack.Core.Host

open System
open System.Collections.Generic
open Stack.Core.Tcp
open Stack.Core.Wire

/// One write to the device: a datagram as it is, or `Count` segments of one connection
/// sent as one packet that the device splits every `SegmentSize` payload bytes
/// (segmentation offload; a plain segment is a run of one).
[<Struct>]
type Write =
    {
        /// The packet to write as it is; null for segments.
        Datagram: byte array
        Tuple: FourTuple
        /// The first segment's header (with PSH when the run's last segment had it) and the
        /// payload length of the whole run.
        Segment: Outgoing
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
type WirePlan() =
    /// Payload bytes a run may carry: an IPv4 packet is at most 65,535 bytes.
    static let maxRunPayload = 65535 - 20 - 60

    let writes = ResizeArray<Write>()
    let keep = ResizeArray<bool>()
    /// Per connection, walking backwards: the ACK number of the next segment that could
    /// stand in for a pure ACK (ACK set, no SYN or RST), or None when the next one cannot.
    let next = Dictionary<FourTuple, uint32 voption>()

    static let isPureAck (o: Outgoing) =
        o.PayloadLength = 0 && o.Header.Flags = TcpFlags.Ack

    static let canStandIn (h: TcpHeader) =
        h.Flags &&& TcpFlags.Ack <> TcpFlags.None
        && h.Flags &&& (TcpFlags.Syn ||| TcpFlags.Rst) = TcpFlags.None

    /// Data with no flag but ACK and PSH: what a run may hold.
    static let canRun (o: Outgoing) =
        o.PayloadLength > 0
        && o.Header.Flags &&& ~~~(TcpFlags.Ack ||| TcpFlags.Psh) = TcpFlags.None

    /// Whether `o` of `tuple` continues the run in `w`, whose last segment had `lastLength` bytes.
    static let continues (w: Write) (lastLength: int) (tuple: FourTuple) (o: Outgoing) =
        let first = w.Segment.Header
        let h = o.Header

        isNull w.Datagram
        && canRun w.Segment
        && first.Flags &&& TcpFlags.Psh = TcpFlags.None
        && FourTuple.Same(tuple, w.Tuple)
        && canRun o
        && lastLength = w.SegmentSize
        && o.PayloadLength <= w.SegmentSize
        && w.Segment.PayloadLength + o.PayloadLength <= maxRunPayload
        && h.SequenceNumber = first.SequenceNumber + uint32 w.Segment.PayloadLength
        && h.AcknowledgmentNumber = first.AcknowledgmentNumber
        && h.Window = first.Window

    /// Marks which transmits go out: all but pure ACKs that a later segment stands in for.
    member private _.Thin(transmits: ReadOnlySpan<Transmit>) =
        keep.Clear()
        next.Clear()

        for _ in 1 .. transmits.Length do
            keep.Add true

        for i = transmits.Length - 1 downto 0 do
            match transmits[i] with
            | Segment(tuple, o) ->
                match next.TryGetValue tuple with
                | true, ValueSome ack when isPureAck o && SeqNum.gt (SeqNum ack) (SeqNum o.Header.AcknowledgmentNumber) ->
                    keep[i] <- false
                | _ -> ()

                next[tuple] <-
                    if canStandIn o.Header then
                        ValueSome o.Header.AcknowledgmentNumber
                    else
                        ValueNone
            | Datagram _ -> ()

    /// The writes that carry `transmits`, in their order; with `runs`, data segments are
    /// gathered into runs. Valid until the next call.
    member plan.Plan(transmits: ReadOnlySpan<Transmit>, runs: bool) : ReadOnlySpan<Write> =
        writes.Clear()
        plan.Thin transmits
        let mutable lastLength = 0

        for i in 0 .. transmits.Length - 1 do
            if keep[i] then
                match transmits[i] with
                | Datagram bytes ->
                    writes.Add
                        {
                            Datagram = bytes
                            Tuple = Unchecked.defaultof<FourTuple>
                            Segment = Unchecked.defaultof<Outgoing>
                            Count = 0
                            SegmentSize = 0
                        }
                | Segment(tuple, o) ->
                    let n = writes.Count

                    if runs && n > 0 && continues writes[n - 1] lastLength tuple o then
                        let w = writes[n - 1]

                        writes[n - 1] <-
                            { w with
                                Segment =
                                    {
                                        Header =
                                            { w.Segment.Header with
                                                Flags = w.Segment.Header.Flags ||| (o.Header.Flags &&& TcpFlags.Psh)
                                            }
                                        PayloadLength = w.Segment.PayloadLength + o.PayloadLength
                                    }
                                Count = w.Count + 1
                            }
                    else
                        writes.Add
                            {
                                Datagram = null
                                Tuple = tuple
                                Segment = o
                                Count = 1
                                SegmentSize = o.PayloadLength
                            }

                    lastLength <- o.PayloadLength

        Lists.spanOf writes
