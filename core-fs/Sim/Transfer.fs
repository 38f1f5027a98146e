/// The simulator's standard run: two hosts, one connects to the other, each sends N
/// pseudo-random bytes while receiving the other's, both half-close, and both check every
/// byte they received. The bytes go through real send and receive ring buffers, indexed
/// by sequence number as the shell's are, so reassembly is checked end to end.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Sim.Transfer

open System
open System.Security.Cryptography
open Stack.Core
open Stack.Core.Host
open Stack.Core.Tcp
open Stack.Core.Wire

type Config =
    {
        /// Bytes A sends to B, and B to A unless `BytesBack` says otherwise.
        Bytes: int64
        /// Bytes B sends to A, when not the same as `Bytes`.
        BytesBack: int64 option
        Seed: uint64
        /// The link, the same both ways.
        Link: Impair.Options
        /// Options of every connection (buffer sizes must be powers of two).
        Connection: ConnectionOptions
        /// The run fails if it has not finished by this virtual time.
        TimeLimitMicros: int64
        /// Keep the event log's lines (its hash is always computed).
        KeepEvents: bool
        /// Keep the link traffic as a pcap file.
        Capture: bool
        /// Keep a trace of both connections (Chrome trace-event JSON, `Trace`).
        Trace: bool
        /// Connect over IPv6 (the hosts have fd00::1 and fd00::2 beside their IPv4
        /// addresses).
        Ipv6: bool
    }

let defaults =
    {
        Bytes = 1_000_000L
        BytesBack = None
        Seed = 1UL
        Link = Impair.none
        Connection = ConnectionOptions.defaults
        TimeLimitMicros = 3_600_000_000L
        KeepEvents = false
        Ipv6 = false
        Capture = false
        Trace = false
    }

/// How one side ended.
type SideResult =
    {
        Name: string
        FinalState: State
        BytesSent: int64
        BytesReceived: int64
        /// Every received byte was the one expected, and the peer's FIN came after them all.
        Verified: bool
        ReceivedSha256: string
        Retransmissions: int64
        /// Of the loss recovery: retransmission timeouts, tail loss probes, and reductions
        /// undone as spurious.
        Timeouts: int64
        LossProbes: int64
        Undone: int64
    }

type Result =
    {
        Completed: bool
        /// Bytes received and checked, both directions together.
        BytesVerified: int64
        VirtualMicros: int64
        Retransmissions: int64
        /// Packets put on the links, both ways.
        PacketsSent: int64
        A: SideResult
        B: SideResult
        /// Why the run did not complete.
        Failure: string option
        EventLogSha256: string
        Events: string list
        Pcap: byte array option
        /// The trace, when the config asked for one.
        Trace: string option
    }

/// Eight bytes of the stream sent in `direction` (0: A to B, 1: B to A): bytes 8w to 8w+7,
/// the lowest first.
let private streamWord (seed: uint64) (direction: int) (word: int64) =
    let struct (bits, _) =
        Rng.next (
            Rng.create (
                seed * 0x9E3779B97F4A7C15UL
                + uint64 direction * 0x632BE59BD9B4E019UL
                + uint64 word
            )
        )

    bits

/// The byte at `offset` of the stream sent in `direction` (0: A to B, 1: B to A).
let streamByte (seed: uint64) (direction: int) (offset: int64) =
    byte (streamWord seed direction (offset >>> 3) >>> (8 * int (offset &&& 7L)))

