/// `tcpstack bench`: the stack on a TUN device against the Linux kernel, measured in one
/// run. The kernel to kernel figures (two namespaces joined by a veth pair) are this
/// machine's ceiling; the stack's figures have a kernel socket on the other end of the
/// TUN device. Every namespace and device is made here and removed at the end.
module Stack.Cli.BenchCommand

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open System.Text.Json
open System.Threading
open System.Threading.Tasks
open Argu
open Stack.Cli.Namespaces
open Stack.Shell
open Stack.Shell.Device

type BenchArgs =
    | Duration of seconds: float
    | Mtu of bytes: int
    | Idle of count: int
    | Json
    | Ipv6
    | Loss
    | Bytes of count: int64
    | Pcap_Dir of directory: string
    | Buffer of bytes: int
    | Kernel_Cc of algorithm: string
    | Trials of count: int
    | Rows of text: string
    | Stalled of count: int
    | Rounds of count: int
    | Flood of seconds: float
    | Fragment_Flood of seconds: float
    | Http of seconds: float

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Duration _ -> "seconds each measurement runs, 0.1 to 600 (default 5)."
            | Mtu _ -> "MTU of the veth pair and the TUN device, 576 to 65535 (default 1500)."
            | Idle _ -> "idle connections opened to measure memory per connection, 1 to 100000 (default 2000)."
            | Json -> "end with one JSON object holding every figure."
            | Ipv6 ->
                "measure over IPv6: the veth pair's fd00:8::1 and fd00:8::2, the stack's fd00:9::2 (idle connections stay IPv4)."
            | Loss ->
                "instead: the kernel's sender against ours through the same impairment (0.5% to 20% loss), one TUN device."
            | Bytes _ -> "with --loss: bytes each transfer moves on a clean or lightly lossy link (default 67108864)."
            | Pcap_Dir _ -> "with --loss: write each row's packets to a pcap file in this directory."
            | Buffer _ ->
                "with --loss: the stack's send and receive buffer per connection, a power of two from 4096 to 2^30 (default 4194304, the most Linux's autotuning gives the kernel's)."
            | Trials _ ->
                "with --loss: runs per figure, 1 to 1000, each with its own impairment seed; the table shows the median (default 3)."
            | Rows _ -> "with --loss: only the rows whose impairment contains this text (such as 20% or none)."
            | Stalled _ ->
                "instead: this many kernel clients, 1 to 10000, send 4 MiB each to the stack's echo server and never read; memory per connection and over rounds."
            | Rounds _ -> "with --stalled: rounds of clients, 1 to 100 (default 4)."
            | Flood _ ->
                "instead: a SYN flood from spoofed sources for this many seconds, 1 to 600, while a real client connects five times a second."
            | Fragment_Flood _ ->
                "instead: IPv4 and IPv6 fragments that never complete (random, overlapping, tiny) for this many seconds, 1 to 600, while the kernel streams to the stack; reassembly's memory against its limit, and the stream intact."
            | Http _ ->
                "instead: Kestrel over the stack against Kestrel over kernel sockets, this many seconds per figure, 1 to 600 (requests per second, keep-alive and not), and a 100 MB HttpClient download each way round."
            | Kernel_Cc _ ->
                "with --loss: congestion control of the kernel's sender (default cubic, as the stack's; bbr or reno where the kernel has them)."

/// One end of a connection, whichever stack it lives on.
type Endpoint =
    {
        Stream: Stream
        ShutdownWrite: unit -> unit
        Close: unit -> unit
    }

/// Where a measurement runs: how a client connects and how the server accepts.
type Setup =
    {
        Connect: unit -> Task<Endpoint>
        Accept: CancellationToken -> Task<Endpoint>
        /// Packets the stack handled and bytes its thread allocated so far (zeros for the
        /// kernel, which has no such counts).
        Tally: unit -> struct (int64 * int64)
    }

let private ofSocket (s: Socket) =
    s.NoDelay <- true

    {
        Stream = new NetworkStream(s, true)
        ShutdownWrite = fun () -> s.Shutdown SocketShutdown.Send
        Close = fun () -> s.Dispose()
    }

let private ofConnection (c: TcpStackConnection) =
    {
        Stream = c.Stream
        ShutdownWrite = c.ShutdownWrite
        Close = fun () -> c.ShutdownWrite()
    }

