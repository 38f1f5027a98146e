/// The stack on a real TUN device with the Linux kernel as its peer. Each test makes its
/// own network namespace (through the stack's options) and removes it at the end, also
/// when it fails. These need root and /dev/net/tun: in CI they must run; elsewhere they
/// are skipped, saying why.
module Stack.Tests.KernelTests

open System
open System.IO
open System.Net
open System.Net.NetworkInformation
open System.Net.Sockets
open System.Security.Cryptography
open System.Threading
open System.Threading.Tasks
open Expecto
open Stack.Core
open Stack.Core.Host
open Stack.Shell
open Stack.Shell.Device
open Stack.Tests.ShellTests

let stackAddress = IPAddress.Parse "10.7.0.2"
let kernelAddress = IPAddress.Parse "10.7.0.1"

/// Why these tests cannot run here, if they cannot.
let missing () =
    if Environment.UserName <> "root" then
        Some "not root"
    elif not (File.Exists "/dev/net/tun") then
        Some "no /dev/net/tun"
    elif
        not (
            File.Exists "/usr/sbin/ip"
            || File.Exists "/sbin/ip"
            || File.Exists "/usr/bin/ip"
        )
    then
        Some "no `ip` (iproute2)"
    else
        None

let requireKernel () =
    match missing () with
    | None -> ()
    | Some why when Environment.GetEnvironmentVariable "CI" = "true" ->
        failtestf "kernel interop tests must run in CI, but: %s" why
    | Some why -> skiptestf "kernel interop tests need root, /dev/net/tun and iproute2: %s" why

let mutable private counter = 0

/// A namespace name no other run uses.
let freshNamespace () =
    $"tstk{Environment.ProcessId}n{Interlocked.Increment &counter}"

/// What a test changes about its stack.
type Setup =
    {
        Tcp: TcpProtocolOptions
        /// The same impairment in both directions.
        Impairment: Impair.Options option
        CapturePath: string option
        /// Segmentation and checksum offload on the TUN device.
        Offload: bool
        /// An impairment of what the stack sends only, in place of `Impairment`'s.
        Outbound: LinkImpairment option
        /// Sees every packet in and out on the stack thread.
        OnPacket: PacketObserver option
    }

let plain =
    {
        Tcp = TcpProtocolOptions()
        Impairment = None
        CapturePath = None
        Offload = true
        Outbound = None
        OnPacket = None
    }

/// Runs `f` with a stack on a TUN device in a new namespace; removes both afterwards.
let withStackSetup (setup: Setup) (f: string -> TcpStack -> unit) =
    requireKernel ()
    let ns = freshNamespace ()

    let impairment =
        setup.Impairment |> Option.map Stack.Cli.LinkOptions.toShell |> Option.toObj

    try
        let stack =
            TcpStack.Start(
                TcpStackOptions(
                    Address = stackAddress,
                    Namespace = ns,
                    KernelAddress = "10.7.0.1/24",
                    Tcp = setup.Tcp,
                    InboundImpairment = impairment,
                    OutboundImpairment = (setup.Outbound |> Option.defaultValue impairment),
                    CapturePath = Option.toObj setup.CapturePath,
                    Offload = setup.Offload,
                    OnPacket = Option.toObj setup.OnPacket
                )
            )

        try
            f ns stack
        finally
            stack.DisposeAsync().AsTask().Wait()
    finally
        // The stack removes the namespace it created; this catches a failed start.
        if NetworkNamespace.Exists ns then
            Diagnostics.Process.Start("ip", [ "netns"; "del"; ns ]).WaitForExit()

let withStackUsing (tcp: TcpProtocolOptions) f =
    withStackSetup { plain with Tcp = tcp } f

let withStack f = withStackSetup plain f

/// A kernel TCP socket in namespace `ns`.
let kernelSocket (ns: string) =
    NetworkNamespace.RunIn(ns, fun () -> new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))

/// A kernel listener in `ns` on the kernel's address.
let kernelListener (ns: string) (port: int) =
    let s = kernelSocket ns
    s.Bind(IPEndPoint(kernelAddress, port))
    s.Listen 4096
    s

/// Sends `count` bytes of stream `seed` through `write`, then calls `shutdown`; returns
/// the SHA-256 of what was sent.
let sendStream (write: ReadOnlyMemory<byte> -> Task) (shutdown: unit -> unit) (seed: int) (count: int64) =
    task {
        let! sent = Stack.Cli.Streams.send write seed count
        shutdown ()
        return sent
    }

