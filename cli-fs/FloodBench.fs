/// `tcpstack bench --flood SECONDS`: the stack under a SYN flood from spoofed sources.
/// bench/flood/synflood.py (built into tcpstack) sends SYNs to the stack's echo port as
/// fast as one core allows, from a /16 of addresses that do not exist, inside this run's
/// own namespace (no route out, forwarding off: the SYN-ACKs to them die there). Meanwhile
/// a real kernel client connects, echoes a byte and closes five times a second; the bench
/// reports how long its connects took, what failed, and the resident set.
module Stack.Cli.FloodBench

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open System.Threading
open System.Threading.Tasks
open Stack.Cli.Namespaces
open Stack.Shell

let private resident () =
    use p = Process.GetCurrentProcess()
    p.WorkingSet64

/// A flood script (`name`, such as synflood.py), written out from tcpstack's resources.
let writeScript (name: string) =
    let path =
        Path.Combine(Path.GetTempPath(), $"tcpstack-{Environment.ProcessId}-{name}")

    use resource =
        Reflection.Assembly.GetExecutingAssembly().GetManifestResourceStream name

    use file = File.Create path
    resource.CopyTo file
    path

let requirePython (command: string) =
    let found =
        (Environment.GetEnvironmentVariable "PATH").Split(':')
        |> Array.exists (fun dir -> File.Exists(Path.Combine(dir, "python3")))

    if not found then
        failwith $"{command} runs its flood with python3, which is not installed; apt-get install -y python3"

/// One real client: connect, echo one byte, close. Its connect time in ms, or the error.
let private probe (ns: string) (server: IPEndPoint) =
    task {
        use s = socketIn ns
        use timeout = new CancellationTokenSource(TimeSpan.FromSeconds 5.)
        let clock = Stopwatch.StartNew()

        try
            do! s.ConnectAsync(server, timeout.Token)
            let connected = clock.Elapsed.TotalMilliseconds
            let! _ = s.SendAsync(ReadOnlyMemory [| 42uy |], SocketFlags.None, timeout.Token)
            let answer = Array.zeroCreate<byte> 1
            let! n = s.ReceiveAsync(Memory answer, SocketFlags.None, timeout.Token)

            return
                if n = 1 && answer[0] = 42uy then Ok connected
                elif n = 0 then Error "the connection ended before the echo"
                else Error $"echoed {answer[0]}, not 42"
        with e ->
            return
                Error(
                    if timeout.IsCancellationRequested then
                        "timed out after 5 s"
                    else
                        e.Message
                )
    }

let run (seconds: float) (out: TextWriter) =
    Validate.root "bench --flood makes a network namespace and a TUN device and sends spoofed packets in it"
    requirePython "bench --flood"
    let ns = uniqueName "tsf" "t"
    removeOnInterrupt [ ns ]
    let progress (text: string) = eprintfn "bench --flood: %s" text
    let address = IPAddress.Parse "10.12.0.2"

    let stack =
        TcpStack.StartAsync(TcpStackOptions(Address = address, Namespace = ns, KernelAddress = "10.12.0.1/24")).Result

    let script = writeScript "synflood.py"

    try
        // The namespace holds only the TUN device; forwarding stays off, so nothing the
        // stack sends to a spoofed source goes anywhere.
        ip [ "netns"; "exec"; ns; "sysctl"; "-qw"; "net.ipv4.ip_forward=0" ]
        use listener = stack.Listen(7, 128)
        use stop = new CancellationTokenSource()

        let serving =
            task {
                try
                    while true do
                        let! c = listener.AcceptAsync stop.Token
                        EchoLoop.serve 512 c |> ignore
                with _ ->
                    ()
            }

        let server = IPEndPoint(address, 7)
        let residentBefore = resident ()
        let packetsBefore = stack.GetStatistics().PacketsIn

        progress
            $"flooding {address}:7 for {seconds} s from spoofed sources while a real client connects five times a second"

        let psi =
            ProcessStartInfo("ip", [ "netns"; "exec"; ns; "python3"; script; string address; "7"; string seconds ])

        psi.RedirectStandardOutput <- true
        psi.UseShellExecute <- false
        use flood = Process.Start psi
        let floodOutput = flood.StandardOutput.ReadToEndAsync()
        let clock = Stopwatch.StartNew()
        let times = ResizeArray<float>()
        let failures = ResizeArray<string>()
        let mutable peak = residentBefore

        while not flood.HasExited && clock.Elapsed.TotalSeconds < seconds + 30. do
            match (probe ns server).Result with
            | Ok ms -> times.Add ms
            | Error e -> failures.Add e

            peak <- max peak (resident ())
            Thread.Sleep 200

        if not flood.HasExited then
            flood.Kill true

        let sent = int64 (floodOutput.Result.Trim() |> fun t -> if t = "" then "0" else t)
        let elapsed = clock.Elapsed.TotalSeconds
        let counters = stack.GetStatistics()
        let synsDropped = counters.Drops["syn-backlog-full"]
        let after = (probe ns server).Result
        stop.Cancel()
        serving.Wait(TimeSpan.FromSeconds 5.) |> ignore
        let sorted = times |> Seq.sort |> Array.ofSeq

        let percentile (p: float) =
            if sorted.Length = 0 then
                nan
            else
                sorted[min (sorted.Length - 1) (int (p * float sorted.Length))]

        out.WriteLine(
            $"flood: {sent} spoofed SYNs in {elapsed:F1} s ({float sent / elapsed:F0} per s sent; the stack read {counters.PacketsIn - packetsBefore} packets: the TUN device drops what the stack cannot read in time, a real client's SYN as often as the flood's)"
        )

        out.WriteLine(
            $"stack: {counters.SynCookiesSent} SYN cookies sent, {counters.SynCookiesAccepted} accepted, {synsDropped} SYNs dropped"
        )

        out.WriteLine(
            $"real client during the flood: {times.Count} connects succeeded, {failures.Count} failed; connect time p50 {percentile 0.5:F2} ms, p99 {percentile 0.99:F2} ms, max {(if sorted.Length = 0 then nan else Array.last sorted):F2} ms"
        )

        for reason, count in failures |> Seq.countBy id do
            out.WriteLine($"  failed: {reason} ({count}x)")

        out.WriteLine(
            $"""after the flood: {(match after with
                                   | Ok ms -> $"a connect took {ms:F2} ms"
                                   | Error e -> $"a connect failed: {e}")}"""
        )

        out.WriteLine(
            $"RSS: {residentBefore >>> 20} MiB before, {peak >>> 20} MiB at most during, {resident () >>> 20} MiB after"
        )

        if failures.Count = 0 && after.IsOk then 0 else 1
    finally
        File.Delete script
        stack.DisposeAsync().AsTask().Wait()
