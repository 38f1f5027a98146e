/// `tcpstack bench --stalled N`: memory under readers that stall. N kernel clients each
/// send 4 MiB (more than the kernel's and the stack's buffers take) to the stack's echo
/// server and never read the echo, so every connection ends with the stack's receive
/// window filled and its echo stuck behind the client's full buffer. The figure is what
/// the stack holds per connection beyond the window the peer
/// filled; the rounds show whether memory comes back once the clients are gone.
module Stack.Cli.StalledBench

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open System.Threading
open System.Threading.Tasks
open Stack.Cli.Namespaces
open Stack.Shell

let private megabyte = 1 <<< 20

/// The resident set after a full, compacting collection: the bench's own echo loops leave
/// garbage the collector would take in its own time.
let private resident () =
    GC.Collect(2, GCCollectionMode.Aggressive, true, true)
    use p = Process.GetCurrentProcess()
    p.Refresh()
    p.WorkingSet64

/// Polls `measure` until it stops changing (two equal readings in a row) or `limit` passes.
let private settle (limit: TimeSpan) (measure: unit -> int64) =
    let clock = Stopwatch.StartNew()
    let mutable last = measure ()
    Thread.Sleep 500
    let mutable now = measure ()

    while now <> last && clock.Elapsed < limit do
        last <- now
        Thread.Sleep 500
        now <- measure ()

    now

type private Round =
    {
        Held: int64
        Unread: int64
        InFlight: int64
        PeakResident: int64
        ResidentAfter: int64
    }

/// One round: `count` stalled clients, measured at their peak, then closed.
let private round (stack: TcpStack) (ns: string) (accepted: ConcurrentQueue<TcpStackConnection>) (count: int) =
    let payload = Array.create (4 * megabyte) 5uy
    let server = IPEndPoint(stack.Address, 7)

    let clients =
        [|
            for i in 0 .. count - 1 ->
                let s = socketIn ns
                s.Connect server
                s
        |]

    let sending =
        [|
            for s in clients ->
                task {
                    try
                        let! _ = s.SendAsync(ReadOnlyMemory payload)
                        ()
                    with _ ->
                        ()
                }
                :> Task
        |]

    let held =
        settle (TimeSpan.FromSeconds 60.) (fun () -> stack.GetStatistics().BufferBytes)

    let unread = accepted |> Seq.sumBy (fun c -> c.Unread)
    let inFlight = accepted |> Seq.sumBy (fun c -> c.Unacknowledged - c.Unsent)
    let peak = resident ()

    for s in clients do
        s.Close 0

    Task.WaitAll(sending, TimeSpan.FromSeconds 30.) |> ignore

    settle (TimeSpan.FromSeconds 30.) (fun () -> int64 (stack.GetStatistics().ConnectionsByState.Values |> Seq.sum))
    |> ignore

    accepted.Clear()

    {
        Held = held
        Unread = unread
        InFlight = inFlight
        PeakResident = peak
        ResidentAfter = resident ()
    }

let run (count: int) (rounds: int) (out: TextWriter) =
    Validate.root "bench --stalled makes a network namespace and a TUN device"
    let ns = uniqueName "tss" "t"
    removeOnInterrupt [ ns ]
    let progress (text: string) = eprintfn "bench --stalled: %s" text

    let stack =
        TcpStack
            .StartAsync(
                TcpStackOptions(Address = IPAddress.Parse "10.11.0.2", Namespace = ns, KernelAddress = "10.11.0.1/24")
            )
            .Result

    try
        let accepted = ConcurrentQueue<TcpStackConnection>()
        use listener = stack.Listen(7, 4096)
        use stop = new CancellationTokenSource()

        let serving =
            task {
                try
                    while true do
                        let! c = listener.AcceptAsync stop.Token
                        accepted.Enqueue c
                        EchoLoop.serve 16384 c |> ignore
                with _ ->
                    ()
            }

        let start = resident ()

        let results =
            [
                for i in 1..rounds ->
                    progress $"round {i} of {rounds}: {count} clients send 4 MiB each and never read"
                    round stack ns accepted count
            ]

        progress "idle for 10 s"
        Thread.Sleep 10_000
        let idle = resident ()

        progress
            $"pool held {BufferPool.Shared.BytesHeld >>> 20} MiB, rented {BufferPool.Shared.BytesRented >>> 20} MiB; managed heap {GC.GetGCMemoryInfo().HeapSizeBytes >>> 20} MiB, committed {GC.GetGCMemoryInfo().TotalCommittedBytes >>> 20} MiB"

        stop.Cancel()
        serving.Wait(TimeSpan.FromSeconds 5.) |> ignore

        let mib (bytes: int64) = float bytes / float megabyte
        let first = results.Head

        out.WriteLine(
            $"{count} stalled connections per round; beyond = held less the windows the peers filled (unread here, in flight there); RSS after a full GC"
        )

        out.WriteLine(
            String.Format(
                "{0,-6} {1,16} {2,16} {6,16} {3,16} {4,14} {5,14}",
                "round",
                "held/conn (KiB)",
                "unread/conn (KiB)",
                "beyond (KiB)",
                "peak RSS (MiB)",
                "RSS after (MiB)",
                "in flight/conn (KiB)"
            )
        )

        results
        |> List.iteri (fun i r ->
            out.WriteLine(
                String.Format(
                    "{0,-6} {1,16:F1} {2,16:F1} {6,16:F1} {3,16:F1} {4,14:F0} {5,14:F0}",
                    i + 1,
                    float r.Held / float count / 1024.,
                    float r.Unread / float count / 1024.,
                    float (r.Held - r.Unread - r.InFlight) / float count / 1024.,
                    mib r.PeakResident,
                    mib r.ResidentAfter,
                    float r.InFlight / float count / 1024.
                )
            ))

        let last = List.last results

        out.WriteLine(
            $"RSS at start {mib start:F0} MiB; after the last round {mib last.ResidentAfter:F0} MiB ({float last.ResidentAfter / float first.ResidentAfter:F2} of the first round's); after 10 s idle {mib idle:F0} MiB ({float idle / float start:F2} of the start)"
        )

        0
    finally
        stack.DisposeAsync().AsTask().Wait()