/// Kernel sockets made in namespace `ns` ahead of use, a batch at a time, so that
/// entering the namespace costs nothing per connection.
type private SocketPool(ns: string) =
    let pool = Collections.Generic.Queue<Socket>()

    member _.Take() =
        if pool.Count = 0 then
            for s in
                NetworkNamespace.RunIn(
                    ns,
                    fun () -> Array.init 256 (fun _ -> new Socket(SocketType.Stream, ProtocolType.Tcp))
                ) do
                pool.Enqueue s

        pool.Dequeue()

    interface IDisposable with
        member _.Dispose() =
            for s in pool do
                s.Dispose()

let private kernelClient (pool: SocketPool) (server: IPEndPoint) () =
    task {
        let s = pool.Take()
        do! s.ConnectAsync server
        return ofSocket s
    }

/// Reads until `count` bytes came or the stream ended.
let private readExactly (stream: Stream) (buffer: byte array) (count: int) =
    task {
        let mutable got = 0
        let mutable ended = false

        while got < count && not ended do
            let! n = stream.ReadAsync(buffer.AsMemory(got, count - got))
            if n = 0 then ended <- true else got <- got + n

        return got
    }

/// Bits per second one way: the sender writes for `duration`, the receiver counts.
let private bulk (setup: Setup) (clientSends: bool) (duration: TimeSpan) =
    task {
        let accepting = setup.Accept CancellationToken.None
        let! client = setup.Connect()
        let! server = accepting
        let sender, receiver = if clientSends then client, server else server, client

        let writing =
            task {
                let chunk = Array.create 65536 7uy
                let clock = Stopwatch.StartNew()

                while clock.Elapsed < duration do
                    do! sender.Stream.WriteAsync(chunk.AsMemory())

                sender.ShutdownWrite()
            }

        let buffer = Array.zeroCreate<byte> 65536
        let clock = Stopwatch.StartNew()
        let mutable total = 0L
        let mutable go = true
        // Steady state: from the first 4 MiB on (buffers allocated, windows open) to the end.
        let steadyFrom = 4L <<< 20
        let mutable start = ValueNone

        while go do
            let! n = receiver.Stream.ReadAsync(buffer.AsMemory())

            if n = 0 then
                go <- false
            else
                total <- total + int64 n

                if start.IsNone && total >= steadyFrom then
                    start <- ValueSome(setup.Tally())

        let struct (packets1, allocated1) = setup.Tally()

        let struct (packets0, allocated0) =
            start |> ValueOption.defaultValue (struct (packets1, allocated1))

        let seconds = clock.Elapsed.TotalSeconds
        do! writing
        receiver.ShutdownWrite()
        client.Close()
        server.Close()
        return struct (float total * 8.0 / seconds, packets1 - packets0, allocated1 - allocated0)
    }

/// Serves each accepted connection with `serve` until cancelled.
let private serveAll (setup: Setup) (serve: Endpoint -> Task) (cancel: CancellationToken) =
    task {
        try
            while not cancel.IsCancellationRequested do
                let! e = setup.Accept cancel
                Task.Run(fun () -> serve e) |> ignore
        with _ ->
            ()
    }

/// Echoes one byte at a time until the peer closes.
let private echoBytes (e: Endpoint) : Task =
    task {
        let b = Array.zeroCreate<byte> 1
        let mutable go = true

        while go do
            let! n = e.Stream.ReadAsync(b.AsMemory())

            if n = 0 then
                go <- false
            else
                do! e.Stream.WriteAsync(b.AsMemory())

        e.ShutdownWrite()
        e.Close()
    }

/// Connections per second: connect, a 1-byte echo, close; one after another.
let private connectionRate (setup: Setup) (duration: TimeSpan) =
    task {
        use cancel = new CancellationTokenSource()
        let _serving = serveAll setup echoBytes cancel.Token
        let b = Array.zeroCreate<byte> 1
        let clock = Stopwatch.StartNew()
        let mutable count = 0

        while clock.Elapsed < duration do
            let! c = setup.Connect()
            do! c.Stream.WriteAsync(b.AsMemory())
            let! _ = readExactly c.Stream b 1
            c.Close()
            count <- count + 1

        cancel.Cancel()
        return float count / clock.Elapsed.TotalSeconds
    }

