/// `tcpstack soak`: two stacks back to back in this process (no root, no device) under a
/// mixed load at once: bulk transfers, request/response, a churn of short connections, a
/// SYN flood from spoofed sources and malformed packets. Reports memory, connections and
/// errors as it goes; fails if a byte came back wrong or connections were left behind.
module Stack.Cli.SoakCommand

open System
open System.Diagnostics
open System.Net
open System.Threading
open System.Threading.Tasks
open Argu
open Stack.Core.Wire
open Stack.Shell
open Stack.Shell.Device

type SoakArgs =
    | Seconds of seconds: int
    | Flood_Rate of per_second: int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Seconds _ -> "how long the load runs, 1 to 86400 seconds (default 60)."
            | Flood_Rate _ -> "spoofed SYNs and malformed packets per second each, 0 to 100000 (default 2000)."

let private server = IPAddress.Parse "10.0.0.1"
let private client = IPAddress.Parse "10.0.0.2"

/// What the load did, counted by the tasks that do it.
type private Tally() =
    member val BulkBytes = 0L with get, set
    member val RoundTrips = 0L with get, set
    member val ShortConnections = 0L with get, set
    member val Wrong = 0L with get, set
    /// Errors by message, so a thousand of one kind are one line.
    member val Errors = Collections.Generic.Dictionary<string, int64>()
    member t.ErrorCount = lock t (fun () -> Seq.sum t.Errors.Values)

/// Runs `work` again and again until `stop`; an exception other than the stop is counted.
let private repeat (tally: Tally) (stop: CancellationToken) (work: unit -> Task) =
    task {
        while not stop.IsCancellationRequested do
            try
                do! work ()
            with
            | :? OperationCanceledException when stop.IsCancellationRequested -> ()
            | e ->
                lock tally (fun () ->
                    let seen =
                        match tally.Errors.TryGetValue e.Message with
                        | true, n -> n
                        | _ -> 0L

                    tally.Errors[e.Message] <- seen + 1L)
    }
    :> Task

/// Sends up to `perSecond` packets a second that `make` builds from a counter.
let private inject (wire: MemoryDevice) (perSecond: int) (stop: CancellationToken) (make: int -> byte array) =
    Task.Run(fun () ->
        let clock = Stopwatch.StartNew()
        let mutable sent = 0

        while not stop.IsCancellationRequested do
            if int64 sent * 1000L < int64 perSecond * clock.ElapsedMilliseconds then
                wire.Write(ReadOnlySpan(make sent))
                sent <- sent + 1
            else
                Thread.Sleep 1)

let private spoofedSyn (n: int) =
    let source = Ipv4Address(10uy, 9uy, byte (n >>> 8), byte (n % 250 + 1))

    Packet.tcpToArray
        (Ipv4.header IpProtocol.Tcp source (Ipv4Address.Parse "10.0.0.1") 0)
        { Tcp.header (uint16 (1024 + n % 60000)) 7us with
            Flags = TcpFlags.Syn
            SequenceNumber = uint32 n * 7919u
            Window = 65535us
        }
        ReadOnlySpan.Empty

let private junk (n: int) =
    let rng = Random n
    let bytes = Array.zeroCreate<byte>(20 + rng.Next 1400)
    rng.NextBytes bytes
    // Half of them claim to be IPv4, so they get past the first check.
    if n % 2 = 0 then
        bytes[0] <- 0x45uy

    bytes

