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
            Share = 4L
        }
        {
            Name = "20% loss"
            Link = lossy 0.2
            Share = 32L
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

/// The kernel in the namespace sends `count` bytes to the stack.
let private kernelSends (ns: string) (stack: TcpStack) (count: int64) (limit: TimeSpan) =
    use listener = stack.Listen(5001, 16)
    let clock = Stopwatch.StartNew()
    use socket = socketIn ns
    socket.NoDelay <- true

    let receiving =
        task {
            let! c = listener.AcceptAsync CancellationToken.None
            let! n = drain c.Stream
            c.ShutdownWrite()
            return n
        }

    socket.Connect(IPEndPoint(stack.Address, 5001))
    use stream = new NetworkStream(socket, false)
    let sending = fill stream count (fun () -> socket.Shutdown SocketShutdown.Send)
    timed clock limit receiving sending count

/// The stack sends `count` bytes to a kernel listener in the namespace.
let private stackSends (ns: string) (stack: TcpStack) (count: int64) (limit: TimeSpan) =
    use listener = socketIn ns
    listener.Bind(IPEndPoint(IPAddress.Parse "10.9.0.1", 6001))
    listener.Listen 16
    let clock = Stopwatch.StartNew()

    let receiving =
        task {
            use! s = listener.AcceptAsync()
            use stream = new NetworkStream(s, false)
            return! drain stream
        }

    let c = stack.ConnectAsync("10.9.0.1", 6001).Result
    let sending = fill c.Stream count c.ShutdownWrite
    timed clock limit receiving sending count

/// One row, on a stack of its own.
let private measureRow
    (progress: string -> unit)
    (row: Row)
    (count: int64)
    (limit: TimeSpan)
    (seed: uint64)
    (capture: string option)
    (buffer: int)
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
                    InboundImpairment = row.Link,
                    OutboundImpairment = row.Link,
                    ImpairmentSeed = seed,
                    CapturePath = Option.toObj capture,
                    CloseTimeout = TimeSpan.FromSeconds 2.
                )
            )
            .Result

    try
        progress $"{row.Name}: the kernel sends {count} bytes"
        let kernel = kernelSends ns stack count limit
        progress $"{row.Name}: the stack sends {count} bytes"
        let ours = stackSends ns stack count limit
        kernel, ours
    finally
        stack.DisposeAsync().AsTask().Wait()

let private show (seconds: float option) =
    match seconds with
    | Some s -> s.ToString("F2")
    | None -> "timeout"

/// Runs every row and prints the table; returns 0. With `captures`, each row's packets
/// go to a pcap file in that directory. The stack's connections get `buffer` bytes each
/// way.
let run (bytes: int64) (limit: TimeSpan) (captures: string option) (buffer: int) (out: TextWriter) =
    if bytes <= 0L then
        failwith "--bytes must be more than 0"

    if Environment.UserName <> "root" then
        failwith "bench --loss makes a network namespace and a TUN device: run it as root"

    match captures with
    | Some dir when not (Directory.Exists dir) -> failwith $"--pcap-dir {dir}: no such directory; make it first"
    | _ -> ()

    removeOnInterrupt [ uniqueName "tsl" "t" ]
    let progress (text: string) = eprintfn "bench: %s" text

    out.WriteLine(
        "The same impairment on the TUN device both ways (the stack's impaired link), offloads off; seconds from connect to the receiver's end of stream"
    )

    out.WriteLine "| impairment | bytes | kernel sends (s) | stack sends (s) | ratio |"
    out.WriteLine "|---|---|---|---|---|"

    for row in rows do
        let count = max 1L (bytes / row.Share)

        let capture =
            captures
            |> Option.map (fun dir ->
                let name = row.Name.Replace("%", "pct").Replace(" + ", "-").Replace(' ', '-')
                Path.Combine(dir, $"loss-{name}.pcap"))

        let kernel, ours = measureRow progress row count limit 1UL capture buffer

        let ratio =
            match kernel, ours with
            | Some k, Some s -> (s / k).ToString("F2")
            | _ -> "-"

        out.WriteLine $"| {row.Name} | {count} | {show kernel} | {show ours} | {ratio} |"

        match capture with
        | Some file -> progress $"{row.Name}: packets in {file}"
        | None -> ()

    0