/// Round trips of one byte on one connection: p50 and p99 in microseconds.
let private latency (setup: Setup) (duration: TimeSpan) =
    task {
        let accepting = setup.Accept CancellationToken.None
        let! client = setup.Connect()
        let! server = accepting
        let serving = echoBytes server
        let b = Array.zeroCreate<byte> 1
        let samples = Collections.Generic.List<float>()
        let clock = Stopwatch.StartNew()

        while clock.Elapsed < duration do
            let start = Stopwatch.GetTimestamp()
            do! client.Stream.WriteAsync(b.AsMemory())
            let! _ = readExactly client.Stream b 1
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds)

        client.ShutdownWrite()
        do! serving
        client.Close()
        samples.Sort()

        let at (q: float) =
            samples[min (samples.Count - 1) (int (q * float samples.Count))]

        return at 0.5, at 0.99
    }

type private Figures =
    {
        ToServer: float
        FromServer: float
        ConnectionsPerSecond: float
        LatencyP50: float
        LatencyP99: float
        /// Bytes allocated per packet in the steady state of the bulk transfers.
        AllocatedPerPacket: float
        /// Bytes allocated per connection made, used and closed.
        AllocatedPerConnection: float
    }

let private measure (progress: string -> unit) (name: string) (setup: Setup) (duration: TimeSpan) =
    task {
        progress $"{name}: bulk, client to server"
        let! struct (toServer, packetsTo, allocatedTo) = bulk setup true duration
        progress $"{name}: bulk, server to client"
        let! struct (fromServer, packetsFrom, allocatedFrom) = bulk setup false duration
        let struct (_, allocated1) = setup.Tally()
        progress $"{name}: connections per second"
        let! rate = connectionRate setup duration
        let struct (_, allocated2) = setup.Tally()
        progress $"{name}: 1-byte round trips"
        let! p50, p99 = latency setup duration
        let connections = rate * duration.TotalSeconds

        return
            {
                ToServer = toServer
                FromServer = fromServer
                ConnectionsPerSecond = rate
                LatencyP50 = p50
                LatencyP99 = p99
                AllocatedPerPacket = float (allocatedTo + allocatedFrom) / float (max 1L (packetsTo + packetsFrom))
                AllocatedPerConnection = float (allocated2 - allocated1) / max 1.0 connections
            }
    }

/// The kernel on both ends of a veth pair.
let private kernelFigures progress (mtu: int) (duration: TimeSpan) (ipv6: bool) =
    task {
        use veth =
            new VethPair(uniqueName "tsb" "a", uniqueName "tsb" "b", "10.8.0.1/24", "10.8.0.2/24", mtu)

        use pool = new SocketPool(veth.A)

        let serverAddress =
            IPEndPoint(IPAddress.Parse(if ipv6 then "fd00:8::2" else "10.8.0.2"), 5001)

        use listener = if ipv6 then socketIn6 veth.B else socketIn veth.B
        listener.Bind serverAddress
        listener.Listen 4096

        let setup =
            {
                Connect = kernelClient pool serverAddress
                Accept =
                    fun cancel ->
                        task {
                            let! s = listener.AcceptAsync cancel
                            return ofSocket s
                        }
                Tally = fun () -> struct (0L, 0L)
            }

        return! measure progress "kernel (veth)" setup duration
    }

/// A kernel socket on one end of a TUN device, our stack on the other.
let private stackFigures progress (mtu: int) (duration: TimeSpan) (idle: int) (ipv6: bool) =
    task {
        let ns = uniqueName "tsb" "t"

        let! stack = benchStack ns mtu (256 * 1024)

        try
            use pool = new SocketPool(ns)
            use listener = stack.Listen(5001, 1024)

            let setup =
                {
                    Connect = kernelClient pool (IPEndPoint((if ipv6 then stack.Address6 else stack.Address), 5001))
                    Accept =
                        fun cancel ->
                            task {
                                let! c = listener.AcceptAsync cancel
                                return ofConnection c
                            }
                    Tally =
                        fun () ->
                            let s = stack.GetStatistics()
                            struct (s.PacketsIn + s.PacketsOut, s.StackThreadAllocatedBytes)
                }

            let! figures = measure progress "stack (TUN)" setup duration

            let! idleFigures =
                IdleBench.measure progress stack ns (IPAddress.Parse "10.9.0.1") idle

            return figures, idleFigures
        finally
            stack.DisposeAsync().AsTask().Wait()
    }

