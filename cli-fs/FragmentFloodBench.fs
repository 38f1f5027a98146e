/// `tcpstack bench --fragment-flood SECONDS`: the stack under a flood of IPv4 and IPv6
/// fragments that never make a datagram (random, overlapping, tiny), written into its TUN
/// device by bench/flood/fragflood.py inside this run's own namespace. Meanwhile a kernel
/// client sends one long stream to the stack, which hashes it. The bench reports what
/// reassembly held against its limit, the resident set, and whether the stream arrived
/// intact; it fails when either does not hold.
module Stack.Cli.FragmentFloodBench

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Threading
open Stack.Cli.Namespaces
open Stack.Shell

let private resident () =
    use p = Process.GetCurrentProcess()
    p.WorkingSet64

let run (seconds: float) (out: TextWriter) =
    Validate.root "bench --fragment-flood makes a network namespace and a TUN device and writes spoofed packets into it"
    FloodBench.requirePython "bench --fragment-flood"
    let ns = uniqueName "tsff" "t"
    removeOnInterrupt [ ns ]

    let progress (text: string) =
        eprintfn "bench --fragment-flood: %s" text

    let address = IPAddress.Parse "10.13.0.2"
    let address6 = IPAddress.Parse "fd00:13::2"
    let limit = 4 <<< 20

    let stack =
        TcpStack
            .StartAsync(
                TcpStackOptions(
                    Address = address,
                    Address6 = address6,
                    Namespace = ns,
                    TunName = "tsff0",
                    KernelAddress = "10.13.0.1/24",
                    KernelAddress6 = "fd00:13::1/64",
                    FragmentMemory = limit
                )
            )
            .Result

    let script = FloodBench.writeScript "fragflood.py"

    try
        // The namespace holds only the TUN device, and forwarding stays off: nothing the
        // stack might send to a spoofed source goes anywhere.
        ip [ "netns"; "exec"; ns; "sysctl"; "-qw"; "net.ipv4.ip_forward=0" ]
        ip [ "netns"; "exec"; ns; "sysctl"; "-qw"; "net.ipv6.conf.all.forwarding=0" ]
        use listener = stack.Listen(5001, 4)
        let accepting = listener.AcceptAsync()
        use client = socketIn ns
        client.Connect(IPEndPoint(address, 5001))
        use server = accepting.AsTask().Result
        let receiving = Streams.receive (fun b -> server.ReadAsync b)
        use stopSending = new CancellationTokenSource()

        let sending =
            Streams.sendUntil (fun b -> client.SendAsync(b).AsTask()) 31 stopSending.Token

        let residentBefore = resident ()
        let before = stack.GetStatistics()

        progress
            $"writing fragments for {address} and {address6} into the TUN device for {seconds} s while the kernel streams to {address}:5001"

        let psi =
            ProcessStartInfo(
                "ip",
                [
                    "netns"
                    "exec"
                    ns
                    "python3"
                    script
                    "tsff0"
                    string address
                    string address6
                    string seconds
                ]
            )

        psi.RedirectStandardOutput <- true
        psi.UseShellExecute <- false
        use flood = Process.Start psi
        let floodOutput = flood.StandardOutput.ReadToEndAsync()
        let clock = Stopwatch.StartNew()
        let mutable peakHeld = 0L
        let mutable peakResident = residentBefore
        let mutable nextReport = 10.

        while not flood.HasExited && clock.Elapsed.TotalSeconds < seconds + 30. do
            peakHeld <- max peakHeld (stack.GetStatistics().FragmentBytesHeld)
            peakResident <- max peakResident (resident ())

            if clock.Elapsed.TotalSeconds >= nextReport then
                progress $"{nextReport:F0} s: reassembly holds at most {peakHeld >>> 10} KiB so far"
                nextReport <- nextReport + 10.

            Thread.Sleep 100

        if not flood.HasExited then
            flood.Kill true

        let elapsed = clock.Elapsed.TotalSeconds
        stopSending.Cancel()
        let sentBytes, sentHash = sending.Result
        client.Shutdown Net.Sockets.SocketShutdown.Send
        let receivedBytes, receivedHash = receiving.Result

        let written =
            int64 (floodOutput.Result.Trim() |> fun t -> if t = "" then "0" else t)

        let after = stack.GetStatistics()
        let intact = sentBytes = receivedBytes && sentHash = receivedHash

        out.WriteLine(
            $"flood: {written} fragments written in {elapsed:F1} s ({float written / elapsed:F0} per s); the stack read {after.PacketsIn - before.PacketsIn} packets (the TUN device drops what it cannot take in time)"
        )

        let dropped = after.Drops["fragment"] - before.Drops["fragment"]

        out.WriteLine(
            $"reassembly: {dropped} fragments dropped, {after.Reassembled - before.Reassembled} datagrams completed; held at most {peakHeld} bytes of a {limit}-byte limit ({after.FragmentBytesHeld} now)"
        )

        out.WriteLine(
            $"""stream during the flood: {receivedBytes} bytes ({float receivedBytes * 8. / elapsed / 1e6:F0} Mbit/s), {(if intact then
                                                                                                                             "intact"
                                                                                                                         else
                                                                                                                             $"NOT intact: {sentBytes} bytes sent")}"""
        )

        out.WriteLine(
            $"RSS: {residentBefore >>> 20} MiB before, {peakResident >>> 20} MiB at most during, {resident () >>> 20} MiB after"
        )

        if intact && peakHeld <= int64 limit then 0 else 1
    finally
        File.Delete script
        stack.DisposeAsync().AsTask().Wait()