/// The application side of one connection: its two ring buffers and how far it got.
type private Endpoint(name: string, sendDirection: int, config: Config) =
    let sendRing = SequenceRing(Array.zeroCreate<byte> config.Connection.SendBufferSize)

    // The receive ring's memory, hashed in place as the application reads.
    let receiveMemory = Array.zeroCreate<byte> config.Connection.ReceiveBufferSize
    let receiveRing = SequenceRing receiveMemory
    let hash = IncrementalHash.CreateHash HashAlgorithmName.SHA256

    member val Tuple = Unchecked.defaultof<FourTuple> with get, set
    member val Connected = false with get, set
    /// Where this side's stream and the peer's start (ISS + 1 and IRS + 1).
    member val SendBase = SeqNum 0u with get, set
    member val ReceiveBase = SeqNum 0u with get, set
    member val Written = 0L with get, set
    /// Free space in the core's send buffer, from the outputs' `Queued` and `Released`.
    member val SendSpace = config.Connection.SendBufferSize with get, set
    member val ReadPosition = 0L with get, set
    member val CloseSent = false with get, set
    member val PeerClosed = false with get, set
    member val Mismatch: int64 option = None with get, set
    member val State = State.SynSent with get, set
    member val Retransmissions = 0L with get, set
    member val Timeouts = 0L with get, set
    member val LossProbes = 0L with get, set
    member val Undone = 0L with get, set
    member _.Name = name
    member _.SendDirection = sendDirection

    /// Fills the send ring with the next `count` stream bytes.
    member e.Write(count: int) =
        // Each 8-byte word of the stream is drawn once.
        let mutable word = -1L
        let mutable bits = 0UL

        for i in 0 .. count - 1 do
            let offset = e.Written + int64 i

            if offset >>> 3 <> word then
                word <- offset >>> 3
                bits <- streamWord config.Seed sendDirection word

            sendRing[offset] <- byte (bits >>> (8 * int (offset &&& 7L)))

        e.Written <- e.Written + int64 count

    /// Copies the payload for sequence numbers [seq, seq + length) out of the send ring.
    member e.Payload(seq: SeqNum, destination: Span<byte>) =
        sendRing.Read(SequenceRing.Position(e.SendBase, seq), destination)

    /// Stores arrived bytes at their place in the receive ring.
    member e.Store(packet: byte array, offset: int, seq: SeqNum, length: int) =
        receiveRing.Write(SequenceRing.Position(e.ReceiveBase, seq), ReadOnlySpan(packet, offset, length))

    /// Reads `count` readable bytes and checks each against the stream.
    member e.Read(count: int) =
        let start = int (e.ReadPosition &&& int64 (receiveMemory.Length - 1))
        let first = min count (receiveMemory.Length - start)
        hash.AppendData(receiveMemory, start, first)
        hash.AppendData(receiveMemory, 0, count - first)

        let mutable word = -1L
        let mutable bits = 0UL

        for i in 0 .. count - 1 do
            let offset = e.ReadPosition + int64 i
            let b = receiveRing[offset]

            if offset >>> 3 <> word then
                word <- offset >>> 3
                bits <- streamWord config.Seed (1 - sendDirection) word

            if e.Mismatch.IsNone && b <> byte (bits >>> (8 * int (offset &&& 7L))) then
                e.Mismatch <- Some offset

        e.ReadPosition <- e.ReadPosition + int64 count

    member _.Sha256() =
        Convert.ToHexString(hash.GetCurrentHash()).ToLowerInvariant()

let private addressA = Ipv4Address(10uy, 0uy, 0uy, 1uy)
let private addressB = Ipv4Address(10uy, 0uy, 0uy, 2uy)
let private addressA6 = IpAddress.Parse "fd00::1"
let private addressB6 = IpAddress.Parse "fd00::2"

[<Literal>]
let private Port = 5000us

