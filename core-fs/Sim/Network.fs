namespace Stack.Core.Sim

open System
open System.Collections.Generic
open System.Security.Cryptography
open System.Text
open Stack.Core
open Stack.Core.Host
open Stack.Core.Wire

/// What a simulated network remembers of its run: an event log (hashed as it grows, kept
/// only when asked for) and the packets put on its links (as pcap records). A line is
/// built in a reused buffer and hashed from there: logging allocates nothing unless the
/// lines are kept.
type Recorder(keepLines: bool, capture: bool) =
    let hash = IncrementalHash.CreateHash HashAlgorithmName.SHA256
    let lines = ResizeArray<string>()
    let records = ResizeArray<byte array>()
    let line = Array.zeroCreate<byte> 1024
    let mutable length = 0

    member private _.Text(text: string) =
        length <- length + Encoding.UTF8.GetBytes(text.AsSpan(), line.AsSpan length)

    member private _.Char(c: char) =
        line[length] <- byte c
        length <- length + 1

    member private _.Number(n: int64) =
        let mutable written = 0
        Buffers.Text.Utf8Formatter.TryFormat(n, line.AsSpan length, &written) |> ignore
        length <- length + written

    member private r.Begin(now: int64) =
        length <- 0
        r.Number now
        r.Char ' '

    member private r.End() =
        r.Char '\n'
        hash.AppendData(line, 0, length)

        if keepLines then
            lines.Add(Encoding.UTF8.GetString(line, 0, length - 1))

    member r.Log(now: int64, text: string) =
        r.Begin now
        r.Text text
        r.End()

    member private r.Address(a: Ipv4Address) =
        for octet in 3..-1..0 do
            r.Number(int64 ((a.Value >>> (8 * octet)) &&& 0xFFu))

            if octet > 0 then
                r.Char '.'

    /// "`source`>`destination` dropped (`reason`)": a packet the link dropped, logged
    /// without building a string (a lossy run drops thousands).
    member r.LogDrop(now: int64, source: Ipv4Address, destination: Ipv4Address, reason: Impair.DropReason) =
        r.Begin now
        r.Address source
        r.Char '>'
        r.Address destination

        r.Text(
            match reason with
            | Impair.Lost -> " dropped (Lost)"
            | Impair.QueueFull -> " dropped (QueueFull)"
        )

        r.End()

    /// "`name` sends `flags` seq=N ack=N win=N len=N", flags as letters (S F R P and a
    /// dot for ACK), the line every segment puts in the log.
    member r.LogSegment(now: int64, name: string, h: TcpHeader, payloadLength: int) =
        r.Begin now
        r.Text name
        r.Text " sends "

        // `Has`, not Enum.HasFlag, which boxes the flags.
        if h.Has TcpFlags.Syn then
            r.Char 'S'

        if h.Has TcpFlags.Fin then
            r.Char 'F'

        if h.Has TcpFlags.Rst then
            r.Char 'R'

        if h.Has TcpFlags.Psh then
            r.Char 'P'

        if h.Has TcpFlags.Ack then
            r.Char '.'

        r.Text " seq="
        r.Number(int64 h.SequenceNumber)
        r.Text " ack="
        r.Number(int64 h.AcknowledgmentNumber)
        r.Text " win="
        r.Number(int64 h.Window)
        r.Text " len="
        r.Number(int64 payloadLength)
        r.End()

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
/// world: the clock, the packets in flight (in pooled buffers) and the hosts, which it
/// owns and steps in place (`Host.Owned`), so a packet allocates nothing.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
type Network(recorder: Recorder) =
    let hosts = Dictionary<Ipv4Address, Host>()
    let addresses = ResizeArray<Ipv4Address>()
    // Every address of every host, of either family, to the host's IPv4 address, which
    // names it here (links and outputs go by that).
    let owners = Dictionary<IpAddress, Ipv4Address>()
    let links = Dictionary<struct (Ipv4Address * Ipv4Address), Impair.Link>()
    let inFlight = PriorityQueue<struct (byte array * int), struct (int64 * int64)>()
    let outboxes = Stack<HostOutbox>()
    // Packets in flight live in buffers of this size, reused: a window's worth of them is
    // in flight at once, more than a shared pool keeps.
    let bufferSize = 2048
    let buffers = Stack<byte array>()
    let mutable sequence = 0L
    let mutable clock = 0L

    /// The packet's source or destination, of either family.
    let addressAt (packet: ReadOnlySpan<byte>) (destination: bool) =
        if packet[0] >>> 4 = 6uy then
            IpAddress.OfIpv6(Ipv6Address.Read(packet.Slice(if destination then 24 else 8)))
        else
            let offset = if destination then 16 else 12
            IpAddress.OfIpv4(Ipv4Address(Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(packet.Slice(offset, 4))))

    /// The host that has `address`, by its name.
    let ownerOf (address: IpAddress) =
        match owners.TryGetValue address with
        | true, name -> ValueSome name
        | _ -> ValueNone

    member _.Now = clock
    member _.Recorder = recorder
    member _.Hosts = hosts :> IReadOnlyDictionary<Ipv4Address, Host>

    /// Takes over a host: from now on the network steps it in place.
    member _.Add(host: Host) =
        let address = host.Options.Address

        if not (hosts.ContainsKey address) then
            addresses.Add address

        owners[IpAddress.OfIpv4 address] <- address

        match host.Options.Address6 with
        | ValueSome a -> owners[IpAddress.OfIpv6 a] <- address
        | ValueNone -> ()

        hosts[address] <- Host.Owned.copy host

    /// Replaces a host with the new value a value step returned for it.
    member _.Update(host: Host) = hosts[host.Options.Address] <- host

    /// An outbox for one step. Steps nest (a step's output leads to commands, whose steps
    /// need outboxes while the first one is still being read), so they come from a pool.
    member _.TakeOutbox() =
        if outboxes.Count > 0 then outboxes.Pop() else HostOutbox()

    member _.ReturnOutbox(outbox: HostOutbox) = outboxes.Push outbox

    /// Joins two hosts with a link each way, each with its own generator seed.
    member _.Join(a: Ipv4Address, b: Ipv4Address, options: Impair.Options, seed: uint64) =
        links[struct (a, b)] <- Impair.create options seed
        links[struct (b, a)] <- Impair.create options (seed ^^^ 0x5DEECE66DUL)

    member private _.Enqueue(packet: ReadOnlySpan<byte>, d: Impair.Delivery) =
        let copy =
            if packet.Length <= bufferSize && buffers.Count > 0 then
                buffers.Pop()
            else
                Array.zeroCreate<byte>(max bufferSize packet.Length)

        packet.CopyTo(Span copy)

        match d.CorruptOffset with
        | ValueSome offset -> copy[offset] <- copy[offset] ^^^ d.CorruptMask
        | ValueNone -> ()

        sequence <- sequence + 1L
        inFlight.Enqueue(struct (copy, packet.Length), struct (d.At, sequence))

    /// Puts a packet (either family) on the link towards its destination; the link
    /// decides its fate.
    member net.Send(packet: ReadOnlySpan<byte>) =
        recorder.Capture(clock, packet)

        match ownerOf (addressAt packet false), ownerOf (addressAt packet true) with
        | ValueSome source, ValueSome destination when links.ContainsKey(struct (source, destination)) ->
            let link = links[struct (source, destination)]
            let struct (fate, link) = Impair.offer clock packet.Length link
            links[struct (source, destination)] <- link

            match fate with
            | Impair.Dropped reason -> recorder.LogDrop(clock, source, destination, reason)
            | Impair.Delivered(first, duplicate) ->
                net.Enqueue(packet, first)

                match duplicate with
                | ValueSome d -> net.Enqueue(packet, d)
                | ValueNone -> ()
        | _ -> recorder.Log(clock, $"{addressAt packet false}>{addressAt packet true} no route, dropped")

    /// The time of the next thing to happen: a delivery or a host's timer.
    member _.NextEventTime =
        let mutable next = Int64.MaxValue
        let mutable packet = Unchecked.defaultof<struct (byte array * int)>
        let mutable priority = struct (0L, 0L)

        if inFlight.TryPeek(&packet, &priority) then
            let struct (at, _) = priority
            next <- at

        for i in 0 .. addresses.Count - 1 do
            match Host.nextDeadline hosts[addresses[i]] with
            | ValueSome d when d < next -> next <- d
            | _ -> ()

        next

    /// Advances the clock to the next event and runs it: delivers every packet due then,
    /// or else runs the timers of every host due then. `onOutput` sees each host's output
    /// in an outbox of the pool, with the packet that caused it (null for timers; a pooled
    /// buffer, longer than the packet, valid only during the call), and may call back into
    /// the network. False when nothing is left to happen.
    member net.Step(onOutput: Ipv4Address -> byte array -> HostOutbox -> unit) =
        let next = net.NextEventTime

        if next = Int64.MaxValue then
            false
        else
            clock <- max clock next
            let mutable packet = Unchecked.defaultof<struct (byte array * int)>
            let mutable priority = struct (0L, 0L)

            if
                inFlight.TryPeek(&packet, &priority)
                && (let struct (at, _) = priority in at <= clock)
            then
                let struct (buffer, length) = inFlight.Dequeue()
                let bytes = ReadOnlySpan(buffer, 0, length)

                match ownerOf (addressAt bytes true) with
                | ValueSome destination ->
                    let outbox = net.TakeOutbox()
                    Host.Owned.receive clock bytes hosts[destination] outbox
                    onOutput destination buffer outbox
                    net.ReturnOutbox outbox
                | ValueNone -> recorder.Log(clock, $"{addressAt bytes true} no such host, dropped")

                if buffer.Length = bufferSize then
                    buffers.Push buffer
            else
                for i in 0 .. addresses.Count - 1 do
                    let address = addresses[i]

                    match Host.nextDeadline hosts[address] with
                    | ValueSome d when d <= clock ->
                        let outbox = net.TakeOutbox()
                        Host.Owned.timeout clock hosts[address] outbox
                        onOutput address null outbox
                        net.ReturnOutbox outbox
                    | _ -> ()

            true
