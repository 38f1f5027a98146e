/// The `tcpstack` programs that run a stack, end to end, each in a namespace of its own
/// with the kernel on the other side.
module Stack.Tests.ProgramTests

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open System.Text
open Expecto
open Stack.Shell.Device
open Stack.Tests.CliTests
open Stack.Tests.KernelTests
open Stack.Tests.ShellTests

/// A `tcpstack` command running in the background, its output read line by line.
type Running(args: string list) =
    let dll = Path.Combine(AppContext.BaseDirectory, "tcpstack.dll")

    // Through `env --default-signal=INT`: a shell starts background jobs with SIGINT
    // ignored, and a child inherits that, so a test run started with `&` would send
    // its Ctrl-C to a program that cannot hear it. (env execs: the PID stays the same.)
    let psi = ProcessStartInfo("env", [ "--default-signal=INT"; "dotnet"; dll ] @ args)

    do
        psi.RedirectStandardOutput <- true
        psi.RedirectStandardError <- true

    let p = Process.Start psi
    let lines = new BlockingCollection<string>()
    let all = StringBuilder()
    let errors = StringBuilder()

    do
        p.OutputDataReceived.Add(fun e ->
            if not (isNull e.Data) then
                lock all (fun () -> all.AppendLine e.Data |> ignore)
                lines.Add e.Data)

        p.ErrorDataReceived.Add(fun e ->
            if not (isNull e.Data) then
                lock errors (fun () -> errors.AppendLine e.Data |> ignore))

        p.BeginOutputReadLine()
        p.BeginErrorReadLine()

    /// Waits for a line of output that starts with `prefix`.
    member _.WaitFor(prefix: string) =
        let mutable found = None
        let deadline = DateTime.UtcNow.AddSeconds 60.

        while found.IsNone && DateTime.UtcNow < deadline do
            let mutable line = null

            if lines.TryTake(&line, 200) then
                if line.StartsWith prefix then
                    found <- Some line
            elif p.HasExited then
                failtestf "tcpstack %A ended: %s" args (string errors)

        match found with
        | Some line -> line
        | None -> failtestf "tcpstack %A never printed '%s'" args prefix

    /// Sends SIGINT, as Ctrl-C does, to the process this object started.
    member _.Interrupt() =
        Process.Start("kill", [ "-INT"; string p.Id ]).WaitForExit()

    /// Waits for the command to end; its exit code and whole output.
    member _.Finish() =
        if not (p.WaitForExit 120_000) then
            p.Kill true
            // What it printed says where it stopped.
            failtestf
                "tcpstack %A did not finish; it printed:\n%s\nand on stderr:\n%s"
                args
                (lock all (fun () -> string all))
                (lock errors (fun () -> string errors))

        p.WaitForExit()
        p.ExitCode, lock all (fun () -> string all)

    interface IDisposable with
        member _.Dispose() =
            if not p.HasExited then
                p.Kill true

            p.Dispose()

/// Runs `f` with a fresh namespace name; removes the namespace if it is left behind.
let withNamespace (f: string -> unit) =
    requireKernel ()
    let ns = freshNamespace ()

    try
        f ns
    finally
        if NetworkNamespace.Exists ns then
            Process.Start("ip", [ "netns"; "del"; ns ]).WaitForExit()

let private sha256Of (output: string) =
    output.Split('\n')
    |> Array.tryFind (fun l -> l.StartsWith "sha256 ")
    |> Option.map (fun l -> l.Substring(7).Trim().ToUpperInvariant())