/// Runs the transfer and reports how it went.
let run (config: Config) : Result =
    let recorder = Recorder(config.KeepEvents, config.Capture)
    let trace = Trace.Recorder()
    // Each connection's track name, made once (formatting it per step would cost more
    // than the trace itself).
    let trackNames = Collections.Generic.Dictionary<FourTuple, string>()

    let trackName (e: Endpoint) (tuple: FourTuple) =
        match trackNames.TryGetValue tuple with
        | true, name -> name
        | _ ->
            let name = $"{e.Name} {tuple.LocalAddress.WithPort tuple.LocalPort}"
            trackNames[tuple] <- name
            name

    let net = Network(recorder)

    let hostOptions address (address6: IpAddress) =
        { HostOptions.create address with
            Address6 = ValueSome address6.Ipv6
            Connection =
                { config.Connection with
                    Trace = config.Trace
                }
        }

    let hostA = Host.create (hostOptions addressA addressA6)

    let hostB =
        match Host.listen Port 16 (Host.create (hostOptions addressB addressB6)) with
        | Ok h -> h
        | Error e -> failwith $"listen: {e}"

    net.Add hostA
    net.Add hostB
    net.Join(addressA, addressB, config.Link, config.Seed)
    let a = Endpoint("A", 0, config)
    let b = Endpoint("B", 1, config)

    /// What each side sends.
    let toSend (e: Endpoint) =
        if e.SendDirection = 0 then
            config.Bytes
        else
            defaultArg config.BytesBack config.Bytes

    let toReceive (e: Endpoint) =
        if e.SendDirection = 0 then
            defaultArg config.BytesBack config.Bytes
        else
            config.Bytes

    let endpointAt (address: Ipv4Address) =
        if address.Value = addressA.Value then a else b

    let mutable packetsSent = 0L
    // Where each packet is built: the largest payload, its headers and their options.
    let payloadBuffer = Array.zeroCreate<byte> 65536
    let packetBuffer = Array.zeroCreate<byte>(65536 + 120)

    let transmit (address: Ipv4Address) (t: Transmit) =
        let e = endpointAt address
        let host = net.Hosts[address]

        match t with
        | Datagram bytes -> net.Send(ReadOnlySpan bytes)
        | Segment(tuple, o) ->
            let payload = Span(payloadBuffer, 0, o.PayloadLength)

            if o.PayloadLength > 0 then
                e.Payload(o.PayloadStart, payload)

            let n =
                Host.writeSegment host tuple o (Span.op_Implicit payload) (Span packetBuffer)

            recorder.LogSegment(net.Now, e.Name, o.Header, o.PayloadLength)
            net.Send(ReadOnlySpan(packetBuffer, 0, n))

        packetsSent <- packetsSent + 1L

    let connectionOf (address: Ipv4Address) (tuple: FourTuple) =
        match net.Hosts[address].Connections.TryGetValue tuple with
        | true, c -> ValueSome c
        | _ -> ValueNone

    // What each host's steps send during one step of the network (the packets of one
    // instant, and the commands they lead to) goes out when the step ends, planned as a
    // whole as the shell plans a read batch (`WirePlan`: ACKs a later one stands in for
    // are left out).
    let batchA = ResizeArray<Transmit>()
    let batchB = ResizeArray<Transmit>()
    let plan = WirePlan()

    let batchOf (address: Ipv4Address) =
        if address.Value = addressA.Value then batchA else batchB

    let flush (address: Ipv4Address) =
        let batch = batchOf address

        if batch.Count > 0 then
            for w in plan.Plan(Lists.spanOf batch, false) do
                transmit
                    address
                    (if isNull w.Datagram then
                         Segment(w.Tuple, w.Segment)
                     else
                         Datagram w.Datagram)

            batch.Clear()

    let rec handle (address: Ipv4Address) (packet: byte array) (output: HostOutbox) =
        let batch = batchOf address

        for t in output.Transmits do
            batch.Add t

        let e = endpointAt address

        for struct (tuple, o) in output.Connections do
            if not o.Events.IsEmpty && o.Events |> List.contains Event.Connected then
                if address.Value = addressB.Value then
                    let struct (accepted, host) = Host.accept Port net.Hosts[address]
                    net.Update host

                    match accepted with
                    | ValueSome t when not e.Connected -> e.Tuple <- t
                    | _ -> ()

                match o.Transition with
                | Some t when FourTuple.Same(tuple, e.Tuple) ->
                    e.Connected <- true
                    e.SendBase <- t.SendBase
                    e.ReceiveBase <- t.ReceiveBase.Value
                | _ -> ()

            if FourTuple.Same(tuple, e.Tuple) then
                for ev in o.Events do
                    recorder.Log(net.Now, $"{e.Name} {ev}")

                    if ev = Event.PeerClosed then
                        e.PeerClosed <- true

                match o.Arrived with
                | ValueSome arrived when not (isNull packet) ->
                    e.Store(packet, arrived.PayloadOffset, arrived.Sequence, arrived.Length)
                | _ -> ()

                match o.Transition with
                | Some t -> e.State <- t.State
                | None -> ()

                e.Retransmissions <- e.Retransmissions + int64 o.Retransmitted
                e.SendSpace <- e.SendSpace + o.Released - o.Queued

                // Statistics for the report, read as `ss` would: nothing the run needs.
                match connectionOf address tuple with
                | ValueSome c ->
                    e.Timeouts <- c.TimeoutCount
                    e.LossProbes <- c.LossProbeCount
                    e.Undone <- c.UndoneCount

                    if config.Trace then
                        trace.Record(net.Now, trackName e tuple, c)
                | ValueNone -> ()

                if o.Readable > 0 then
                    e.Read o.Readable
                    command address (Command.Consumed o.Readable)

        drive address

    and command (address: Ipv4Address) (cmd: Command) =
        let e = endpointAt address

        let outbox = net.TakeOutbox()

        match Host.Owned.command net.Now e.Tuple cmd net.Hosts[address] outbox with
        | Ok() -> handle address null outbox
        | Error _ -> ()

        net.ReturnOutbox outbox

    /// The application writes while there is room, and closes after the last byte.
    and drive (address: Ipv4Address) =
        let e = endpointAt address

        if e.Connected && not e.State.IsClosed then
            if e.Written < toSend e && e.SendSpace > 0 then
                let count = int (min (int64 e.SendSpace) (toSend e - e.Written))
                e.Write count
                command address (Command.Send count)
            elif e.Written = toSend e && not e.CloseSent then
                e.CloseSent <- true
                command address Command.Close

    let target = if config.Ipv6 then addressB6 else IpAddress.OfIpv4 addressB

    match Host.connect 0L target Port net.Hosts[addressA] with
    | Error e -> failwith $"connect: {e}"
    | Ok(struct (host, tuple, output)) ->
        net.Update host
        a.Tuple <- tuple

        for t in output.Transmits do
            transmit addressA t

    let onOutput = fun address packet output -> handle address packet output

    let finished (e: Endpoint) =
        e.ReadPosition = toReceive e
        && e.PeerClosed
        && e.CloseSent
        && (e.State.IsClosed || e.State.IsTimeWait)

    let mutable failure = None
    let mutable go = true
    // Steps taken without the clock moving: a connection that keeps asking to run at the
    // same instant is a bug, reported rather than looped on.
    let mutable stuckSteps = 0
    let mutable lastClock = -1L

    while go do
        if net.Now = lastClock then
            stuckSteps <- stuckSteps + 1
        else
            stuckSteps <- 0
            lastClock <- net.Now

        if finished a && finished b then
            go <- false
        elif a.Mismatch.IsSome || b.Mismatch.IsSome then
            failure <- Some "received bytes differ from the bytes sent"
            go <- false
        elif stuckSteps > 100_000 then
            failure <- Some $"livelock: the clock stopped at {net.Now} us"
            go <- false
        elif net.NextEventTime > config.TimeLimitMicros then
            failure <-
                Some(
                    if net.NextEventTime = Int64.MaxValue then
                        "stalled: nothing left to happen"
                    else
                        $"not finished after {config.TimeLimitMicros / 1000L} ms of virtual time"
                )

            go <- false
        else
            net.Step onOutput |> ignore
            flush addressA
            flush addressB

    let side (e: Endpoint) =
        {
            Name = e.Name
            FinalState = e.State
            BytesSent = e.Written
            BytesReceived = e.ReadPosition
            Verified = e.Mismatch.IsNone && e.PeerClosed && e.ReadPosition = toReceive e
            ReceivedSha256 = e.Sha256()
            Retransmissions = e.Retransmissions
            Timeouts = e.Timeouts
            LossProbes = e.LossProbes
            Undone = e.Undone
        }

    let sideA = side a
    let sideB = side b

    {
        Completed = failure.IsNone
        BytesVerified =
            (if sideA.Verified then sideA.BytesReceived else 0L)
            + (if sideB.Verified then sideB.BytesReceived else 0L)
        VirtualMicros = net.Now
        Retransmissions = sideA.Retransmissions + sideB.Retransmissions
        PacketsSent = packetsSent
        A = sideA
        B = sideB
        Failure = failure
        EventLogSha256 = recorder.Sha256()
        Events = List.ofSeq recorder.Lines
        Pcap = if config.Capture then Some(recorder.Pcap()) else None
        Trace =
            if config.Trace then
                Some(trace.ToJson $"tcpstack sim, seed {config.Seed} (virtual time)")
            else
                None
    }