let run (args: ParseResults<SoakArgs>) =
    let seconds = Validate.inRange "--seconds" 1 86400 (args.GetResult(Seconds, 60))

    let rate =
        Validate.inRange "--flood-rate" 0 100000 (args.GetResult(Flood_Rate, 2000))

    let struct (serverDevice, clientDevice) = MemoryDevice.CreatePair()

    let options address device =
        TcpStackOptions(Address = address, Device = device)

    let stackA = TcpStack.Start(options server serverDevice)
    let stackB = TcpStack.Start(options client clientDevice)
    let tally = Tally()
    use stop = new CancellationTokenSource(TimeSpan.FromSeconds(float seconds))
    let token = stop.Token

    let serve (port: int) (answer: TcpStackConnection -> Task) =
        let listener = stackA.Listen(port, 1024)

        task {
            try
                while true do
                    let! c = listener.AcceptAsync token

                    Task.Run(fun () ->
                        task {
                            try
                                do! answer c
                                do! c.CloseAsync()
                            with _ ->
                                c.Abort()
                        }
                        :> Task)
                    |> ignore
            with :? OperationCanceledException ->
                listener.Dispose()
        }
        :> Task

    let echo (c: TcpStackConnection) = c.Stream.CopyToAsync c.Stream
    let discard (c: TcpStackConnection) = c.Stream.CopyToAsync IO.Stream.Null

    /// Writes `message` and reads it back, counting a reply that differs.
    let exchange (c: TcpStackConnection) (message: byte array) =
        task {
            do! c.WriteAsync(ReadOnlyMemory message, token)
            let back = Array.zeroCreate<byte> message.Length
            do! c.Stream.ReadExactlyAsync(back.AsMemory(), token)

            if not (back.AsSpan().SequenceEqual(ReadOnlySpan message)) then
                lock tally (fun () -> tally.Wrong <- tally.Wrong + 1L)
        }

    /// Connects to `port` and runs `body`; closes the connection after it, or resets it
    /// when `body` fails or the run stops, so no connection outlives its task.
    let connected (port: int) (body: TcpStackConnection -> Task) () =
        task {
            let! c = stackB.ConnectAsync(IPEndPoint(server, port), token)
            let mutable closed = false

            try
                do! body c
                do! c.CloseAsync()
                closed <- true
            finally
                if not closed then
                    c.Abort()
        }
        :> Task

    let bulk (c: TcpStackConnection) =
        task {
            let chunk = Array.zeroCreate<byte> 65536

            for _ in 1..256 do
                if not token.IsCancellationRequested then
                    do! c.WriteAsync(ReadOnlyMemory chunk, token)
                    lock tally (fun () -> tally.BulkBytes <- tally.BulkBytes + int64 chunk.Length)
        }
        :> Task

    let requests (c: TcpStackConnection) =
        task {
            let message = Array.init 100 byte

            for _ in 1..1000 do
                if not token.IsCancellationRequested then
                    do! exchange c message
                    lock tally (fun () -> tally.RoundTrips <- tally.RoundTrips + 1L)
        }
        :> Task

    // The server closes first, as an HTTP/1.0 server does, so TIME-WAIT stays on its side
    // and the client's ephemeral ports are free again at once.
    let answerOnce (c: TcpStackConnection) =
        task {
            let question = Array.zeroCreate<byte> 10
            do! c.Stream.ReadExactlyAsync(question.AsMemory(), token)
            do! c.WriteAsync(ReadOnlyMemory question, token)
        }
        :> Task

    let short (c: TcpStackConnection) =
        task {
            do! exchange c [| 1uy .. 10uy |]
            let! after = c.Stream.ReadAsync(Memory(Array.zeroCreate<byte> 1), token)

            if after <> 0 then
                lock tally (fun () -> tally.Wrong <- tally.Wrong + 1L)

            lock tally (fun () -> tally.ShortConnections <- tally.ShortConnections + 1L)
        }
        :> Task

    let load =
        [
            serve 7 echo
            serve 9 discard
            serve 13 answerOnce
            repeat tally token (connected 9 bulk)
            repeat tally token (connected 7 requests)
            repeat tally token (connected 13 short)
            repeat tally token (connected 13 short)
            if rate > 0 then
                inject clientDevice rate token spoofedSyn
                inject clientDevice rate token junk
        ]

    let clock = Stopwatch.StartNew()

    let report () =
        let s = stackA.GetStatistics()

        let ofState state =
            match s.ConnectionsByState.TryGetValue state with
            | true, n -> n
            | _ -> 0

        let dropped reason =
            match s.Drops.TryGetValue reason with
            | true, n -> n
            | _ -> 0L

        printfn
            "%5.0f s  RSS %4d MB  heap %4d MB  buffers %4d MB  server connections %5d (%d half-open)  bulk %6d MB  round trips %7d  short %6d  SYN cookies %d  malformed %d  errors %d  wrong %d"
            clock.Elapsed.TotalSeconds
            (Process.GetCurrentProcess().WorkingSet64 >>> 20)
            (GC.GetTotalMemory false >>> 20)
            ((s.BufferBytes + stackB.GetStatistics().BufferBytes) >>> 20)
            stackA.ConnectionCount
            (ofState NetworkInformation.TcpState.SynReceived)
            (tally.BulkBytes >>> 20)
            tally.RoundTrips
            tally.ShortConnections
            (stackA.GetStatistics().SynCookiesSent)
            (dropped "malformed")
            tally.ErrorCount
            tally.Wrong

    while not token.IsCancellationRequested do
        token.WaitHandle.WaitOne(TimeSpan.FromSeconds 5.) |> ignore
        report ()

    Task.WhenAll(load).Wait(TimeSpan.FromSeconds 30.) |> ignore
    // Every connection the clients made is closed: the server's table empties but for the
    // flood's half-open entries (they time out in about a minute) and TIME-WAIT.
    let settled = Stopwatch.StartNew()

    let leftOver () =
        let s = stackA.GetStatistics()

        s.ConnectionsByState
        |> Seq.filter (fun kv ->
            kv.Key <> NetworkInformation.TcpState.SynReceived
            && kv.Key <> NetworkInformation.TcpState.TimeWait)
        |> Seq.sumBy _.Value

    while leftOver () > 0 && settled.Elapsed < TimeSpan.FromSeconds 30. do
        Thread.Sleep 200

    report ()
    let left = leftOver ()

    for kv in stackA.GetStatistics().ConnectionsByState do
        if left > 0 then
            eprintfn "soak: server connections %A: %d" kv.Key kv.Value

    for kv in tally.Errors do
        eprintfn "soak: %d x %s" kv.Value kv.Key

    stackB.DisposeAsync().AsTask().Wait()
    stackA.DisposeAsync().AsTask().Wait()

    let errors = tally.ErrorCount

    if tally.Wrong > 0L || left > 0 || errors > 0L then
        eprintfn
            "soak: FAILED: %d replies differed from what was sent, %d connections left behind, %d errors"
            tally.Wrong
            left
            errors

        1
    else
        printfn "soak: passed: every reply as sent, no error, no connection left behind"
        0
