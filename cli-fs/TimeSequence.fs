/// The time-sequence view of a capture, as tcptrace draws it: for each direction of each
/// TCP connection, the segments sent (retransmissions told apart), and what the other
/// side's packets said back: the cumulative ACK, the right edge of the window it offered,
/// and the blocks it SACKed. Sequence numbers count bytes from the direction's first
/// byte; times count seconds from the capture's first packet. Any pcap will do, ours or
/// one the kernel's tcpdump wrote.
module Stack.Cli.TimeSequence

open System
open System.Collections.Generic
open Stack.Core.Wire

/// A segment with data or FIN: the bytes [Start, End) it carried.
type Segment =
    {
        Time: float
        Start: int64
        End: int64
        /// It began below the highest byte sent before it: sent again.
        Retransmission: bool
    }

/// An ACK of this direction's bytes, and the window edge it offered (ACK + window).
type Ack =
    {
        Time: float
        Ack: int64
        WindowEdge: int64
    }

/// A block the receiver reported holding, above its cumulative ACK.
type SackBlock =
    {
        Time: float
        Left: int64
        Right: int64
    }

/// One direction of one connection: `Source` sends, `Destination` acknowledges.
type Flow =
    {
        Source: string
        Destination: string
        Segments: Segment list
        Acks: Ack list
        Sacks: SackBlock list
        /// When this side sent its SYN (or SYN-ACK): more than one time means it went again.
        Syns: float list
        /// Whether both SYNs were in the capture, so the window scale is known; without
        /// them windows are taken unscaled.
        SawHandshake: bool
    }

    /// Segments and SYNs sent again.
    member f.Retransmissions =
        (f.Segments |> List.filter (fun s -> s.Retransmission) |> List.length)
        + max 0 (f.Syns.Length - 1)

/// A 32-bit sequence number as a distance from `base`, following wraps from `last`.
let private unwrap (last: int64) (baseSeq: uint32) (seq: uint32) =
    let lastRaw = uint32 (int64 baseSeq + last)
    last + int64 (int32 (seq - lastRaw))

type private Direction(source: string, destination: string) =
    member val Base: uint32 voption = ValueNone with get, set
    member val Highest = 0L with get, set
    member val LastSeq = 0L with get, set
    member val LastAck = 0L with get, set
    /// The shift the receiver's window field takes (its SYN's window scale).
    member val ReceiverShift = 0 with get, set
    member val OfferedScale: int voption = ValueNone with get, set
    member val SynSeen = false with get, set
    member val Segments = ResizeArray<Segment>()
    member val Acks = ResizeArray<Ack>()
    member val Sacks = ResizeArray<SackBlock>()
    member val Syns = ResizeArray<float>()
    member _.Source = source
    member _.Destination = destination

let private endpoint (address: IpAddress) (port: uint16) = address.WithPort port

