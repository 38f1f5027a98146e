namespace Stack.Core.Sim

open System
open System.Collections.Generic
open System.Security.Cryptography
open System.Text
open Stack.Core
open Stack.Core.Host
open Stack.Core.Wire

/// What a simulated network remembers of its run: an event log (hashed as it grows, kept
/// only when asked for) and the packets put on its links (as pcap records).
type Recorder(keepLines: bool, capture: bool) =
    let hash = IncrementalHash.CreateHash HashAlgorithmName.SHA256
    let lines = ResizeArray<string>()
    let records = ResizeArray<byte array>()

    member _.Log(now: int64, text: string) =
        let line = $"{now} {text}"
        hash.AppendData(Encoding.UTF8.GetBytes(line + "\n"))

        if keepLines then
            lines.Add line

    member _.Capture(now: int64, packet: ReadOnlySpan<byte>) =
        if capture then
            records.Add(Pcap.record now packet)

    member _.Lines = lines :> IReadOnlyList<string>

    /// The SHA-256 of the log so far, as lowercase hex.
    member _.Sha256() =
        Convert.ToHexString(hash.GetCurrentHash()).ToLowerInvariant()

    /// The captured packets as a pcap file (LINKTYPE_RAW).
    member _.Pcap() =
        Array.concat (Seq.append [ Pcap.fileHeader Pcap.LinkType.Raw Pcap.DefaultSnapLength ] records)

/// N hosts of the pure core on one virtual clock, joined by impaired links (one
/// `Impair.Link` per direction, routed by destination address). Deterministic: the same
/// seeds and the same calls give the same run, byte for byte. It holds the run's mutable
/// world (clock, packets in flight); the hosts in it are the pure `Host` values.
type Network(recorder: Recorder) =
    let hosts = Dictionary<Ipv4Address, Host>()
    let links = Dictionary<struct (Ipv4Address * Ipv4Address), Impair.Link>()
    let inFlight = PriorityQueue<byte array, struct (int64 * int64)>()
    let mutable sequence = 0L
    let mutable clock = 0L

    member _.Now = clock
    member _.Recorder = recorder
    member _.Hosts = hosts :> IReadOnlyDictionary<Ipv4Address, Host>

    member _.Add(host: Host) = hosts[host.Options.Address] <- host
    member _.Update(host: Host) = hosts[host.Options.Address] <- host

    /// Joins two hosts with a link each way, each with its own generator seed.
    member _.Join(a: Ipv4Address, b: Ipv4Address, options: Impair.Options, seed: uint64) =
        links[struct (a, b)] <- Impair.create options seed
        links[struct (b, a)] <- Impair.create options (seed ^^^ 0x5DEECE66DUL)

    /// Puts an IPv4 packet on the link towards its destination; the link decides its fate.
    member _.Send(packet: byte array) =
        let source =
            Ipv4Address(Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ReadOnlySpan(packet, 12, 4)))

        let destination =
            Ipv4Address(Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ReadOnlySpan(packet, 16, 4)))

        recorder.Capture(clock, ReadOnlySpan packet)

        match links.TryGetValue(struct (source, destination)) with
        | false, _ -> recorder.Log(clock, $"{source}>{destination} no route, dropped")
        | true, link ->
            let struct (fate, link) = Impair.offer clock packet.Length link
            links[struct (source, destination)] <- link

            match fate with
            | Impair.Dropped reason -> recorder.Log(clock, $"{source}>{destination} dropped ({reason})")
            | Impair.Delivered copies ->
                for d in copies do
                    let copy = Array.copy packet

                    match d.CorruptOffset with
                    | ValueSome offset -> copy[offset] <- copy[offset] ^^^ d.CorruptMask
                    | ValueNone -> ()

                    sequence <- sequence + 1L
                    inFlight.Enqueue(copy, struct (d.At, sequence))

    /// The time of the next thing to happen: a delivery or a host's timer.
    member _.NextEventTime =
        let mutable next = Int64.MaxValue

        let mutable packet = Unchecked.defaultof<byte array>
        let mutable priority = struct (0L, 0L)

        if inFlight.TryPeek(&packet, &priority) then
            let struct (at, _) = priority
            next <- at

        for KeyValue(_, h) in hosts do
            match Host.nextDeadline h with
            | ValueSome d when d < next -> next <- d
            | _ -> ()

        next

    /// Advances the clock to the next event and runs it: delivers every packet due then,
    /// or else runs the timers of every host due then. `onOutput` sees each host's output
    /// with the packet that caused it, if any (after the network has the new host value),
    /// and may call back into the network. False when nothing is left to happen.
    member net.Step(onOutput: Ipv4Address -> byte array -> HostOutput -> unit) =
        let next = net.NextEventTime

        if next = Int64.MaxValue then
            false
        else
            clock <- max clock next
            let mutable packet = Unchecked.defaultof<byte array>
            let mutable priority = struct (0L, 0L)

            if
                inFlight.TryPeek(&packet, &priority)
                && (let struct (at, _) = priority in at <= clock)
            then
                inFlight.Dequeue() |> ignore

                let destination =
                    Ipv4Address(Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ReadOnlySpan(packet, 16, 4)))

                match hosts.TryGetValue destination with
                | true, host ->
                    let struct (host, output) = Host.receive clock (ReadOnlySpan packet) host
                    hosts[destination] <- host
                    onOutput destination packet output
                | _ -> recorder.Log(clock, $"{destination} no such host, dropped")
            else
                for address in List.ofSeq hosts.Keys do
                    match Host.nextDeadline hosts[address] with
                    | ValueSome d when d <= clock ->
                        let struct (host, output) = Host.timeout clock hosts[address]
                        hosts[address] <- host
                        onOutput address null output
                    | _ -> ()

            true
