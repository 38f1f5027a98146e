/// The TCP engine alone: connections joined back to back in memory, and whole transfers
/// on the simulator with no impairment.
module Stack.Bench.EngineBenchmarks

open System.Collections.Generic
open BenchmarkDotNet.Attributes
open Stack.Core
open Stack.Core.Sim
open Stack.Core.Tcp
open Stack.Core.Wire

let private addressA = IpAddress.Parse "10.0.0.1"
let private addressB = IpAddress.Parse "10.0.0.2"

let private options =
    { ConnectionOptions.defaults with
        SendBufferSize = 1 <<< 20
        ReceiveBufferSize = 1 <<< 20
    }

let private incoming (source: IpAddress) (destination: IpAddress) (o: Outgoing) =
    {
        Source = source
        Destination = destination
        Header = o.Header
        PayloadLength = o.PayloadLength
    }

/// Segments handled per benchmark operation batch.
[<Literal>]
let Segments = 1_000

/// A bulk transfer from A to B with no network between them: every segment A sends goes
/// to B at once, and every segment B sends goes back to A. One operation is one segment
/// handled by a connection (data at B, or an ACK at A).
[<MemoryDiagnoser>]
type ConnectionBenchmarks() =
    let mutable a = Unchecked.defaultof<Connection>
    let mutable b = Unchecked.defaultof<Connection>
    let toB = Queue<Outgoing>()
    let toA = Queue<Outgoing>()
    let mutable now = 0L

    let take (queue: Queue<Outgoing>) (output: Output) =
        for o in output.Segments do
            queue.Enqueue o

    /// Keeps A's send buffer full and B's receive buffer drained, as a fast application.
    let refill () =
        let struct (next, output) = Connection.handleUser now (Command.Send a.SendSpace) a
        a <- next
        take toB output

    member _.A = a
    member _.B = b
    member _.ToB = toB

    [<GlobalSetup>]
    member _.Setup() =
        let struct (client, syn) =
            Connection.connect options 0L addressA 40000us addressB 5000us

        let server = Connection.listen options addressB 5000us

        let struct (server, synAck) =
            Connection.handleSegment 0L (incoming addressA addressB syn.Segments.Head) server

        let struct (client, ack) =
            Connection.handleSegment 0L (incoming addressB addressA synAck.Segments.Head) client

        let struct (server, _) =
            Connection.handleSegment 0L (incoming addressA addressB ack.Segments.Head) server

        a <- client
        b <- server
        refill ()

    [<Benchmark(OperationsPerInvoke = Segments)>]
    member _.BulkTransferSegments() =
        let mutable handled = 0

        while handled < Segments do
            now <- now + 10L

            if toB.Count > 0 then
                let struct (next, output) =
                    Connection.handleSegment now (incoming addressA addressB (toB.Dequeue())) b

                b <- next
                take toA output

                if output.Readable > 0 then
                    let struct (next, output) =
                        Connection.handleUser now (Command.Consumed output.Readable) b

                    b <- next
                    take toA output

                handled <- handled + 1
            elif toA.Count > 0 then
                let struct (next, output) =
                    Connection.handleSegment now (incoming addressB addressA (toA.Dequeue())) a

                a <- next
                take toB output
                handled <- handled + 1

                if output.Released > 0 then
                    refill ()
            else
                // Everything delivered: let the earliest timer run (a delayed ACK, or a
                // retransmission when the clock has jumped).
                match Connection.nextDeadline a, Connection.nextDeadline b with
                | ValueSome da, db when db.IsNone || da < db.Value ->
                    now <- max now da
                    let struct (next, output) = Connection.handleTimeout now a
                    a <- next
                    take toB output
                | _, ValueSome db ->
                    now <- max now db
                    let struct (next, output) = Connection.handleTimeout now b
                    b <- next
                    take toA output
                | _ -> refill ()

        handled

