/// `tcpstack demo`: the main job. It makes a network namespace with a TUN device, starts
/// the stack on it, and has the Linux kernel on the other side ping it, connect to it,
/// and move data through it both ways; then it prints what happened and cleans up.
module Stack.Cli.DemoCommand

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.IO
open System.Net
open System.Net.NetworkInformation
open System.Net.Sockets
open System.Threading.Tasks
open Argu
open Stack.Core.Wire
open Stack.Shell
open Stack.Shell.Device

type DemoArgs =
    | Bytes of count: int64

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Bytes _ -> "bytes moved each way in the transfers (default 33554432)."

let private step (n: int) (text: string) = Console.Out.WriteLine $"\n{n}. {text}"
let private say (text: string) = Console.Out.WriteLine $"   {text}"

let private mbits (bytes: int64) (elapsed: TimeSpan) =
    float bytes * 8.0 / elapsed.TotalSeconds / 1e6

let private sendStream write count = Streams.send write 7 count
let private receiveStream read = Streams.receive read

/// Whether a packet is TCP to or from `port`.
let private touchesPort (port: int) (packet: ReadOnlySpan<byte>) =
    if packet.Length < 24 || packet[9] <> 6uy then
        false
    else
        let ihl = int (packet[0] &&& 0xFuy) * 4

        packet.Length >= ihl + 4
        && (int packet[ihl] * 256 + int packet[ihl + 1] = port
            || int packet[ihl + 2] * 256 + int packet[ihl + 3] = port)