/// Reads through `read` to the end of the stream; returns the byte count and the SHA-256.
let receiveStream read = Stack.Cli.Streams.receive read

/// A kernel socket sends stream `seed` and shuts down sending (SendAsync on a stream
/// socket completes once all of the buffer is sent).
let kernelSend (s: Socket) seed count =
    sendStream (fun b -> s.SendAsync(b).AsTask()) (fun () -> s.Shutdown SocketShutdown.Send) seed count

let kernelReceive (s: Socket) =
    receiveStream (fun b -> s.ReceiveAsync(b))

/// One of our connections sends stream `seed`, then shuts down writing.
let stackSend (c: TcpStackConnection) seed count =
    sendStream (fun b -> c.WriteAsync(b).AsTask()) c.ShutdownWrite seed count

let stackReceive (c: TcpStackConnection) = receiveStream (fun b -> c.ReadAsync(b))

/// Echoes every connection accepted on `listener` until the peer closes.
let echoServer (listener: TcpStackListener) (cancel: CancellationToken) =
    task {
        try
            while true do
                let! c = listener.AcceptAsync cancel

                Task.Run(fun () ->
                    task {
                        try
                            do! c.Stream.CopyToAsync(c.Stream, 65536, cancel)
                            c.ShutdownWrite()
                        with _ ->
                            c.Abort()
                    }
                    :> Task)
                |> ignore
        with _ ->
            ()
    }

let MiB = 1L <<< 20

let private connectKernel (ns: string) (port: int) =
    let s = kernelSocket ns
    s.Connect(IPEndPoint(stackAddress, port))
    s

/// A kernel echo server on the kernel's address: echoes each connection until its peer
/// shuts down, then shuts down too.
let kernelEchoServer (ns: string) (port: int) (cancel: CancellationToken) =
    let listener = kernelListener ns port

    let serving =
        task {
            try
                while true do
                    let! s = listener.AcceptAsync cancel

                    Task.Run(fun () ->
                        task {
                            use s = s
                            use stream = new NetworkStream(s)

                            try
                                do! stream.CopyToAsync(stream, 65536, cancel)
                                s.Shutdown SocketShutdown.Send
                            with _ ->
                                ()
                        }
                        :> Task)
                    |> ignore
            with _ ->
                ()
        }

    listener, serving

/// Waits until `value ()` stops changing (checked every 300 ms, at most 30 s).
let settle (value: unit -> int64) =
    let mutable last = -1L
    let mutable polls = 0

    while value () <> last && polls < 100 do
        last <- value ()
        polls <- polls + 1
        Thread.Sleep 300

    last

/// The lines tshark prints for the packets of `pcap` that match `filter` (with checksum
/// verification on), or only the given `-e` fields of them.
let tsharkLines (pcap: string) (filter: string) (fields: string list) =
    let psi =
        Diagnostics.ProcessStartInfo(
            "tshark",
            [
                "-n"
                "-r"
                pcap
                "-o"
                "ip.check_checksum:TRUE"
                "-o"
                "tcp.check_checksum:TRUE"
                "-Y"
                filter
            ]
            @ (if fields.IsEmpty then [] else "-T" :: "fields" :: fields)
        )

    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    use p = Diagnostics.Process.Start psi
    let out = p.StandardOutput.ReadToEnd()
    p.WaitForExit()
    Expect.equal p.ExitCode 0 $"tshark ran: {p.StandardError.ReadToEnd()}"
    out.Split('\n', StringSplitOptions.RemoveEmptyEntries)

/// A kernel socket connected to our listener on `port`, and our end of it.
let kernelConnects (ns: string) (stack: TcpStack) (port: int) =
    use listener = stack.Listen port
    let accepting = listener.AcceptAsync().AsTask()
    let s = connectKernel ns port
    s, accepting |> within 10.

