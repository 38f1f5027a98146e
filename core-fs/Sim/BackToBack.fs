namespace Stack.Core.Sim

open System
open System.Collections.Generic
open Stack.Core.Host
open Stack.Core.Tcp
open Stack.Core.Wire

/// Two hosts joined back to back by a perfect link (no delay, no loss, no clock but the
/// steps themselves): A connects to B and sends without end, B reads and (unless told not
/// to, `Compare`) checks every byte as soon as it arrives. The core at full speed: packets are real bytes (written,
/// checksummed, parsed) kept in a fixed pool of buffers; with `owned` the hosts step in
/// place (`Host.Owned`), so once the transfer is under way a packet allocates nothing.
/// For measuring the core, and for checking the value steps against the owned ones
/// (`capture` keeps every packet).
[<System.Runtime.CompilerServices.SkipLocalsInit>]
type BackToBack(owned: bool, connection: ConnectionOptions, capture: bool) =
    static let addressA = Ipv4Address(10uy, 0uy, 0uy, 1uy)
    static let addressB = Ipv4Address(10uy, 0uy, 0uy, 2uy)
    static let addressA6 = IpAddress.Parse "fd00::1"
    static let addressB6 = IpAddress.Parse "fd00::2"

    /// Enough buffers for every packet a full send buffer can be cut into, and the ACKs.
    let buffers =
        Array.init (2 * connection.SendBufferSize / max 1 connection.Mss + 64) (fun _ ->
            Array.zeroCreate<byte>(connection.Mss + 120))

    let free = Stack<int>(seq { 0 .. buffers.Length - 1 })
    let inFlight = Queue<struct (bool * int * int)>()
    let outbox = HostOutbox()
    let packets = ResizeArray<byte array>()

    let hostOptions address (address6: IpAddress) =
        { HostOptions.create address with
            Address6 = ValueSome address6.Ipv6
            Connection = connection
        }

    let mutable now = 1_000L
    let mutable a = Host.create (hostOptions addressA addressA6)

    let mutable b =
        match Host.listen 80us 16 (Host.create (hostOptions addressB addressB6)) with
        | Ok h -> h
        | Error e -> failwith $"listen: {e}"

    let mutable tupleA = Unchecked.defaultof<FourTuple>
    let mutable tupleB = ValueNone
    let mutable received = 0L

    // What the steps' outputs told the applications, so nothing is looked up in a host:
    // where A's stream starts, where B's receive stream starts, A's free send space, and
    // when each side's timers are next due.
    let mutable sendBaseA = 0u
    let mutable receiveBaseB = 0u
    let mutable spaceA = connection.SendBufferSize
    let mutable deadlineA = Int64.MaxValue
    let mutable deadlineB = Int64.MaxValue

    /// The applications read and write in chunks, as real ones do, not a segment at a time.
    let chunk =
        min
            65536
            (min connection.SendBufferSize (min connection.ReceiveBufferSize connection.InitialReceiveBufferSize)
             / 4)

    /// Bytes readable at B and not read yet.
    let mutable unread = 0
    let mutable compare = true
    let mutable ipv6 = false
    let mutable mismatches = 0L
    let mutable checkedBytes = 0L
    let mutable delivered = 0L

    /// A's send buffer. Its application writes a stream that repeats every ring length,
    /// so the ring already holds whatever it writes next: a write only counts bytes, and
    /// a segment's payload is read from the ring as the shell reads its connections'.
    let sendRing =
        SequenceRing(Array.init connection.SendBufferSize (fun i -> byte (i % 251)))

    /// Where a payload that wraps around the ring is put together.
    let scratch = Array.zeroCreate<byte>(connection.Mss + 120)

    let stream (offset: uint32) (length: int) =
        sendRing.Slice(int64 offset, length, Span scratch)

    /// Builds and queues the packets of one step of host A (`fromA`) or B.
    let transmit (fromA: bool) (transmits: ReadOnlySpan<Transmit>) =
        let host = if fromA then a else b

        for t in transmits do
            let index = free.Pop()

            let length =
                match t with
                | Segment(tuple, o) ->
                    let bytes =
                        if fromA then
                            stream (o.Header.SequenceNumber - sendBaseA) o.PayloadLength
                        else
                            ReadOnlySpan.Empty

                    Host.writeSegment host tuple o bytes (buffers[index].AsSpan())
                | Datagram bytes ->
                    bytes.CopyTo(buffers[index], 0)
                    bytes.Length

            if capture then
                packets.Add(buffers[index].AsSpan(0, length).ToArray())

            inFlight.Enqueue(struct (not fromA, index, length))

    /// B checks the bytes that arrived against A's stream.
    let check (packet: ReadOnlySpan<byte>) (o: Output) =
        match o.Arrived with
        | ValueSome arrived when not packet.IsEmpty ->
            let start = arrived.Sequence.Value - receiveBaseB
            let got = packet.Slice(arrived.PayloadOffset, arrived.Length)

            if not (got.SequenceEqual(stream start arrived.Length)) then
                mismatches <- mismatches + 1L

            checkedBytes <- checkedBytes + int64 arrived.Length
        | _ -> ()

    /// Carries out one step's output of host A (`fromA`) or B: its packets, then what
    /// the applications do about it (A refills its send buffer, B reads what arrived).
    let rec apply
        (fromA: bool)
        (packet: ReadOnlySpan<byte>)
        (transmits: ReadOnlySpan<Transmit>)
        (connections: ReadOnlySpan<struct (FourTuple * Output)>)
        =
        // A's data segments need its send base, which the connect step's output gave
        // before any of them was sent.
        transmit fromA transmits
        // Added up first: the commands below reuse the outbox.
        let mutable readable = 0
        let mutable released = 0

        for struct (tuple, o) in connections do
            match o.Transition with
            | Some t when fromA -> sendBaseA <- t.SendBase.Value
            | Some t ->
                match t.ReceiveBase with
                | ValueSome r -> receiveBaseB <- r.Value
                | ValueNone -> ()
            | None -> ()

            if fromA then
                released <- released + o.Released
                spaceA <- spaceA + o.Released - o.Queued
                deadlineA <- o.NextDeadline
            else
                tupleB <- ValueSome tuple
                deadlineB <- o.NextDeadline

                if compare then
                    check packet o

                readable <- readable + o.Readable

        unread <- unread + readable

        if unread >= chunk then
            received <- received + int64 unread
            let consumed = unread
            unread <- 0
            command false tupleB.Value (Command.Consumed consumed)

        if released > 0 then
            refill ()

    and command (atA: bool) (tuple: FourTuple) (cmd: Command) =
        if owned then
            match Host.Owned.command now tuple cmd (if atA then a else b) outbox with
            | Ok() -> apply atA ReadOnlySpan.Empty outbox.Transmits outbox.Connections
            | Error _ -> ()
        else
            match Host.command now tuple cmd (if atA then a else b) with
            | Ok(struct (host, out)) ->
                if atA then a <- host else b <- host
                applyValue atA ReadOnlySpan.Empty out
            | Error _ -> ()

    and applyValue (fromA: bool) (packet: ReadOnlySpan<byte>) (out: HostOutput) =
        apply fromA packet (ReadOnlySpan(List.toArray out.Transmits)) (ReadOnlySpan(List.toArray out.Connections))

    and refill () =
        if spaceA >= chunk then
            command true tupleA (Command.Send spaceA)

    let deliver () =
        let struct (toA, index, length) = inFlight.Dequeue()
        let packet = ReadOnlySpan(buffers[index], 0, length)
        now <- now + 1L
        delivered <- delivered + 1L

        if owned then
            Host.Owned.receive now packet (if toA then a else b) outbox
            apply toA packet outbox.Transmits outbox.Connections
        else
            let struct (host, out) = Host.receive now packet (if toA then a else b)
            if toA then a <- host else b <- host
            applyValue toA packet out

        free.Push index

    /// Runs the timers of connection `tuple` of host A (`atA`) or B; false if it has none.
    let runTimers (atA: bool) (tuple: FourTuple) =
        let host = if atA then a else b
        let deadline = if atA then deadlineA else deadlineB

        if deadline = Int64.MaxValue then
            false
        else
            now <- max now deadline

            if owned then
                Host.Owned.timeoutConnection now tuple host outbox
                apply atA ReadOnlySpan.Empty outbox.Transmits outbox.Connections
            else
                let struct (h, out) = Host.timeoutConnection now tuple host
                if atA then a <- h else b <- h
                applyValue atA ReadOnlySpan.Empty out

            true

    /// A opens the connection.
    member _.Connect() =
        let target = if ipv6 then addressB6 else IpAddress.OfIpv4 addressB

        if owned then
            match Host.Owned.connect now target 80us a outbox with
            | Ok tuple ->
                tupleA <- tuple
                apply true ReadOnlySpan.Empty outbox.Transmits outbox.Connections
            | Error e -> failwith $"connect: {e}"
        else
            match Host.connect now target 80us a with
            | Ok(struct (host, tuple, out)) ->
                a <- host
                tupleA <- tuple
                applyValue true ReadOnlySpan.Empty out
            | Error e -> failwith $"connect: {e}"

    /// Bytes B has read.
    member _.Received = received
    /// Bytes B received and compared with what A sent.
    member _.Checked = checkedBytes

    /// Whether B compares the bytes that arrive with what A sent (on at first). Off, B's
    /// application reads without looking, as a benchmark's does, and the run measures the
    /// core alone; the TCP checksum still covers every byte.
    member _.Compare
        with get () = compare
        and set v = compare <- v

    /// Whether `Connect` connects over IPv6 (off at first: IPv4).
    member _.Ipv6
        with get () = ipv6
        and set v = ipv6 <- v

    /// Segments whose bytes were not the ones A sent (none, unless the core is wrong).
    member _.Mismatches = mismatches
    /// Packets the link carried.
    member _.Delivered = delivered
    /// Every packet, in order, when `capture` is on.
    member _.Packets = packets :> IReadOnlyList<byte array>

    /// Delivers the next packet `count` times; when none is in flight, runs the earliest
    /// timer, or lets A write.
    member _.Run(count: int) =
        for _ in 1..count do
            if inFlight.Count > 0 then
                deliver ()
            elif
                not (runTimers true tupleA)
                && not (tupleB.IsSome && runTimers false tupleB.Value)
            then
                refill ()