let run (args: ParseResults<DemoArgs>) =
    let bytes =
        args.GetResult(Bytes, 32L <<< 20)
        |> Validate.inRange "--bytes" 0L Int64.MaxValue

    Validate.root "demo makes a network namespace and a TUN device"

    let ns = Namespaces.uniqueName "tcpstack-demo-" ""
    Namespaces.removeOnInterrupt [ ns ]
    let capture = Path.Combine(Path.GetTempPath(), $"{ns}.pcap")
    let trace = Path.Combine(Path.GetTempPath(), $"{ns}.json")
    let handshake = ConcurrentQueue<byte array>()

    Console.Out.WriteLine "tcpstack demo: a user-space TCP/IP stack on a TUN device, with the Linux kernel as its peer."

    step
        1
        $"Setting up network namespace {ns} with a TUN device: the kernel is 10.7.0.1/24 and fd00:7::1/64, the stack 10.7.0.2 and fd00:7::2."

    let stack =
        TcpStack.Start(
            TcpStackOptions(
                Address = IPAddress.Parse "10.7.0.2",
                Address6 = IPAddress.Parse "fd00:7::2",
                Namespace = ns,
                KernelAddress = "10.7.0.1/24",
                KernelAddress6 = "fd00:7::1/64",
                CapturePath = capture,
                TracePath = trace,
                OnPacket =
                    PacketObserver(fun _ packet ->
                        if handshake.Count < 3 && touchesPort 7 packet then
                            handshake.Enqueue(packet.ToArray()))
            )
        )

    let stackAddress = IPEndPoint(stack.Address, 7)

    let kernelSocket () =
        NetworkNamespace.RunIn(ns, fun () -> new Socket(SocketType.Stream, ProtocolType.Tcp))

    let kernelSocket6 () =
        NetworkNamespace.RunIn(
            ns,
            fun () -> new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp)
        )

    try
        say $"device {(stack.Device :?> TunDevice).Name}; every packet is captured to {capture}"
        step 2 "The stack serves echo (RFC 862) on port 7 of both its addresses."
        use listener = stack.Listen 7

        let serving =
            task {
                let! c = listener.AcceptAsync()
                do! c.Stream.CopyToAsync c.Stream
                c.ShutdownWrite()
                do! c.Completion
            }

        step 3 "The kernel pings the stack, over IPv4 and over IPv6."

        let replies =
            NetworkNamespace.RunIn(
                ns,
                fun () ->
                    use ping = new Ping()

                    [
                        for address in [ stack.Address; stack.Address6 ] do
                            for i in 1..2 -> ping.Send(address, 2000, Array.create 56 (byte i))
                    ]
            )

        for r in replies do
            say $"{r.Status} from {r.Address}: {r.Buffer.Length} bytes, {r.RoundtripTime} ms"

        step 4 "The kernel connects to the echo service. The handshake, as the stack saw it:"
        use s = kernelSocket ()
        s.Connect stackAddress
        let clock = Stopwatch.StartNew()

        while handshake.Count < 3 && clock.Elapsed < TimeSpan.FromSeconds 5. do
            Threading.Thread.Sleep 10

        for p in handshake do
            Console.Out.WriteLine()

            for line in (Pretty.packet (ReadOnlySpan p)).TrimEnd().Split('\n') do
                say line

        step 5 $"The kernel sends {bytes} bytes through the echo service and reads them back."
        let clock = Stopwatch.StartNew()
        let receiving = receiveStream (fun b -> s.ReceiveAsync b)

        let sent =
            (task {
                let! h = sendStream (fun b -> s.SendAsync(b).AsTask()) bytes
                s.Shutdown SocketShutdown.Send
                return h
            })
                .Result

        let count, received = receiving.Result
        let elapsed = clock.Elapsed
        serving.Wait(TimeSpan.FromSeconds 10.) |> ignore

        say (
            if count = bytes && received = sent then
                $"intact: {count} bytes back, SHA-256 {received.ToLowerInvariant()} both ways"
            else
                $"MISMATCH: sent {bytes} bytes (SHA-256 {sent}), got {count} (SHA-256 {received})"
        )

        say $"{elapsed.TotalSeconds:F2} s: {mbits bytes elapsed:F0} Mbit/s each way at once"

        step 6 "Over IPv6: the kernel connects to [fd00:7::2]:7 and sends a line through the echo service."

        let serving6 =
            task {
                let! c = listener.AcceptAsync()
                do! c.Stream.CopyToAsync c.Stream
                c.ShutdownWrite()
            }

        let line6 =
            use s6 = kernelSocket6 ()
            s6.Connect(IPEndPoint(stack.Address6, 7))

            say
                $"connected from [{(s6.LocalEndPoint :?> IPEndPoint).Address}] to [{(s6.RemoteEndPoint :?> IPEndPoint).Address}]:7"

            let text = "hello over IPv6"B
            s6.Send text |> ignore
            s6.Shutdown SocketShutdown.Send
            let back = Array.zeroCreate<byte> 64
            let mutable n = 0
            let mutable go = true

            while go do
                let k = s6.Receive(back, n, back.Length - n, SocketFlags.None)
                n <- n + k
                go <- k > 0 && n < back.Length

            Text.Encoding.ASCII.GetString(back, 0, n)

        serving6.Wait(TimeSpan.FromSeconds 10.) |> ignore

        say (
            if line6 = "hello over IPv6" then
                $"echoed over IPv6, intact: \"{line6}\""
            else
                $"MISMATCH over IPv6: got \"{line6}\""
        )

        step 7 $"The stack fetches {bytes} bytes from a kernel server on 10.7.0.1:8080."
        use server = kernelSocket ()
        server.Bind(IPEndPoint(IPAddress.Parse "10.7.0.1", 8080))
        server.Listen 1

        let offering =
            task {
                use! peer = server.AcceptAsync()
                let! h = sendStream (fun b -> peer.SendAsync(b).AsTask()) bytes
                peer.Shutdown SocketShutdown.Send
                return h
            }

        let clock = Stopwatch.StartNew()
        let c = stack.ConnectAsync("10.7.0.1", 8080).Result
        let count, fetched = (receiveStream (fun b -> c.ReadAsync b)).Result
        let elapsed = clock.Elapsed
        let offered = offering.Result
        c.CloseAsync().Wait(TimeSpan.FromSeconds 10.) |> ignore

        say (
            if count = bytes && fetched = offered then
                $"intact: {count} bytes, SHA-256 {fetched.ToLowerInvariant()}"
            else
                $"MISMATCH: offered SHA-256 {offered}, fetched {count} bytes with SHA-256 {fetched}"
        )

        say $"{elapsed.TotalSeconds:F2} s: {mbits bytes elapsed:F0} Mbit/s"

        step 8 "What the stack counted:"
        let st = stack.GetStatistics()
        say $"packets in {st.PacketsIn}, out {st.PacketsOut}; bytes in {st.BytesIn}, out {st.BytesOut}"
        say $"retransmissions {st.Retransmissions}"

        for d in st.Drops do
            if d.Value > 0L then
                say $"dropped ({d.Key}): {d.Value}"

        let ok =
            replies |> List.forall (fun r -> r.Status = IPStatus.Success)
            && count = bytes
            && fetched = offered
            && line6 = "hello over IPv6"

        stack.DisposeAsync().AsTask().Wait()
        step 9 $"Cleaned up: namespace {ns} and its device are gone."
        say $"The capture stays: {capture} (tshark -r {capture}, or open it in Wireshark)."
        let graphs = new StringWriter()

        match PlotCommand.plotCapture capture (Path.ChangeExtension(capture, null)) 1200 800 graphs with
        | Ok n ->
            say $"Time-sequence graphs of its {n} directions with data (tcpstack plot):"

            for line in graphs.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries) do
                say $"  {line.Trim()}"
        | Error e -> say $"No time-sequence graph: {e}"

        say $"The trace stays: {trace} (open it in ui.perfetto.dev); its graphs of cwnd, flight and RTT:"
        let windows = new StringWriter()

        match PlotCommand.plotTrace trace (Path.ChangeExtension(trace, null) + "-trace") 1200 800 windows with
        | Ok _ ->
            for line in windows.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries) do
                say $"  {line.Trim()}"
        | Error e -> say $"  none: {e}"

        if ok then 0 else 1
    finally
        stack.DisposeAsync().AsTask().Wait()