let private measureAll (args: ParseResults<BenchArgs>) (out: TextWriter) =
    let duration =
        args.GetResult(Duration, defaultValue = 5.0)
        |> Validate.inRange "--duration" 0.1 600.0
        |> TimeSpan.FromSeconds

    let mtu =
        args.GetResult(Mtu, defaultValue = 1500) |> Validate.inRange "--mtu" 576 65535

    let idle =
        args.GetResult(Idle, defaultValue = 2000) |> Validate.inRange "--idle" 1 100000

    let json = args.Contains Json

    Validate.root "bench makes network namespaces, a veth pair and a TUN device"

    removeOnInterrupt [ uniqueName "tsb" "a"; uniqueName "tsb" "b"; uniqueName "tsb" "t" ]
    let progress (text: string) = eprintfn "bench: %s" text
    let ipv6 = args.Contains Ipv6
    let kernel = (kernelFigures progress mtu duration ipv6).Result
    let stack, extras = (stackFigures progress mtu duration idle ipv6).Result

    let rows =
        [
            "throughput, client to server", "Mbit/s", kernel.ToServer / 1e6, stack.ToServer / 1e6
            "throughput, server to client", "Mbit/s", kernel.FromServer / 1e6, stack.FromServer / 1e6
            "connections (connect, 1-byte echo, close)",
            "per s",
            kernel.ConnectionsPerSecond,
            stack.ConnectionsPerSecond
            "1-byte round trip, p50", "us", kernel.LatencyP50, stack.LatencyP50
            "1-byte round trip, p99", "us", kernel.LatencyP99, stack.LatencyP99
        ]

    let family = if ipv6 then "IPv6" else "IPv4"

    out.WriteLine(
        $"{family}, MTU {mtu}, {duration.TotalSeconds} s per measurement; the kernel runs both ends over veth, or the client end over TUN"
    )

    out.WriteLine(
        String.Format("{0,-44} {1,8} {2,14} {3,14} {4,8}", "measure", "unit", "kernel (veth)", "stack (TUN)", "ratio")
    )

    for name, unit, k, s in rows do
        out.WriteLine(String.Format("{0,-44} {1,8} {2,14:F1} {3,14:F1} {4,8:F3}", name, unit, k, s, s / k))

    out.WriteLine(
        String.Format(
            "{0,-44} {1,8} {2,14} {3,14:F1}",
            "stack thread allocations per packet, bulk",
            "B",
            "-",
            stack.AllocatedPerPacket
        )
    )

    out.WriteLine(
        String.Format(
            "{0,-44} {1,8} {2,14} {3,14:F0}",
            "stack thread allocations per connection",
            "B",
            "-",
            stack.AllocatedPerConnection
        )
    )

    out.WriteLine(
        String.Format(
            "{0,-44} {1,8} {2,14} {3,14:F0}",
            "memory per idle connection (heap + pool)",
            "B",
            "-",
            extras.BytesPerConnection
        )
    )

    out.WriteLine(
        String.Format(
            "{0,-44} {1,8} {2,14} {3,14:F0}",
            "resident memory per idle connection",
            "B",
            "-",
            extras.ResidentPerConnection
        )
    )

    if json then
        use stream = new MemoryStream()

        do
            use w = new Utf8JsonWriter(stream)
            w.WriteStartObject()
            w.WriteNumber("mtu", mtu)
            w.WriteString("family", family)
            w.WriteNumber("durationSeconds", duration.TotalSeconds)
            w.WriteStartArray "results"

            for name, unit, k, s in rows do
                w.WriteStartObject()
                w.WriteString("measure", name)
                w.WriteString("unit", unit)
                w.WriteNumber("kernel", k)
                w.WriteNumber("stack", s)
                w.WriteNumber("ratio", s / k)
                w.WriteEndObject()

            w.WriteEndArray()
            w.WriteNumber("allocatedBytesPerPacket", stack.AllocatedPerPacket)
            w.WriteNumber("allocatedBytesPerConnection", stack.AllocatedPerConnection)
            w.WriteNumber("bytesPerIdleConnection", extras.BytesPerConnection)
            w.WriteNumber("residentBytesPerIdleConnection", extras.ResidentPerConnection)
            w.WriteEndObject()

        out.WriteLine(Text.Encoding.UTF8.GetString(stream.ToArray()))

    0

type private Mode =
    | Figures
    | LossMode
    | StalledMode
    | FloodMode
    | FragmentFloodMode
    | HttpMode

