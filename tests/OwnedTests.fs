/// The in-place steps (`Connection.Owned`, `Host.Owned`): the same results as the value
/// steps, and nothing allocated per segment once a transfer is under way.
module Stack.Tests.OwnedTests

open System
open System.Collections.Generic
open Expecto
open Stack.Core.Host
open Stack.Core.Tcp
open Stack.Core.Wire

let private addressA = Ipv4Address(10uy, 0uy, 0uy, 1uy)
let private addressB = Ipv4Address(10uy, 0uy, 0uy, 2uy)

let private hostOptions (address: Ipv4Address) =
    { HostOptions.create address with
        Connection =
            { ConnectionOptions.defaults with
                SendBufferSize = 1 <<< 18
                ReceiveBufferSize = 1 <<< 18
            }
    }

/// The byte at stream offset `offset`: what A sends, so every payload is known.
let private streamByte (offset: uint32) = byte (offset % 251u)

/// Two hosts joined back to back: A connects to B's port 80 and sends without end; B
/// reads everything at once. Packets travel through a fixed pool of buffers, so the
/// driver itself allocates nothing per packet. `owned` picks the steps: in place into
/// reused outboxes, or the value steps.
type private Pair(owned: bool, record: ResizeArray<byte array>) =
    let buffers = Array.init 8192 (fun _ -> Array.zeroCreate<byte> 1600)
    let free = Stack<int>(seq { 0 .. buffers.Length - 1 })
    let inFlight = Queue<struct (bool * int * int)>()
    let outbox = HostOutbox()
    let payload = Array.zeroCreate<byte> 65536
    let mutable now = 1_000L
    let mutable a = Host.create (hostOptions addressA)

    let mutable b =
        match Host.listen 80us 16 (Host.create (hostOptions addressB)) with
        | Ok h -> h
        | Error e -> failwithf "listen: %A" e

    let mutable tupleA = Unchecked.defaultof<FourTuple>
    let mutable tupleB = ValueNone
    let mutable received = 0L

    /// Builds and queues the packets of one step of host `fromA`.
    let transmit (fromA: bool) (transmits: ReadOnlySpan<Transmit>) =
        let host = if fromA then a else b

        for t in transmits do
            let index = free.Pop()

            let length =
                match t with
                | Segment(tuple, o) ->
                    let start = o.Header.SequenceNumber
                    let bytes = payload.AsSpan(0, o.PayloadLength)

                    for i in 0 .. o.PayloadLength - 1 do
                        bytes[i] <- streamByte (start + uint32 i)

                    Host.writeSegment host tuple o (Span.op_Implicit bytes) (buffers[index].AsSpan())
                | Datagram bytes ->
                    bytes.CopyTo(buffers[index], 0)
                    bytes.Length

            if not (isNull record) then
                record.Add(buffers[index].AsSpan(0, length).ToArray())

            inFlight.Enqueue(struct (not fromA, index, length))

    /// Carries out one step's output of host `fromA`: its packets, then what the
    /// applications do about it (A refills its send buffer, B reads what arrived).
    let rec apply
        (fromA: bool)
        (transmits: ReadOnlySpan<Transmit>)
        (connections: ReadOnlySpan<struct (FourTuple * Output)>)
        =
        transmit fromA transmits
        // Copied out first: the commands below reuse the outbox.
        let mutable readable = 0
        let mutable released = 0

        for struct (tuple, o) in connections do
            if not fromA then
                tupleB <- ValueSome tuple
                readable <- readable + o.Readable
            else
                released <- released + o.Released

        if readable > 0 then
            received <- received + int64 readable
            command false tupleB.Value (Command.Consumed readable)

        if released > 0 then
            refill ()

    and command (atA: bool) (tuple: FourTuple) (cmd: Command) =
        if owned then
            match Host.Owned.command now tuple cmd (if atA then a else b) outbox with
            | Ok() -> apply atA outbox.Transmits outbox.Connections
            | Error e -> failwithf "command: %A" e
        else
            match Host.command now tuple cmd (if atA then a else b) with
            | Ok(struct (host, out)) ->
                if atA then a <- host else b <- host
                let transmits = List.toArray out.Transmits
                let connections = List.toArray out.Connections
                apply atA (ReadOnlySpan transmits) (ReadOnlySpan connections)
            | Error e -> failwithf "command: %A" e

    and refill () =
        match a.Connections.TryGetValue tupleA with
        | true, c when c.SendSpace > 0 -> command true tupleA (Command.Send c.SendSpace)
        | _ -> ()

    let deliver () =
        let struct (toA, index, length) = inFlight.Dequeue()
        let packet = ReadOnlySpan(buffers[index], 0, length)
        now <- now + 10L

        if owned then
            Host.Owned.receive now packet (if toA then a else b) outbox
            free.Push index
            apply toA outbox.Transmits outbox.Connections
        else
            let struct (host, out) = Host.receive now packet (if toA then a else b)
            free.Push index
            if toA then a <- host else b <- host
            apply toA (ReadOnlySpan(List.toArray out.Transmits)) (ReadOnlySpan(List.toArray out.Connections))

    /// Runs the timers of the connection `tuple` of host `atA` if its deadline is the
    /// earliest; returns whether it was.
    let runTimers (atA: bool) (tuple: FourTuple) =
        let host = if atA then a else b

        match host.Connections.TryGetValue tuple with
        | true, c ->
            match Connection.nextDeadline c with
            | ValueSome d ->
                now <- max now d

                if owned then
                    Host.Owned.timeoutConnection now tuple host outbox
                    apply atA outbox.Transmits outbox.Connections
                else
                    let struct (h, out) = Host.timeoutConnection now tuple host
                    if atA then a <- h else b <- h
                    apply atA (ReadOnlySpan(List.toArray out.Transmits)) (ReadOnlySpan(List.toArray out.Connections))

                true
            | ValueNone -> false
        | _ -> false

    member _.Connect() =
        match Host.connect now addressB 80us a with
        | Ok(struct (host, tuple, out)) ->
            a <- host
            tupleA <- tuple
            transmit true (ReadOnlySpan(List.toArray out.Transmits))
        | Error e -> failwithf "connect: %A" e

    /// Bytes B has read so far.
    member _.Received = received

    /// Moves packets (or, when none is in flight, runs the next timer) `count` times.
    member _.Run(count: int) =
        for _ in 1..count do
            if inFlight.Count > 0 then
                deliver ()
            else
                let ranA = runTimers true tupleA
                let ranB = tupleB.IsSome && runTimers false tupleB.Value

                if not ranA && not ranB then
                    refill ()

