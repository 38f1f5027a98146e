/// `tcpstack bench --loss`: the kernel's sender against ours through the same impairment,
/// in one run. One TUN device in its own namespace, the stack's impaired link on it in
/// both directions, offloads off; for each impairment the kernel sends N bytes to the
/// stack, then the stack sends N bytes to the kernel, and each is timed from connect to
/// the receiver seeing the end of the stream. The namespace is made and removed per row.
module Stack.Cli.LossBench

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open System.Threading
open System.Threading.Tasks
open Stack.Core
open Stack.Cli.Namespaces
open Stack.Shell

/// One row: its name, the impairment of each direction, and the share of N it moves (a
/// heavy loss moves less, so a row ends in reasonable time).
type private Row =
    {
        Name: string
        Link: Impair.Options
        Share: int64
    }

let private rows =
    let lossy (loss: float) =
        { Impair.none with
            Loss = loss
            QueueLimitBytes = 1_000_000L
            ReorderDelayMicros = 3_000L
        }

    [
        {
            Name = "none"
            Link = lossy 0.0
            Share = 1L
        }
        {
            Name = "0.5% loss"
            Link = lossy 0.005
            Share = 1L
        }
        {
            Name = "2% loss"
            Link = lossy 0.02
            Share = 1L
        }
        {
            Name = "5% loss + 5% reorder"
            Link = { lossy 0.05 with Reorder = 0.05 }
            Share = 1L
        }
        {
            Name = "10% loss"
            Link = lossy 0.1
            Share = 16L
        }
        {
            Name = "20% loss"
            Link = lossy 0.2
            Share = 256L
        }
    ]

/// Reads until the end of the stream; returns the bytes read.
let private drain (stream: Stream) =
    task {
        let buffer = Array.zeroCreate<byte> 65536
        let mutable total = 0L
        let mutable go = true

        while go do
            let! n = stream.ReadAsync(buffer, 0, buffer.Length)

            if n = 0 then go <- false else total <- total + int64 n

        return total
    }

/// Writes `count` bytes, then closes the sending direction.
let private fill (stream: Stream) (count: int64) (shutdown: unit -> unit) =
    task {
        let chunk = Array.create 65536 7uy
        let mutable left = count

        while left > 0L do
            let n = int (min left (int64 chunk.Length))
            do! stream.WriteAsync(chunk, 0, n)
            left <- left - int64 n

        do! stream.FlushAsync()
        shutdown ()
    }

/// Seconds on `clock` until the receiver got all `count` bytes (and the sender finished),
/// or None when that did not happen within `limit`.
let private timed (clock: Stopwatch) (limit: TimeSpan) (receiving: Task<int64>) (sending: Task) (count: int64) =
    if receiving.Wait limit && receiving.Result = count then
        sending.Wait limit |> ignore
        Some clock.Elapsed.TotalSeconds
    else
        None

/// A kernel listener in `ns` on `address`:`port`, and the task that accepts one
/// connection and reads it to its end.
let private kernelReceiver (ns: string) (address: string) (port: int) =
    let listener = socketIn ns
    listener.Bind(IPEndPoint(IPAddress.Parse address, port))
    listener.Listen 16

    let receiving =
        task {
            use! s = listener.AcceptAsync()
            // Woken per 64 KiB, as a bulk reader asks to be: otherwise every segment the
            // sender writes to the TUN device wakes this reader, and in a VM that wake-up,
            // paid in the sender's thread, costs more than the segment.
            s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReceiveLowWater, 65536)
            use stream = new NetworkStream(s, false)
            return! drain stream
        }

    listener, receiving

/// A kernel socket in `ns`, with congestion control `algorithm`, connects to `target` and
/// sends `count` bytes; returns the socket and the sending task.
let private kernelSender (ns: string) (algorithm: string) (target: IPEndPoint) (count: int64) =
    let socket = socketIn ns
    socket.NoDelay <- true
    setCongestionControl socket algorithm
    socket.Connect target
    let stream = new NetworkStream(socket, true)
    let sending = fill stream count (fun () -> socket.Shutdown SocketShutdown.Send)
    stream, sending

/// The kernel in the namespace sends `count` bytes to the stack.
let private kernelSends (ns: string) (stack: TcpStack) (count: int64) (limit: TimeSpan) (algorithm: string) =
    use listener = stack.Listen(5001, 16)
    let clock = Stopwatch.StartNew()

    let receiving =
        task {
            let! c = listener.AcceptAsync CancellationToken.None
            let! n = drain c.Stream
            c.ShutdownWrite()
            return n
        }

    let stream, sending =
        kernelSender ns algorithm (IPEndPoint(stack.Address, 5001)) count

    use _ = stream
    timed clock limit receiving sending count