/// The flows of every TCP connection in the pcap file `bytes`, in the order their first
/// packets appear; an error when the file cannot be read as a pcap at all. Packets that
/// are not TCP (over IPv4 or IPv6) are left out.
let ofPcap (bytes: byte array) : Result<Flow list, string> =
    match Pcap.tryRead (ReadOnlySpan bytes) with
    | Error e -> Error $"not a pcap file: {e}"
    | Ok file ->
        let directions = Dictionary<string * string, Direction>()
        let order = ResizeArray<string * string>()

        let direction source destination =
            match directions.TryGetValue((source, destination)) with
            | true, d -> d
            | _ ->
                let d = Direction(source, destination)
                directions[(source, destination)] <- d
                order.Add((source, destination))
                d

        let timeOf (r: Pcap.Record) =
            float r.Seconds + float r.Fraction / (if file.Nanoseconds then 1e9 else 1e6)

        let start =
            if file.Records.Length = 0 then
                0.0
            else
                timeOf file.Records[0]

        for r in file.Records do
            let data = ReadOnlySpan(bytes, r.DataOffset, r.CapturedLength)

            let tcp =
                match Pcap.ipRange file.LinkType data with
                | ValueNone -> ValueNone
                | ValueSome(struct (offset, length)) ->
                    match Packet.decodeAny (data.Slice(offset, length)) with
                    | Ok(V4 {
                                Ip = ip
                                Transport = TcpTransport(segment, _, options)
                                PayloadLength = payload
                            }) ->
                        ValueSome(
                            struct (IpAddress.OfIpv4 ip.Header.Source,
                                    IpAddress.OfIpv4 ip.Header.Destination,
                                    segment,
                                    options,
                                    payload)
                        )
                    | Ok(V6 {
                                Ip = ip
                                Transport = TcpTransport(segment, _, options)
                                PayloadLength = payload
                            }) ->
                        ValueSome(
                            struct (IpAddress.OfIpv6 ip.Header.Source,
                                    IpAddress.OfIpv6 ip.Header.Destination,
                                    segment,
                                    options,
                                    payload)
                        )
                    | _ -> ValueNone

            match tcp with
            | ValueNone -> ()
            | ValueSome(struct (sourceAddress, destinationAddress, segment, options, payload)) ->
                let h = segment.Header
                let t = timeOf r - start
                let source = endpoint sourceAddress h.SourcePort
                let destination = endpoint destinationAddress h.DestinationPort
                let forward = direction source destination
                let backward = direction destination source
                let syn = h.Has TcpFlags.Syn
                let fin = h.Has TcpFlags.Fin

                if syn then
                    forward.Syns.Add t
                    forward.SynSeen <- true
                    forward.Base <- ValueSome(h.SequenceNumber + 1u)
                    forward.LastSeq <- 0L
                    forward.Highest <- 0L

                    forward.OfferedScale <-
                        options
                        |> List.tryPick (function
                            | TcpOption.WindowScale s -> Some(int s)
                            | _ -> None)
                        |> Option.toValueOption

                    // Scaling holds when both SYNs offered it (RFC 7323 2.2): each
                    // side's windows then shift by its own SYN's count.
                    match forward.OfferedScale, backward.OfferedScale with
                    | ValueSome mine, ValueSome theirs ->
                        forward.ReceiverShift <- theirs
                        backward.ReceiverShift <- mine
                    | _ -> ()

                if forward.Base.IsNone then
                    forward.Base <- ValueSome h.SequenceNumber

                // Sequence space this segment takes, past its SYN.
                let length = int64 payload + (if fin then 1L else 0L)

                if length > 0L then
                    let first = if syn then h.SequenceNumber + 1u else h.SequenceNumber
                    let s = unwrap forward.LastSeq forward.Base.Value first
                    forward.LastSeq <- s

                    forward.Segments.Add
                        {
                            Time = t
                            Start = s
                            End = s + length
                            Retransmission = s < forward.Highest
                        }

                    forward.Highest <- max forward.Highest (s + length)

                // This packet's ACK is about the other direction's bytes.
                if h.Has TcpFlags.Ack && backward.Base.IsSome then
                    let a = unwrap backward.LastAck backward.Base.Value h.AcknowledgmentNumber
                    backward.LastAck <- a
                    let shift = if syn then 0 else forward.ReceiverShift

                    backward.Acks.Add
                        {
                            Time = t
                            Ack = a
                            WindowEdge = a + (int64 h.Window <<< shift)
                        }

                    for o in options do
                        match o with
                        | TcpOption.Sack blocks ->
                            for (left, right) in blocks do
                                let l = unwrap a backward.Base.Value left
                                let r = unwrap a backward.Base.Value right

                                if r > l then
                                    backward.Sacks.Add { Time = t; Left = l; Right = r }
                        | _ -> ()

        order
        |> Seq.map (fun key ->
            let d = directions[key]

            {
                Source = d.Source
                Destination = d.Destination
                Segments = List.ofSeq d.Segments
                Acks = List.ofSeq d.Acks
                Sacks = List.ofSeq d.Sacks
                Syns = List.ofSeq d.Syns
                SawHandshake = d.SynSeen && directions[(d.Destination, d.Source)].SynSeen
            })
        |> List.ofSeq
        |> Ok

/// Throughput against time: the bytes newly acknowledged in each of fifty equal
/// intervals of the flow's ACKs, as bits per second, at each interval's start.
let throughput (flow: Flow) : (float * float) list =
    match flow.Acks with
    | [] -> []
    | first :: _ ->
        let last = flow.Acks |> List.maxBy (fun a -> a.Time)
        let span = last.Time - first.Time

        if span <= 0.0 then
            []
        else
            let width = span / 50.0
            let bins = Array.zeroCreate<int64> 51
            let mutable highest = first.Ack

            for a in flow.Acks do
                if a.Ack > highest then
                    let bin = int ((a.Time - first.Time) / width)
                    bins[min 50 bin] <- bins[min 50 bin] + (a.Ack - highest)
                    highest <- a.Ack

            [ for i in 0..50 -> first.Time + float i * width, float bins[i] * 8.0 / width ]