/// The switch that picks a mode.
let private switchOf mode =
    match mode with
    | Figures -> ""
    | LossMode -> "--loss"
    | StalledMode -> "--stalled"
    | FloodMode -> "--flood"
    | FragmentFloodMode -> "--fragment-flood"
    | HttpMode -> "--http"

let private modeName mode = ("bench " + switchOf mode).TrimEnd()

/// The mode an option belongs to, and its name.
let private modeOf (a: BenchArgs) =
    match a with
    | Duration _ -> "--duration", Figures
    | Mtu _ -> "--mtu", Figures
    | Idle _ -> "--idle", Figures
    | Json -> "--json", Figures
    | Ipv6 -> "--ipv6", Figures
    | Loss -> "--loss", LossMode
    | Bytes _ -> "--bytes", LossMode
    | Pcap_Dir _ -> "--pcap-dir", LossMode
    | Buffer _ -> "--buffer", LossMode
    | Kernel_Cc _ -> "--kernel-cc", LossMode
    | Trials _ -> "--trials", LossMode
    | Rows _ -> "--rows", LossMode
    | Stalled _ -> "--stalled", StalledMode
    | Rounds _ -> "--rounds", StalledMode
    | Flood _ -> "--flood", FloodMode
    | Fragment_Flood _ -> "--fragment-flood", FragmentFloodMode
    | Http _ -> "--http", HttpMode

/// A congestion control name as the kernel spells one (at most 15 characters).
let private algorithmName (text: string) =
    let nameChar (c: char) = Char.IsAsciiLetterOrDigit c || c = '_'

    if text.Length = 0 || text.Length > 15 || not (Seq.forall nameChar text) then
        Validate.usage $"--kernel-cc '{text}': not an algorithm name; use 1 to 15 letters, digits or '_', such as cubic"

    text

let run (args: ParseResults<BenchArgs>) (out: TextWriter) =
    let mode =
        match
            [
                if args.Contains Loss then
                    LossMode
                if args.Contains Stalled then
                    StalledMode
                if args.Contains Flood then
                    FloodMode
                if args.Contains Fragment_Flood then
                    FragmentFloodMode
                if args.Contains Http then
                    HttpMode
            ]
        with
        | [] -> Figures
        | [ one ] -> one
        | several ->
            let names = several |> List.map switchOf |> String.concat " and "
            Validate.usage $"{names} are different benchmarks; choose one"

    // Refused rather than ignored: the run would not measure what was asked.
    for a in args.GetAllResults() do
        match modeOf a with
        | name, owner when owner <> mode && mode = Figures ->
            Validate.usage $"{name} is an option of {modeName owner}; add {switchOf owner} or leave it out"
        | name, owner when owner <> mode -> Validate.usage $"{name} does not apply to {modeName mode}; leave it out"
        | _ -> ()

    match mode with
    | LossMode ->
        LossBench.run
            (args.GetResult(Bytes, defaultValue = (64L <<< 20))
             |> Validate.inRange "--bytes" 1L (1L <<< 40))
            (args.GetResult(Trials, defaultValue = 3) |> Validate.inRange "--trials" 1 1000)
            (TimeSpan.FromMinutes 10.)
            (args.TryGetResult Pcap_Dir
             |> Option.map (Validate.existingDirectory "--pcap-dir"))
            (args.GetResult(Buffer, defaultValue = (4 <<< 20))
             |> Validate.powerOfTwo "--buffer" 4096 (1 <<< 30))
            (args.GetResult(Kernel_Cc, defaultValue = "cubic") |> algorithmName)
            (args.TryGetResult Rows)
            out
    | StalledMode ->
        StalledBench.run
            (args.GetResult Stalled |> Validate.inRange "--stalled" 1 10000)
            (args.GetResult(Rounds, defaultValue = 4) |> Validate.inRange "--rounds" 1 100)
            out
    | FloodMode -> FloodBench.run (args.GetResult Flood |> Validate.inRange "--flood" 1.0 600.0) out
    | FragmentFloodMode ->
        FragmentFloodBench.run (args.GetResult Fragment_Flood |> Validate.inRange "--fragment-flood" 1.0 600.0) out
    | HttpMode -> HttpBench.run (args.GetResult Http |> Validate.inRange "--http" 1.0 600.0) out
    | Figures -> measureAll args out