/// The stack sends `count` bytes to a kernel listener in the namespace.
let private stackSends (ns: string) (stack: TcpStack) (count: int64) (limit: TimeSpan) =
    let clock = Stopwatch.StartNew()
    let listener, receiving = kernelReceiver ns "10.9.0.1" 6001
    use _ = listener
    let c = stack.ConnectAsync("10.9.0.1", 6001).Result
    let sending = fill c.Stream count c.ShutdownWrite
    timed clock limit receiving sending count

/// The kernel in one namespace sends `count` bytes to the kernel in another, through the
/// same impairment the stack meets (`KernelBridge`): the kernel against itself.
let private kernelToKernel (row: Row) (count: int64) (limit: TimeSpan) (seed: uint64) (algorithm: string) =
    let sender = uniqueName "tsl" "a"
    let receiver = uniqueName "tsl" "b"

    use _bridge =
        new KernelBridge.Bridge(sender, receiver, "10.9.0.1/24", "10.9.0.2/24", row.Link, seed)

    let clock = Stopwatch.StartNew()
    let listener, receiving = kernelReceiver receiver "10.9.0.2" 7001
    use _ = listener

    let stream, sending =
        kernelSender sender algorithm (IPEndPoint(IPAddress.Parse "10.9.0.2", 7001)) count

    use _ = stream
    timed clock limit receiving sending count

/// How much counter `name` grew between two snapshots.
let private delta (before: Map<string, int64>) (after: Map<string, int64>) name =
    (Map.tryFind name after |> Option.defaultValue 0L)
    - (Map.tryFind name before |> Option.defaultValue 0L)

/// The growth of each counter, with its label, as a short line.
let private summary (before: Map<string, int64>) (after: Map<string, int64>) (counters: (string * string) list) =
    counters
    |> List.map (fun (name, label) -> $"{delta before after name} {label}")
    |> String.concat ", "

/// What the kernel's receiver dropped or pruned between two counter snapshots.
let private receiverSummary (before: Map<string, int64>) (after: Map<string, int64>) =
    summary
        before
        after
        [
            "TcpExt.TCPOFOQueue", "segments queued out of order"
            "TcpExt.TCPOFODrop", "out-of-order drops"
            "TcpExt.TCPRcvQDrop", "receive-queue drops"
            "TcpExt.PruneCalled", "prunes"
            "TcpExt.OfoPruned", "out-of-order queue pruned"
            "TcpExt.TCPZeroWindowDrop", "zero-window drops"
            "TcpExt.TCPBacklogDrop", "backlog drops"
            "TcpExt.DelayedACKs", "delayed ACKs"
            "Tcp.InErrs", "bad segments"
        ]

/// What the kernel's sender did between two counter snapshots: its recoveries, undos,
/// probes and timeouts, as a short line.
let private senderSummary (before: Map<string, int64>) (after: Map<string, int64>) =
    summary
        before
        after
        [
            "Tcp.RetransSegs", "retransmissions"
            "TcpExt.TCPSackRecovery", "SACK recoveries"
            "TcpExt.TCPFullUndo", "full undos"
            "TcpExt.TCPPartialUndo", "partial undos"
            "TcpExt.TCPDSACKUndo", "D-SACK undos"
            "TcpExt.TCPLossUndo", "timeout undos"
            "TcpExt.TCPDSACKRecv", "D-SACKs received"
            "TcpExt.TCPLossProbes", "loss probes"
            "TcpExt.TCPTimeouts", "timeouts"
        ]

/// One row, on a stack of its own.
let private measureRow
    (progress: string -> unit)
    (row: Row)
    (count: int64)
    (limit: TimeSpan)
    (seed: uint64)
    (capture: string option)
    (buffer: int)
    (algorithm: string)
    =
    let ns = uniqueName "tsl" "t"

    let stack =
        TcpStack
            .StartAsync(
                TcpStackOptions(
                    Address = IPAddress.Parse "10.9.0.2",
                    Namespace = ns,
                    KernelAddress = "10.9.0.1/24",
                    Offload = false,
                    SendBufferSize = buffer,
                    ReceiveBufferSize = buffer,
                    InboundImpairment = LinkOptions.toShell row.Link,
                    OutboundImpairment = LinkOptions.toShell row.Link,
                    ImpairmentSeed = seed,
                    CapturePath = Option.toObj capture,
                    CloseTimeout = TimeSpan.FromSeconds 2.
                )
            )
            .Result

    try
        progress $"{row.Name}: the kernel sends {count} bytes"
        let before = kernelCounters ns
        let kernel = kernelSends ns stack count limit algorithm
        progress $"{row.Name}: the kernel's sender counted {senderSummary before (kernelCounters ns)}"
        progress $"{row.Name}: the stack sends {count} bytes"
        let before = kernelCounters ns
        let ours = stackSends ns stack count limit
        progress $"{row.Name}: the kernel's receiver counted {receiverSummary before (kernelCounters ns)}"
        kernel, ours
    finally
        stack.DisposeAsync().AsTask().Wait()