[<Tests>]
let tests =
    testSequenced
    <| testList
        "kernel interop"
        [
            testCase "a kernel client sends 64 MiB each way at once through our echo server, intact"
            <| fun () ->
                withStack (fun ns stack ->
                    use listener = stack.Listen 7
                    use cancel = new CancellationTokenSource()
                    let _server = echoServer listener cancel.Token
                    use s = connectKernel ns 7
                    let receiving = kernelReceive s
                    let sent = kernelSend s 11 (64L * MiB) |> within 600.
                    let count, received = receiving |> within 600.
                    Expect.equal count (64L * MiB) "all bytes came back"
                    Expect.equal received sent "SHA-256 of what came back")

            testCase "without offloads, a kernel client sends 16 MiB each way at once through our echo server, intact"
            <| fun () ->
                withStackSetup { plain with Offload = false } (fun ns stack ->
                    use listener = stack.Listen 7
                    use cancel = new CancellationTokenSource()
                    let _server = echoServer listener cancel.Token
                    use s = connectKernel ns 7
                    let receiving = kernelReceive s
                    let sent = kernelSend s 14 (16L * MiB) |> within 600.
                    let count, received = receiving |> within 600.
                    Expect.equal (count, received) (16L * MiB, sent) "all bytes came back intact")

            testCase "our client downloads 64 MiB from a kernel server, intact"
            <| fun () ->
                withStack (fun ns stack ->
                    use server = kernelListener ns 5001

                    let serving =
                        task {
                            use! s = server.AcceptAsync()
                            return! kernelSend s 12 (64L * MiB)
                        }

                    let c = stack.ConnectAsync(IPEndPoint(kernelAddress, 5001)) |> within 10.
                    let count, received = stackReceive c |> within 600.
                    Expect.equal count (64L * MiB) "all bytes arrived"
                    Expect.equal received (serving |> within 10.) "SHA-256 of the download"
                    c.CloseAsync().Wait(TimeSpan.FromSeconds 10.) |> ignore)

            testCase "our client uploads 64 MiB to a kernel server, intact"
            <| fun () ->
                withStack (fun ns stack ->
                    use server = kernelListener ns 5001

                    let serving =
                        task {
                            use! s = server.AcceptAsync()
                            let! result = kernelReceive s
                            s.Shutdown SocketShutdown.Send
                            return result
                        }

                    let c = stack.ConnectAsync(IPEndPoint(kernelAddress, 5001)) |> within 10.
                    let sent = stackSend c 13 (64L * MiB) |> within 600.
                    let count, received = serving |> within 600.
                    Expect.equal count (64L * MiB) "all bytes arrived"
                    Expect.equal received sent "SHA-256 of the upload"
                    Expect.isTrue (c.Completion.Wait(TimeSpan.FromSeconds 10.)) "closed")

            testCase "the kernel pings us and gets replies"
            <| fun () ->
                withStack (fun ns stack ->
                    let replies =
                        NetworkNamespace.RunIn(
                            ns,
                            fun () ->
                                use ping = new Ping()

                                [
                                    for i in 1..3 -> ping.Send(stackAddress, 2000, Array.create 56 (byte i)).Status
                                ]
                        )

                    Expect.equal replies [ IPStatus.Success; IPStatus.Success; IPStatus.Success ] "three replies"
                    Expect.isGreaterThanOrEqual (settle (fun () -> stack.Counters.EchoReplies)) 3L "counted")

            testCase "a 4000-byte ping from the kernel arrives in fragments, and our fragmented reply reassembles"
            <| fun () ->
                withStack (fun ns stack ->
                    let payload = Array.init 4000 byte

                    let reply =
                        NetworkNamespace.RunIn(
                            ns,
                            fun () ->
                                use ping = new Ping()
                                ping.Send(stackAddress, 5000, payload)
                        )

                    Expect.equal reply.Status IPStatus.Success "answered"
                    Expect.equal reply.Buffer payload "the 4000 bytes came back"
                    // The counters are published after the write that carried the reply.
                    Expect.isGreaterThanOrEqual (settle (fun () -> stack.Counters.Reassembled)) 1L "we put it together"
                    Expect.isGreaterThanOrEqual stack.Counters.Fragments 3L "from its fragments")

            testCase "a kernel connect to a closed port is refused by our reset"
            <| fun () ->
                withStack (fun ns stack ->
                    use s = kernelSocket ns

                    let error =
                        try
                            s.Connect(IPEndPoint(stackAddress, 9))
                            None
                        with :? SocketException as e ->
                            Some e.SocketErrorCode

                    Expect.equal error (Some SocketError.ConnectionRefused) "refused"
                    // The counters are published after the write that carried the reset.
                    Expect.isGreaterThanOrEqual (settle (fun () -> stack.Counters.ResetsSent)) 1L "our reset")

            testCase "our connect to a closed kernel port fails with ConnectionRefused"
            <| fun () ->
                withStack (fun _ stack ->
                    let error =
                        socketError (fun () -> stack.ConnectAsync(IPEndPoint(kernelAddress, 9)) :> Task)

                    Expect.equal error (Some SocketError.ConnectionRefused) "refused")

            testCase "our connect to an address nobody answers times out with TimedOut"
            <| fun () ->
                withStackUsing (TcpProtocolOptions(MaxSynRetries = 2)) (fun _ stack ->
                    let error =
                        socketError (fun () -> stack.ConnectAsync(IPEndPoint(IPAddress.Parse "10.7.0.99", 80)) :> Task)

                    Expect.equal error (Some SocketError.TimedOut) "timed out")

            testCase "our abort makes the kernel see ECONNRESET"
            <| fun () ->
                withStack (fun ns stack ->
                    let s, c = kernelConnects ns stack 7
                    use s = s
                    c.Abort()

                    let error =
                        try
                            let buffer = Array.zeroCreate<byte> 10
                            s.ReceiveTimeout <- 10_000
                            s.Receive buffer |> ignore
                            None
                        with :? SocketException as e ->
                            Some e.SocketErrorCode

                    Expect.equal error (Some SocketError.ConnectionReset) "ECONNRESET")

            testCase "half-close works in both directions"
            <| fun () ->
                withStack (fun ns stack ->
                    let s, c = kernelConnects ns stack 7
                    use s = s
                    // The kernel shuts down its side; we read to the end and then answer.
                    let receiving = stackReceive c
                    let up = kernelSend s 21 100_000L |> within 10.
                    let _, upReceived = receiving |> within 10.
                    Expect.equal upReceived up "we read the kernel's bytes up to its FIN"
                    // The kernel reads while we send: a writer may run only so far ahead
                    // of what is sent (TcpStackOptions.UnsentLimit).
                    let receiving = kernelReceive s
                    let down = stackSend c 22 200_000L |> within 10.
                    let _, downReceived = receiving |> within 10.
                    Expect.equal downReceived down "the kernel read ours after its own shutdown"
                    Expect.isTrue (c.Completion.Wait(TimeSpan.FromSeconds 10.)) "closed")

            testCase "1,000 sequential short connections from the kernel to our echo server, all intact"
            <| fun () ->
                withStack (fun ns stack ->
                    use listener = stack.Listen(7, 64)
                    use cancel = new CancellationTokenSource()
                    let _server = echoServer listener cancel.Token

                    let sockets =
                        NetworkNamespace.RunIn(
                            ns,
                            fun () -> Array.init 1000 (fun _ -> new Socket(SocketType.Stream, ProtocolType.Tcp))
                        )

                    for i in 0..999 do
                        use s = sockets[i]
                        s.Connect(IPEndPoint(stackAddress, 7))
                        let sent = kernelSend s i (int64 (100 + i)) |> within 10.
                        let count, received = kernelReceive s |> within 10.
                        Expect.equal (count, received) (int64 (100 + i), sent) $"connection {i} echoed intact")

            testCase "500 concurrent connections from our client to a kernel echo server, all intact"
            <| fun () ->
                withStack (fun ns stack ->
                    use cancel = new CancellationTokenSource()
                    let listener, _serving = kernelEchoServer ns 7 cancel.Token
                    use _listener = listener

                    let one (i: int) =
                        task {
                            let! c = stack.ConnectAsync(IPEndPoint(kernelAddress, 7))
                            let receiving = stackReceive c
                            let! sent = stackSend c i (int64 (10_000 + i))
                            let! count, received = receiving
                            do! c.Completion
                            return count = int64 (10_000 + i) && received = sent
                        }

                    let results = Task.WhenAll(Array.init 500 one) |> within 300.
                    Expect.equal (results |> Array.filter id |> Array.length) 500 "every connection echoed intact")

            testCase "with 5% loss, 2% duplication and 5% reordering both ways, 16 MiB each way arrive intact"
            <| fun () ->
                let impairment =
                    { Impair.none with
                        Loss = 0.05
                        Duplicate = 0.02
                        Reorder = 0.05
                        ReorderDelayMicros = 3_000L
                    }

                withStackSetup
                    { plain with
                        Impairment = Some impairment
                    }
                    (fun ns stack ->
                        use listener = stack.Listen 7
                        use cancel = new CancellationTokenSource()
                        let _server = echoServer listener cancel.Token
                        use s = connectKernel ns 7
                        let receiving = kernelReceive s
                        let sent = kernelSend s 31 (16L * MiB) |> within 900.
                        let count, received = receiving |> within 900.
                        Expect.equal count (16L * MiB) "all bytes came back"
                        Expect.equal received sent "SHA-256 of what came back"
                        let stats = stack.GetStatistics()
                        Expect.isGreaterThan stats.Drops["impaired-in"] 0L "the link dropped packets"
                        Expect.isGreaterThan stats.Retransmissions 0L "we retransmitted")

            testCase "a reader that stops: the kernel stalls against our zero window, then finishes intact"
            <| fun () ->
                withStack (fun ns stack ->
                    let s, c = kernelConnects ns stack 7
                    use s = s
                    let sending = kernelSend s 41 (32L * MiB)
                    let unread = settle (fun () -> c.Unread)
                    Expect.isFalse sending.IsCompleted "the kernel's sender is stalled"
                    Expect.isGreaterThan unread 0L "bytes arrived before the stall"
                    Expect.isLessThanOrEqual unread (256L * 1024L) "unread bytes stay within the receive buffer"
                    let count, received = stackReceive c |> within 300.
                    Expect.equal count (32L * MiB) "all bytes arrived"
                    Expect.equal received (sending |> within 10.) "intact after resuming")

            testCase "the pcap of an interop run opens in tshark with no malformed frame and no checksum error"
            <| fun () ->
                let path =
                    Path.Combine(Path.GetTempPath(), $"tcpstack-test-{Environment.ProcessId}.pcap")

                try
                    withStackSetup { plain with CapturePath = Some path } (fun ns stack ->
                        let s, c = kernelConnects ns stack 7
                        use s = s
                        // Each side reads while the other sends, as neither buffer holds it all.
                        let receiving = stackReceive c
                        let up = kernelSend s 51 (1L * MiB) |> within 60.
                        let _, received = receiving |> within 60.
                        Expect.equal received up "transfer intact"
                        let kernelReceiving = kernelReceive s
                        stackSend c 52 100_000L |> within 60. |> ignore
                        kernelReceiving |> within 60. |> ignore
                        c.Completion.Wait(TimeSpan.FromSeconds 10.) |> ignore)

                    let tshark filter fields = tsharkLines path filter fields

                    let payload = tshark "tcp" [ "-e"; "tcp.len" ] |> Array.sumBy int64
                    // With offloads a packet may carry a run of segments: count bytes, not packets.
                    Expect.isGreaterThanOrEqual payload (1L * MiB + 100_000L) "tshark read the transfer's bytes"
                    let tcp = (tshark "tcp" []).Length
                    Expect.equal (tshark "tcp.checksum.status == 1" []).Length tcp "tshark verified every TCP checksum"

                    Expect.isEmpty
                        (tshark "_ws.malformed || ip.checksum.status == 0 || tcp.checksum.status == 0" [])
                        "no malformed frame, no bad checksum"
                finally
                    File.Delete path

            testCase "10,000 idle connections at once"
            <| fun () ->
                withStack (fun ns stack ->
                    // The kernel completes handshakes into its accept queues (4096 each)
                    // without accepting, so the test holds no kernel-side objects.
                    let listeners = [| for p in 6000..6002 -> kernelListener ns p |]
                    let before = GC.GetTotalMemory true
                    let connections = Collections.Generic.List<TcpStackConnection>()

                    for batch in 0..49 do
                        let opened =
                            Task.WhenAll(
                                Array.init 200 (fun i ->
                                    stack.ConnectAsync(IPEndPoint(kernelAddress, 6000 + (batch * 200 + i) % 3)))
                            )
                            |> within 60.

                        connections.AddRange opened

                    let after = GC.GetTotalMemory true
                    let perConnection = (after - before) / 10_000L
                    printfn "bytes per idle connection: %d" perConnection
                    let established = stack.GetStatistics().ConnectionsByState

                    Expect.equal
                        (established.TryGetValue NetworkInformation.TcpState.Established |> snd)
                        10_000
                        "all established"

                    Expect.isLessThan perConnection 16_384L "an idle connection costs under 16 KiB"

                    for c in connections do
                        c.Abort()

                    for l in listeners do
                        l.Dispose())

            testCase "a kernel client that reuses its port while we hold TIME-WAIT gets a fresh connection"
            <| fun () ->
                withStack (fun ns stack ->
                    use listener = stack.Listen 7
                    use cancel = new CancellationTokenSource()

                    // We close first, so our end of each connection waits in TIME-WAIT.
                    let serving =
                        task {
                            for seed in [ 61; 62 ] do
                                let! c = listener.AcceptAsync cancel.Token
                                let! _ = stackSend c seed 10_000L
                                let! _ = stackReceive c
                                ()
                        }

                    for seed in [ 61; 62 ] do
                        use s = kernelSocket ns
                        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true)
                        s.Bind(IPEndPoint(kernelAddress, 40000))
                        s.Connect(IPEndPoint(stackAddress, 7))
                        let count, received = kernelReceive s |> within 10.
                        s.Shutdown SocketShutdown.Send

                        let expected =
                            sendStream (fun _ -> Task.CompletedTask) ignore seed 10_000L |> within 10.

                        Expect.equal (count, received) (10_000L, expected) $"connection {seed - 60} intact"

                    Expect.isTrue (serving.Wait(TimeSpan.FromSeconds 10.)) "both served")

            testCase "the bridge that joins two kernels carries 4 MiB through 5% loss intact and removes its namespaces"
            <| fun () ->
                requireKernel ()
                let a = freshNamespace ()
                let b = freshNamespace ()
                let link = { Impair.none with Loss = 0.05 }

                do
                    use bridge =
                        new Stack.Cli.KernelBridge.Bridge(a, b, "10.9.3.1/24", "10.9.3.2/24", link, 7UL)

                    use listener = kernelSocket b
                    listener.Bind(IPEndPoint(IPAddress.Parse "10.9.3.2", 7))
                    listener.Listen 1
                    let accepted = listener.AcceptAsync()
                    use client = kernelSocket a
                    client.Connect(IPEndPoint(IPAddress.Parse "10.9.3.2", 7))
                    use server = accepted |> within 30.
                    let receiving = kernelReceive server
                    let sent = kernelSend client 17 (4L * MiB) |> within 300.
                    let count, received = receiving |> within 300.
                    Expect.equal count (4L * MiB) "every byte arrived"
                    Expect.equal received sent "SHA-256 of what arrived"
                    Expect.isGreaterThan bridge.Dropped 0L "the impairment dropped packets"

                Expect.isFalse (NetworkNamespace.Exists a) "the sender's namespace is gone"
                Expect.isFalse (NetworkNamespace.Exists b) "the receiver's namespace is gone"

            testCase "setup errors say what is wrong, and leave no namespace behind"
            <| fun () ->
                requireKernel ()
                let ns = freshNamespace ()

                let setupError (options: TcpStackOptions) =
                    try
                        TcpStack.Start(options).DisposeAsync().AsTask().Wait()
                        None
                    with :? StackSetupException as e ->
                        Some e.Message

                try
                    let badAddress =
                        setupError (TcpStackOptions(Namespace = ns, KernelAddress = "10.7.0.300/24"))

                    Expect.stringContains (defaultArg badAddress "") "10.7.0.300/24" "names the bad address"
                    Expect.isFalse (NetworkNamespace.Exists ns) "the namespace it made is gone"

                    let longName =
                        setupError (TcpStackOptions(Namespace = ns, TunName = "a-name-too-long-for-linux"))

                    Expect.stringContains (defaultArg longName "") "at most 15 characters" "says how long a name may be"

                    let first = TcpStack.Start(TcpStackOptions(Namespace = ns, TunName = "tcpstk0"))

                    try
                        let taken =
                            setupError (TcpStackOptions(Namespace = ns, TunName = "tcpstk0", KernelAddress = null))

                        Expect.stringContains (defaultArg taken "") "taken" "says the name is taken"
                    finally
                        first.DisposeAsync().AsTask().Wait()

                    Expect.isFalse (NetworkNamespace.Exists ns) "removed by the stack that made it"
                finally
                    if NetworkNamespace.Exists ns then
                        Diagnostics.Process.Start("ip", [ "netns"; "del"; ns ]).WaitForExit()
        ]