[<Tests>]
let tests =
    testList
        "Owned steps"
        [
            test "hosts stepped in place send the same packets as hosts stepped as values" {
                let byValue = ResizeArray()
                let inPlace = ResizeArray()
                let values = Pair(false, byValue)
                let owned = Pair(true, inPlace)
                values.Connect()
                owned.Connect()
                values.Run 20_000
                owned.Run 20_000
                Expect.isGreaterThan values.Received 1_000_000L "a transfer happened"
                Expect.equal owned.Received values.Received "the same bytes read"
                Expect.equal inPlace.Count byValue.Count "the same number of packets"

                for i in 0 .. byValue.Count - 1 do
                    if inPlace[i] <> byValue[i] then
                        failtestf
                            "packet %d differs: %s vs %s"
                            i
                            (Convert.ToHexString inPlace[i])
                            (Convert.ToHexString byValue[i])
            }

            test "a value step leaves the host it was given as it was" {
                let host = Host.create (hostOptions addressA)
                let struct (before, _) = Host.receive 0L (ReadOnlySpan [| 0x45uy |]) host
                Expect.equal host.Counters.Malformed 0L "the original counts nothing"
                Expect.equal before.Counters.Malformed 1L "the new host counts the packet"
            }

            test "hosts stepped in place allocate nothing per packet once the transfer is under way" {
                let pair = Pair(true, null)
                pair.Connect()
                // Warm up: the window opens, the buffers and outboxes reach their size.
                pair.Run 50_000
                let before = GC.GetAllocatedBytesForCurrentThread()
                pair.Run 50_000
                let allocated = GC.GetAllocatedBytesForCurrentThread() - before
                Expect.isGreaterThan pair.Received 10_000_000L "a transfer happened"
                Expect.equal allocated 0L "bytes allocated by 50,000 steps"
            }

            test "a connection stepped in place allocates nothing per segment" {
                let options =
                    { ConnectionOptions.defaults with
                        SendBufferSize = 1 <<< 18
                        ReceiveBufferSize = 1 <<< 18
                    }

                let incoming (source: Ipv4Address) (destination: Ipv4Address) (o: Outgoing) =
                    {
                        Source = source
                        Destination = destination
                        Header = o.Header
                        PayloadLength = o.PayloadLength
                    }

                let struct (client, syn) =
                    Connection.connect options 0L addressA 40000us addressB 80us

                let server = Connection.Owned.copy (Connection.listen options addressB 80us)
                let client = Connection.Owned.copy client
                let box = Outbox()
                let toServer = Queue<Outgoing>(syn.Segments)
                let toClient = Queue<Outgoing>()
                let mutable now = 0L
                let mutable consumed = 0L

                let take (queue: Queue<Outgoing>) =
                    for o in box.Segments do
                        queue.Enqueue o

                let run (steps: int) =
                    for _ in 1..steps do
                        now <- now + 10L

                        if toServer.Count > 0 then
                            Connection.Owned.handleSegment
                                now
                                (incoming addressA addressB (toServer.Dequeue()))
                                server
                                box

                            take toClient
                            let readable = box.Readable

                            if readable > 0 then
                                consumed <- consumed + int64 readable
                                Connection.Owned.handleUser now (Command.Consumed readable) server box
                                take toClient
                        elif toClient.Count > 0 then
                            Connection.Owned.handleSegment
                                now
                                (incoming addressB addressA (toClient.Dequeue()))
                                client
                                box

                            take toServer

                            if client.SendSpace > 0 then
                                Connection.Owned.handleUser now (Command.Send client.SendSpace) client box
                                take toServer
                        else
                            now <- now + 100_000L
                            Connection.Owned.handleTimeout now client box
                            take toServer
                            Connection.Owned.handleTimeout now server box
                            take toClient

                run 50_000
                let before = GC.GetAllocatedBytesForCurrentThread()
                run 50_000
                let allocated = GC.GetAllocatedBytesForCurrentThread() - before
                Expect.isGreaterThan consumed 10_000_000L "a transfer happened"
                Expect.equal allocated 0L "bytes allocated by 50,000 steps"
            }
        ]