[<Tests>]
let tests =
    testSequenced
    <| testList
        "programs"
        [
            testCase "demo completes: ping, echo and fetch, all intact"
            <| fun () ->
                requireKernel ()
                let run = tcpstack "" [ "demo"; "--bytes"; "4194304" ]
                Expect.equal run.Code 0 $"demo succeeded: {run.Err}"
                Expect.equal (run.Out.Split("intact:").Length - 1) 3 "all three transfers intact"
                Expect.stringContains run.Out "Success from 10.7.0.2" "the ping answered"
                Expect.stringContains run.Out "Success from fd00:7::2" "the IPv6 ping answered"
                Expect.stringContains run.Out "echoed over IPv6, intact" "the IPv6 echo"
                Expect.stringContains run.Out "Cleaned up" "cleaned up"

            testCase "serve's echo, discard and source answer a kernel client"
            <| fun () ->
                withNamespace (fun ns ->
                    use serve =
                        new Running(
                            [
                                "serve"
                                "--echo"
                                "7"
                                "--discard"
                                "9"
                                "--source"
                                "19"
                                "--max-conns"
                                "3"
                                "--netns"
                                ns
                            ]
                        )

                    for port in [ 7; 9; 19 ] do
                        serve.WaitFor $"listening on 10.7.0.2:{port}" |> ignore

                    let connect port =
                        let s = kernelSocket ns
                        s.Connect(IPEndPoint(stackAddress, port))
                        s

                    use echo = connect 7
                    let sent = kernelSend echo 71 300_000L |> within 30.
                    Expect.equal (kernelReceive echo |> within 30.) (300_000L, sent) "echo returns every byte"
                    use discard = connect 9
                    kernelSend discard 72 300_000L |> within 30. |> ignore
                    Expect.equal (fst (kernelReceive discard |> within 30.)) 0L "discard answers nothing"
                    use source = connect 19
                    source.Send(BitConverter.GetBytes 123_456L) |> ignore
                    source.Shutdown SocketShutdown.Send
                    Expect.equal (fst (kernelReceive source |> within 30.)) 123_456L "source sends the count asked for"
                    let code, _ = serve.Finish()
                    Expect.equal code 0 "serve ended after three connections")

            testCase "recv takes 32 MiB from a kernel sender; its SHA-256 and pcap agree"
            <| fun () ->
                withNamespace (fun ns ->
                    let pcap = Path.Combine(Path.GetTempPath(), $"{ns}.pcap")

                    try
                        use recv = new Running([ "recv"; "--port"; "5001"; "--netns"; ns; "--pcap"; pcap ])
                        recv.WaitFor "listening on 10.7.0.2:5001" |> ignore
                        use s = kernelSocket ns
                        s.Connect(IPEndPoint(stackAddress, 5001))
                        let sent = kernelSend s 73 (32L * MiB) |> within 120.
                        kernelReceive s |> within 30. |> ignore
                        let code, output = recv.Finish()
                        Expect.equal code 0 "recv succeeded"
                        Expect.equal (sha256Of output) (Some sent) "recv printed the SHA-256 of what was sent"
                        Expect.stringContains output $"received {32L * MiB} bytes" "and the count"

                        Expect.isEmpty
                            (tsharkLines pcap "_ws.malformed || tcp.checksum.status == 0" [])
                            "tshark finds no malformed frame or bad checksum"
                    finally
                        File.Delete pcap)

            testCase "send gives a kernel receiver 32 MiB; both count the same SHA-256"
            <| fun () ->
                withNamespace (fun ns ->
                    use _ns = NetworkNamespace.Open ns
                    use listener = kernelSocket ns
                    listener.Bind(IPEndPoint(IPAddress.Any, 5001))
                    listener.Listen 1

                    let receiving =
                        task {
                            use! s = listener.AcceptAsync()
                            return! kernelReceive s
                        }

                    let run =
                        tcpstack
                            ""
                            [
                                "send"
                                "--to"
                                "10.7.0.1:5001"
                                "--bytes"
                                string (32L * MiB)
                                "--netns"
                                ns
                            ]

                    Expect.equal run.Code 0 $"send succeeded: {run.Err}"
                    let count, received = receiving |> within 60.
                    Expect.equal count (32L * MiB) "the kernel got every byte"
                    Expect.equal (sha256Of run.Out) (Some received) "send printed the SHA-256 the kernel saw")

            testCase "send --to [fd00:7::1]:5001 gives a kernel IPv6 receiver 4 MiB, intact"
            <| fun () ->
                withNamespace (fun ns ->
                    use _ns = NetworkNamespace.Open ns

                    use listener =
                        NetworkNamespace.RunIn(
                            ns,
                            fun () -> new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp)
                        )

                    listener.Bind(IPEndPoint(IPAddress.IPv6Any, 5001))
                    listener.Listen 1

                    let receiving =
                        task {
                            use! s = listener.AcceptAsync()
                            let peer = (s.RemoteEndPoint :?> IPEndPoint).Address
                            let! result = kernelReceive s
                            return peer, result
                        }

                    let run =
                        tcpstack
                            ""
                            [
                                "send"
                                "--to"
                                "[fd00:7::1]:5001"
                                "--bytes"
                                string (4L * MiB)
                                "--netns"
                                ns
                            ]

                    Expect.equal run.Code 0 $"send succeeded: {run.Err}"
                    let peer, (count, received) = receiving |> within 60.
                    Expect.equal peer (IPAddress.Parse "fd00:7::2") "from the stack's IPv6 address"
                    Expect.equal count (4L * MiB) "the kernel got every byte"
                    Expect.equal (sha256Of run.Out) (Some received) "send printed the SHA-256 the kernel saw")

            testCase
                "host and peer, on two devices with the kernel forwarding between them, exchange messages over either family"
            <| fun () ->
                withNamespace (fun ns ->
                    for target, connected in
                        [
                            [], "connected: 10.7.2.2:"
                            [ "--to"; "[fd00:7:1::2]:9999" ], "connected: [fd00:7:2::2]:"
                        ] do
                        use host = new Running([ "host"; "--say"; "hello from the host"; "--netns"; ns ])

                        host.WaitFor "listening on 10.7.1.2:9999 and [fd00:7:1::2]:9999" |> ignore

                        let peer =
                            tcpstack
                                ""
                                ([ "peer"; "--say"; "hello from the peer"; "--say"; "and again"; "--netns"; ns ]
                                 @ target)

                        Expect.equal peer.Code 0 $"peer succeeded: {peer.Err}"
                        Expect.stringContains peer.Out connected "from the peer's address of that family"
                        Expect.stringContains peer.Out "received: hello from the host" "the peer got the host's line"
                        Expect.stringContains peer.Out "[SYN, ACK]" "and printed the packets it saw"
                        let code, hostOut = host.Finish()
                        Expect.equal code 0 "the host ended after the conversation"
                        Expect.stringContains hostOut "received: hello from the peer" "the host got the peer's lines"
                        Expect.stringContains hostOut "received: and again" "both of them")

            testCase "Ctrl-C stops serve cleanly: its namespace and device are removed, its capture is complete"
            <| fun () ->
                withNamespace (fun ns ->
                    let pcap = Path.Combine(Path.GetTempPath(), $"{ns}.pcap")

                    try
                        use serve = new Running([ "serve"; "--echo"; "7"; "--netns"; ns; "--pcap"; pcap ])
                        serve.WaitFor "listening on 10.7.0.2:7" |> ignore
                        use s = kernelSocket ns
                        s.Connect(IPEndPoint(stackAddress, 7))
                        s.Send("hello"B) |> ignore
                        let reply = Array.zeroCreate<byte> 5
                        s.Receive reply |> ignore
                        Expect.equal reply "hello"B "echoed before the interrupt"
                        serve.Interrupt()
                        let code, _ = serve.Finish()
                        Expect.equal code 0 "serve stopped"
                        Expect.isFalse (NetworkNamespace.Exists ns) "its namespace is gone"

                        match Stack.Core.Wire.Pcap.tryRead (ReadOnlySpan(File.ReadAllBytes pcap)) with
                        | Ok file -> Expect.isGreaterThanOrEqual file.Records.Length 5 "the capture holds the exchange"
                        | Error e -> failtestf "the capture does not read back: %A" e
                    finally
                        File.Delete pcap)

            testCase "bench runs end to end and prints its figures as JSON"
            <| fun () ->
                requireKernel ()
                let run = tcpstack "" [ "bench"; "--duration"; "0.5"; "--idle"; "100"; "--json" ]
                Expect.equal run.Code 0 $"bench succeeded: {run.Err}"
                let json = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries) |> Array.last
                let root = Text.Json.JsonDocument.Parse(json).RootElement
                let results = root.GetProperty("results").EnumerateArray() |> Seq.toList
                Expect.equal results.Length 5 "five measures"

                for r in results do
                    Expect.isGreaterThan (r.GetProperty("stack").GetDouble()) 0.0 "the stack's figure"
                    Expect.isGreaterThan (r.GetProperty("kernel").GetDouble()) 0.0 "the kernel's figure"

                Expect.isGreaterThan
                    (root.GetProperty("bytesPerIdleConnection").GetDouble())
                    0.0
                    "memory per idle connection"

            testCase "a 5 s fragment flood: reassembly stays within its limit and a kernel stream arrives intact"
            <| fun () ->
                requireKernel ()
                let run = tcpstack "" [ "bench"; "--fragment-flood"; "5" ]
                Expect.equal run.Code 0 $"bench succeeded; stdout: {run.Out} stderr: {run.Err}"
                Expect.stringContains run.Out ", intact" "the stream"

                let held =
                    Text.RegularExpressions.Regex.Match(run.Out, @"held at most (\d+) bytes of a (\d+)-byte limit")

                Expect.isTrue held.Success $"the reassembly line in {run.Out}"
                Expect.isGreaterThan (int64 held.Groups[1].Value) 0L "fragments were held"

                Expect.isLessThanOrEqual (int64 held.Groups[1].Value) (int64 held.Groups[2].Value) "within the limit"

            testCase "bad arguments give a usage message and a non-zero exit"
            <| fun () ->
                for args, expected in
                    [
                        [ "serve" ], "--echo"
                        [ "send"; "--to"; "nowhere" ], "ADDRESS:PORT"
                        [ "echo"; "--port"; "7"; "--loss"; "lots" ], "--loss"
                        [ "recv" ], "--port"
                        [ "bench"; "--duration"; "-1" ], "--duration"
                    ] do
                    let run = tcpstack "" args
                    Expect.notEqual run.Code 0 $"tcpstack {args} fails"
                    Expect.stringContains (run.Err + run.Out) expected $"tcpstack {args} says what is wrong"
        ]