/// The middle of the times, a run that did not finish counting as the longest; None
/// when the middle one did not finish.
let private median (times: float option list) =
    let sorted =
        times |> List.sortBy (fun t -> t |> Option.defaultValue Double.PositiveInfinity)

    sorted[sorted.Length / 2]

let private show (seconds: float option) =
    match seconds with
    | Some s -> s.ToString("F2")
    | None -> "timeout"

/// The kernel's congestion control for the run: `requested`, checked against what the
/// kernel offers; fails with the choices when it is not there.
let private kernelAlgorithm (requested: string) =
    let ns = uniqueName "tsl" "probe"
    ip [ "netns"; "add"; ns ]

    try
        let available, fallback = kernelCongestionControl ns

        if not (List.contains requested available) then
            let choices = String.concat ", " available

            Validate.usage
                $"--kernel-cc {requested}: this kernel offers {choices}; pick one of those (or load its module)"

        requested, fallback
    finally
        ip [ "netns"; "delete"; ns ]

/// Runs every row (or those whose name contains `only`) and prints the table; returns 0.
/// The caller has checked the values (bench's options). With `captures`, each row's packets
/// go to a pcap file in that directory. The stack's connections get `buffer` bytes each
/// way; the kernel's sender uses congestion control `algorithm`.
let run
    (bytes: int64)
    (trials: int)
    (limit: TimeSpan)
    (captures: string option)
    (buffer: int)
    (algorithm: string)
    (only: string option)
    (out: TextWriter)
    =
    let chosen =
        match only with
        | Some text -> rows |> List.filter (fun r -> r.Name.Contains text)
        | None -> rows

    if chosen.IsEmpty then
        let names = rows |> List.map (fun r -> r.Name) |> String.concat ", "
        Validate.usage $"--rows {only.Value}: no row matches; the rows are {names}"

    Validate.root "bench --loss makes a network namespace and a TUN device"

    removeOnInterrupt
        [
            uniqueName "tsl" "t"
            uniqueName "tsl" "probe"
            uniqueName "tsl" "a"
            uniqueName "tsl" "b"
        ]

    let progress (text: string) = eprintfn "bench: %s" text
    let algorithm, fallback = kernelAlgorithm algorithm

    out.WriteLine(
        "The same impairment on the TUN device both ways (the stack's impaired link), offloads off; seconds from connect to the receiver's end of stream"
    )

    out.WriteLine(
        $"The kernel's sender uses {algorithm} (this kernel's default is {fallback}); the stack's uses CUBIC, its default"
    )

    out.WriteLine(
        $"Each figure is the median of {trials} runs, each with its own impairment seed; the last column is the kernel sending to the kernel through the same impairment; an untimed transfer each way warms the stack up first"
    )

    out.WriteLine
        "| impairment | bytes | kernel sends to stack (s) | stack sends to kernel (s) | ratio | kernel sends to kernel (s) |"

    out.WriteLine "|---|---|---|---|---|---|"

    // The first transfers run while .NET still compiles the stack's hot paths (tiered
    // JIT); the kernel has no such start-up, so both directions run once, untimed.
    let warmUp = min bytes 33_554_432L
    progress $"warm-up: {warmUp} bytes each way on a clean link, untimed"
    measureRow progress rows.Head warmUp limit 0UL None buffer algorithm |> ignore

    for row in chosen do
        let count = max 1L (bytes / row.Share)

        let trial (n: int) =
            let capture =
                captures
                |> Option.map (fun dir ->
                    let name = row.Name.Replace("%", "pct").Replace(" + ", "-").Replace(' ', '-')
                    Path.Combine(dir, $"loss-{name}-{n}.pcap"))

            let seed = uint64 n
            let kernel, ours = measureRow progress row count limit seed capture buffer algorithm
            progress $"{row.Name}: the kernel sends {count} bytes to the kernel"
            let reference = kernelToKernel row count limit seed algorithm

            match capture with
            | Some file -> progress $"{row.Name}: packets in {file}"
            | None -> ()

            kernel, ours, reference

        let results = List.init trials (fun n -> trial (n + 1))
        let kernel = median (results |> List.map (fun (k, _, _) -> k))
        let ours = median (results |> List.map (fun (_, s, _) -> s))
        let reference = median (results |> List.map (fun (_, _, r) -> r))

        let ratio =
            match kernel, ours with
            | Some k, Some s -> (s / k).ToString("F2")
            | _ -> "-"

        out.WriteLine $"| {row.Name} | {count} | {show kernel} | {show ours} | {ratio} | {show reference} |"

    0