/// The same bulk transfer with connections the benchmark owns (`Connection.Owned`):
/// stepped in place, each step's output in one reused outbox.
[<MemoryDiagnoser>]
type OwnedConnectionBenchmarks() =
    let mutable a = Unchecked.defaultof<Connection>
    let mutable b = Unchecked.defaultof<Connection>
    let toB = Queue<Outgoing>()
    let toA = Queue<Outgoing>()
    let outbox = Outbox()
    let mutable now = 0L

    let take (queue: Queue<Outgoing>) =
        for o in outbox.Segments do
            queue.Enqueue o

    let refill () =
        Connection.Owned.handleUser now (Command.Send a.SendSpace) a outbox
        take toB

    /// Segments handled so far, for a caller that measures more than time.
    member val Handled = 0L with get, set

    [<GlobalSetup>]
    member _.Setup() =
        let s = ConnectionBenchmarks()
        s.Setup()
        a <- Connection.Owned.copy s.A
        b <- Connection.Owned.copy s.B

        for o in s.ToB do
            toB.Enqueue o

    [<Benchmark(OperationsPerInvoke = Segments)>]
    member this.BulkTransferSegments() =
        let mutable handled = 0

        while handled < Segments do
            now <- now + 10L

            if toB.Count > 0 then
                Connection.Owned.handleSegment now (incoming addressA addressB (toB.Dequeue())) b outbox
                take toA
                let readable = outbox.Readable

                if readable > 0 then
                    Connection.Owned.handleUser now (Command.Consumed readable) b outbox
                    take toA

                handled <- handled + 1
            elif toA.Count > 0 then
                Connection.Owned.handleSegment now (incoming addressB addressA (toA.Dequeue())) a outbox
                take toB
                handled <- handled + 1

                if outbox.Released > 0 then
                    refill ()
            else
                match Connection.nextDeadline a, Connection.nextDeadline b with
                | ValueSome da, db when db.IsNone || da < db.Value ->
                    now <- max now da
                    Connection.Owned.handleTimeout now a outbox
                    take toB
                | _, ValueSome db ->
                    now <- max now db
                    Connection.Owned.handleTimeout now b outbox
                    take toA
                | _ -> refill ()

        this.Handled <- this.Handled + int64 handled
        handled

/// Two hosts back to back (`Sim.BackToBack`): the core with real packets (written,
/// checksummed, parsed, demultiplexed), one operation per packet the link carries; the
/// hosts stepped in place, and as values. In `HostsInPlace`, the core alone: B's
/// application reads without comparing (`Compare` off); `HostsInPlaceComparing` adds
/// the comparison of every byte with what A sent. Bytes of CPU per second = `Received`
/// (printed at cleanup) over the operations' total time. The connections have the
/// stack's default options (256 KiB buffers): with no delay on the link, larger buffers
/// add nothing but packets waiting in flight, which have left the CPU's caches by the
/// time they arrive.
[<MemoryDiagnoser>]
type BackToBackBenchmarks() =
    let mutable owned = Unchecked.defaultof<BackToBack>
    let mutable comparing = Unchecked.defaultof<BackToBack>
    let mutable values = Unchecked.defaultof<BackToBack>
    let mutable owned6 = Unchecked.defaultof<BackToBack>

    let start (pair: BackToBack) =
        pair.Connect()
        // Under way: the window open, the pools and outboxes at their size.
        pair.Run 20_000
        pair

    [<GlobalSetup>]
    member _.Setup() =
        owned <- start (BackToBack(true, ConnectionOptions.defaults, false, Compare = false))
        owned6 <- start (BackToBack(true, ConnectionOptions.defaults, false, Compare = false, Ipv6 = true))
        comparing <- start (BackToBack(true, ConnectionOptions.defaults, false))
        values <- start (BackToBack(false, ConnectionOptions.defaults, false))

    [<GlobalCleanup>]
    member _.Cleanup() =
        printfn
            $"// payload bytes per packet: in place %.0f{float owned.Received / float owned.Delivered}, values %.0f{float values.Received / float values.Delivered}"

    [<Benchmark(OperationsPerInvoke = Segments)>]
    member _.HostsInPlace() =
        owned.Run Segments
        owned.Received

    /// `HostsInPlace` over IPv6.
    [<Benchmark(OperationsPerInvoke = Segments)>]
    member _.HostsInPlaceIpv6() =
        owned6.Run Segments
        owned6.Received

    [<Benchmark(OperationsPerInvoke = Segments)>]
    member _.HostsInPlaceComparing() =
        comparing.Run Segments
        comparing.Received

    [<Benchmark(OperationsPerInvoke = Segments)>]
    member _.HostsAsValues() =
        values.Run Segments
        values.Received

/// A whole transfer on the simulator, both ways at once, no impairment: hosts, packets
/// written and parsed with checksums, ring buffers, the event log. Segments per second =
/// the packets per operation (printed at setup) divided by the mean time.
[<MemoryDiagnoser>]
type SimulatorBenchmarks() =
    let config =
        { Transfer.defaults with
            Bytes = 1_000_000L
            Link = { Impair.none with DelayMicros = 1000L }
        }

    [<GlobalSetup>]
    member _.Setup() =
        let r = Transfer.run config
        printfn $"// packets per operation: {r.PacketsSent} ({2L * config.Bytes} payload bytes)"

    [<Benchmark>]
    member _.TransferOneMegabyteEachWay() = (Transfer.run config).PacketsSent
