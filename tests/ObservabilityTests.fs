/// What the stack tells a .NET host: logs through ILogger, traces of connects and accepts
/// on an ActivitySource, its meter made by the host's IMeterFactory.
module Stack.Tests.ObservabilityTests

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.Diagnostics.Metrics
open Microsoft.Extensions.DependencyInjection
open Microsoft.Extensions.Logging
open Expecto
open Stack.Shell
open Stack.Shell.Device
open Stack.Tests.ShellTests

/// Keeps every log line (level and text) of the loggers it makes.
type private CapturedLogs() =
    let lines = ConcurrentQueue<LogLevel * string>()

    member _.Lines = List.ofSeq lines

    interface ILoggerProvider with
        member _.CreateLogger _ =
            { new ILogger with
                member _.BeginScope _ = null
                member _.IsEnabled _ = true

                member _.Log(level, _, state, error, format) =
                    lines.Enqueue((level, format.Invoke(state, error)))
            }

        member _.Dispose() = ()

[<Tests>]
let tests =
    testSequenced
    <| testList
        "observability"
        [
            testCase "the stack logs its start at Information and a peer's reset at Debug"
            <| fun () ->
                let captured = new CapturedLogs()

                use factory =
                    LoggerFactory.Create(fun b -> b.AddProvider(captured).SetMinimumLevel LogLevel.Debug |> ignore)

                let struct (a, b) = MemoryDevice.CreatePair()

                use logged =
                    TcpStack.Start(TcpStackOptions(Address = addressA, Device = a, LoggerFactory = factory))

                use peer = TcpStack.Start(TcpStackOptions(Address = addressB, Device = b))
                let client, server = connectPair logged peer
                server.Abort()

                eventually
                    10.
                    (fun () ->
                        captured.Lines
                        |> List.exists (fun (_, text) -> text.Contains "reset by the peer"))
                    (fun () -> $"no reset logged: {captured.Lines}")

                Expect.contains (captured.Lines |> List.map fst) LogLevel.Debug "the reset at Debug"

                Expect.isTrue
                    (captured.Lines
                     |> List.exists (fun (level, text) ->
                         level = LogLevel.Information && text.Contains "10.0.0.1 started"))
                    "the start at Information"

                client.Dispose()

            testCase "connects and accepts are traced on the stack's ActivitySource with their endpoints"
            <| fun () ->
                let stopped = ConcurrentQueue<Activity>()

                use listener =
                    new ActivityListener(
                        ShouldListenTo = (fun source -> source.Name = TcpStack.ActivitySourceName),
                        Sample = (fun _ -> ActivitySamplingResult.AllDataAndRecorded),
                        ActivityStopped = (fun activity -> stopped.Enqueue activity)
                    )

                ActivitySource.AddActivityListener listener

                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB

                    let byName name =
                        stopped |> Seq.filter (fun a -> a.OperationName = name) |> List.ofSeq

                    eventually 10. (fun () -> not (byName "tcpstack.accept").IsEmpty) (fun () -> "no accept traced")
                    let connect = byName "tcpstack.connect" |> List.exactlyOne
                    Expect.equal (connect.GetTagItem "network.peer.port") (box 7) "the connect's peer port"
                    Expect.equal (connect.GetTagItem "network.peer.address") (box "10.0.0.2") "and address"
                    Expect.equal (connect.Kind) ActivityKind.Client "a client span"
                    let accept = byName "tcpstack.accept" |> List.exactlyOne

                    Expect.equal
                        (accept.GetTagItem "network.peer.port")
                        (box client.LocalEndPoint.Port)
                        "the accept's peer"

                    Expect.equal (accept.Kind) ActivityKind.Server "a server span"
                    server.Dispose())

            testCase "with a host's IMeterFactory the stack's meter is the factory's"
            <| fun () ->
                use services = ServiceCollection().AddMetrics().BuildServiceProvider()
                let meterFactory = services.GetRequiredService<IMeterFactory>()
                let scopes = ConcurrentQueue<obj>()
                use meters = new MeterListener()

                meters.InstrumentPublished <-
                    fun instrument _ ->
                        if
                            instrument.Meter.Name = TcpStack.MeterName
                            && instrument.Name = "tcpstack.packets"
                        then
                            scopes.Enqueue instrument.Meter.Scope

                meters.Start()
                let struct (a, _) = MemoryDevice.CreatePair()

                use _stack =
                    TcpStack.Start(TcpStackOptions(Address = addressA, Device = a, MeterFactory = meterFactory))

                Expect.contains (List.ofSeq scopes) (box meterFactory) "made by the factory"

            testCase "TracePath: the stack writes a trace of its connections when it stops, which parses back"
            <| fun () ->
                let path =
                    IO.Path.Combine(IO.Path.GetTempPath(), $"tcpstack-trace-{Guid.NewGuid():N}.json")

                let struct (a, b) = MemoryDevice.CreatePair()

                let stackA =
                    TcpStack.Start(TcpStackOptions(Address = addressA, Device = a, TracePath = path))

                let stackB = TcpStack.Start(TcpStackOptions(Address = addressB, Device = b))

                try
                    let client, server = connectPair stackA stackB
                    // Keepalive probes of the idle connection make the stack thread run
                    // timers, for its track.
                    client.Keepalive <- TcpKeepalive(TimeSpan.FromMilliseconds 50., TimeSpan.FromMilliseconds 50., 5)
                    Threading.Thread.Sleep 300
                    exchange client server 200_000 30.
                    client.Dispose()
                    server.Dispose()
                    Expect.isFalse (IO.File.Exists path) "nothing written while the stack runs"
                    stackA.Dispose()

                    let tracks =
                        match Stack.Cli.TraceFile.parse (IO.File.ReadAllText path) with
                        | Ok t -> t
                        | Error e -> failtest e

                    let thread = tracks |> List.find (fun t -> t.Name = "stack thread")
                    let spans = thread.Events |> List.map snd
                    Expect.exists spans (fun s -> s.StartsWith "read ") "the stack thread's batches"
                    Expect.exists spans (fun s -> s.StartsWith "write ") "and what they wrote"
                    Expect.contains spans "wait" "and its waits"

                    Expect.exists spans (fun s -> s.StartsWith "timers of ") "and the timers it ran"

                    // The application's calls: the connect, and the reads that waited, each
                    // kind on a track of its own (a read and a write may wait at once).
                    let calls kind =
                        let name = $"application {client.LocalEndPoint} to {client.RemoteEndPoint}: {kind}"

                        match tracks |> List.tryFind (fun t -> t.Name = name) with
                        | Some t -> t
                        | None -> failtest $"no track {name}"

                    Expect.equal ((calls "connect").Events |> List.map snd) [ "connect" ] "the connect"
                    let reads = calls "reads"
                    Expect.all (reads.Events |> List.map snd) ((=) "read wait") "the reads that waited"
                    Expect.isNonEmpty reads.Events "there were some"

                    for (_, name, args) in reads.Details do
                        Expect.isGreaterThanOrEqual args["dur"] 0.0 $"{name}: a duration"

                    // Perfetto, like the format, draws a track's spans only when they nest;
                    // ours never overlap at all, on any track.
                    for track in tracks do
                        let spans =
                            track.Details
                            |> List.filter (fun (_, _, a) -> a.ContainsKey "dur")
                            |> List.map (fun (t, _, a) -> t, t + a["dur"] / 1e6)
                            |> List.sortBy fst

                        for (_, finish), (start, _) in List.pairwise spans do
                            Expect.isLessThanOrEqual finish (start + 1e-6) $"{track.Name}: spans one after another"

                    let tracks =
                        tracks
                        |> List.filter (fun t -> t.Name <> "stack thread" && not (t.Name.StartsWith "application "))

                    Expect.equal
                        (tracks |> List.map (fun t -> t.Name))
                        [ $"{addressA}:{client.LocalEndPoint.Port} to {addressB}:7" ]
                        "one track: the client"

                    let track = tracks.Head
                    Expect.isTrue (track.Counters.ContainsKey "cwnd (bytes)") "cwnd"
                    Expect.isTrue (track.Counters.ContainsKey "srtt (us)") "SRTT"
                    Expect.contains (track.Events |> List.map snd) "Established" "the handshake's end"

                    let times = track.Counters["flight (bytes)"] |> List.map fst
                    Expect.equal times (List.sort times) "on the stack's clock, in order"
                finally
                    stackA.Dispose()
                    stackB.Dispose()

                    if IO.File.Exists path then
                        IO.File.Delete path

            testCase "GetConnectionsAsync: each connection's state, bytes, cwnd and RTT, as the top view shows them"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    // Both stay open: a connection that has closed out is no longer listed.
                    let writing =
                        client.WriteAsync(ReadOnlyMemory(Array.zeroCreate<byte> 300_000)).AsTask()

                    let buffer = Array.zeroCreate<byte> 65536
                    let mutable read = 0

                    while read < 300_000 do
                        read <- read + (server.ReadAsync(Memory buffer).AsTask() |> within 10.)

                    Expect.isTrue (writing.Wait(TimeSpan.FromSeconds 10.)) "written"
                    let deadline = DateTime.UtcNow.AddSeconds 10.
                    let mutable infos = stackA.GetConnectionsAsync() |> within 10.

                    while (infos.Count <> 1 || infos[0].BytesAcknowledged < 300_000L)
                          && DateTime.UtcNow < deadline do
                        Threading.Thread.Sleep 20
                        infos <- stackA.GetConnectionsAsync() |> within 10.

                    Expect.equal infos.Count 1 "the client's one connection"
                    let i = infos[0]

                    Expect.equal
                        (i.LocalEndPoint, i.RemoteEndPoint)
                        (client.LocalEndPoint, client.RemoteEndPoint)
                        "endpoints"

                    Expect.equal i.State Net.NetworkInformation.TcpState.Established "open"
                    Expect.equal i.BytesAcknowledged 300_000L "every byte sent was acknowledged"
                    Expect.equal i.BytesReceived 0L "nothing came back"
                    Expect.isGreaterThan i.CongestionWindow 0L "a congestion window"
                    Expect.isTrue i.SmoothedRtt.HasValue "an RTT sample"

                    let text = new IO.StringWriter()

                    let console =
                        Spectre.Console.AnsiConsole.Create(
                            Spectre.Console.AnsiConsoleSettings(
                                Out = Spectre.Console.AnsiConsoleOutput(text),
                                Ansi = Spectre.Console.AnsiSupport.No,
                                ColorSystem = Spectre.Console.ColorSystemSupport.NoColors
                            )
                        )

                    console.Profile.Width <- 240
                    console.Write(Stack.Cli.TopView.table infos Map.empty 1.0)
                    let shown = text.ToString()
                    Expect.stringContains shown (string client.RemoteEndPoint) "the table shows the peer"
                    Expect.stringContains shown (string i.State) "and the state"
                    Expect.stringContains shown "1 connections" "and how many")
        ]
