/// The stack over IPv6 on a real TUN device, with the Linux kernel as its peer: the
/// default stack speaks both families, the kernel side holding fd00:7::1 and the stack
/// fd00:7::2. As the IPv4 kernel tests, these run in CI and skip elsewhere without root.
module Stack.Tests.KernelIpv6Tests

open System
open System.Net
open System.Net.NetworkInformation
open System.Net.Sockets
open System.Threading
open System.Threading.Tasks
open Expecto
open Stack.Shell
open Stack.Shell.Device
open Stack.Tests.ShellTests
open Stack.Tests.KernelTests

let stackAddress6 = IPAddress.Parse "fd00:7::2"
let kernelAddress6 = IPAddress.Parse "fd00:7::1"

/// A kernel TCP/IPv6 socket in namespace `ns`.
let kernelSocket6 (ns: string) =
    NetworkNamespace.RunIn(ns, fun () -> new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp))

let private kernelListener6 (ns: string) (port: int) =
    let s = kernelSocket6 ns
    s.Bind(IPEndPoint(kernelAddress6, port))
    s.Listen 64
    s

[<Tests>]
let tests =
    testSequenced
    <| testList
        "kernel interop over IPv6"
        [
            testCase "the kernel pings our IPv6 address and gets replies"
            <| fun () ->
                withStack (fun ns stack ->
                    Expect.equal stack.Address6 stackAddress6 "a dual-stack default"

                    let replies =
                        NetworkNamespace.RunIn(
                            ns,
                            fun () ->
                                use ping = new Ping()

                                [
                                    for i in 1..3 -> ping.Send(stackAddress6, 2000, Array.create 56 (byte i)).Status
                                ]
                        )

                    Expect.equal replies [ IPStatus.Success; IPStatus.Success; IPStatus.Success ] "three replies"
                    Expect.isGreaterThanOrEqual (settle (fun () -> stack.Counters.EchoReplies)) 3L "counted")

            testCase "a 4000-byte IPv6 ping from the kernel arrives in fragments, and our fragmented reply reassembles"
            <| fun () ->
                withStack (fun ns stack ->
                    let payload = Array.init 4000 (fun i -> byte (i * 3))

                    let reply =
                        NetworkNamespace.RunIn(
                            ns,
                            fun () ->
                                use ping = new Ping()
                                ping.Send(stackAddress6, 5000, payload)
                        )

                    Expect.equal reply.Status IPStatus.Success "answered"
                    Expect.equal reply.Buffer payload "the 4000 bytes came back"
                    Expect.isGreaterThanOrEqual (settle (fun () -> stack.Counters.Reassembled)) 1L "we put it together")

            testCase "a kernel client sends 64 MiB each way at once through our echo server over IPv6, intact"
            <| fun () ->
                withStack (fun ns stack ->
                    use listener = stack.Listen 7
                    use cancel = new CancellationTokenSource()
                    let _server = echoServer listener cancel.Token
                    use s = kernelSocket6 ns
                    s.Connect(IPEndPoint(stackAddress6, 7))
                    let accepted = (s.RemoteEndPoint :?> IPEndPoint).Address
                    Expect.equal accepted stackAddress6 "connected over IPv6"
                    let receiving = kernelReceive s
                    let sent = kernelSend s 21 (64L * MiB) |> within 600.
                    let count, received = receiving |> within 600.
                    Expect.equal count (64L * MiB) "all bytes came back"
                    Expect.equal received sent "SHA-256 of what came back")

            testCase "our client downloads 16 MiB from a kernel server over IPv6, intact, and sees IPv6 endpoints"
            <| fun () ->
                withStack (fun ns stack ->
                    use server = kernelListener6 ns 5001

                    let serving =
                        task {
                            use! s = server.AcceptAsync()
                            return! kernelSend s 22 (16L * MiB)
                        }

                    let c = stack.ConnectAsync(IPEndPoint(kernelAddress6, 5001)) |> within 10.
                    Expect.equal c.LocalEndPoint.Address stackAddress6 "our end is our IPv6 address"
                    Expect.equal c.RemoteEndPoint.Address kernelAddress6 "the kernel's end"
                    let count, received = stackReceive c |> within 600.
                    Expect.equal count (16L * MiB) "all bytes arrived"
                    Expect.equal received (serving |> within 10.) "SHA-256 of the download"
                    c.CloseAsync().Wait(TimeSpan.FromSeconds 10.) |> ignore)

            testCase
                "a forged packet too big (1280) quoting a segment in flight shrinks our segments, and 8 MiB still arrives intact"
            <| fun () ->
                let icmp: Socket ref = ref null
                let forged = ref false
                let arrived = ref false
                let bigAfter = ref 0
                let fittingAfter = ref 0

                // Runs on the stack thread: forges the error from the first full-sized
                // segment (the delay below keeps it unacknowledged meanwhile) and counts
                // the sizes sent once the error has been read.
                let observe (direction: PacketDirection) (packet: byte array) =
                    let isIpv6 = packet.Length >= 48 && packet[0] >>> 4 = 6uy

                    if isIpv6 && direction = PacketDirection.In && packet[6] = 58uy && packet[40] = 2uy then
                        arrived.Value <- true
                    elif
                        isIpv6
                        && direction = PacketDirection.Out
                        && packet[6] = 6uy
                        && packet.Length > 100
                    then
                        if arrived.Value then
                            if packet.Length > 1280 then
                                bigAfter.Value <- bigAfter.Value + 1
                            else
                                fittingAfter.Value <- fittingAfter.Value + 1
                        elif not forged.Value && packet.Length > 1280 then
                            forged.Value <- true
                            let quoted = packet[.. 1280 - 48 - 1]
                            let message = Array.concat [ [| 2uy; 0uy; 0uy; 0uy; 0uy; 0uy; 5uy; 0uy |]; quoted ]
                            // A raw ICMPv6 socket: the kernel fills in the checksum.
                            icmp.Value.SendTo(message, IPEndPoint(stackAddress6, 0)) |> ignore

                let setup =
                    { plain with
                        Offload = false
                        Outbound = Some(LinkImpairment(Delay = TimeSpan.FromMilliseconds 20.))
                        OnPacket = Some(PacketObserver(fun direction packet -> observe direction (packet.ToArray())))
                    }

                withStackSetup setup (fun ns stack ->
                    icmp.Value <-
                        NetworkNamespace.RunIn(
                            ns,
                            fun () -> new Socket(AddressFamily.InterNetworkV6, SocketType.Raw, ProtocolType.IcmpV6)
                        )

                    use _icmp = icmp.Value
                    use server = kernelListener6 ns 5001

                    let receiving =
                        task {
                            use! s = server.AcceptAsync()
                            return! kernelReceive s
                        }

                    let c = stack.ConnectAsync(IPEndPoint(kernelAddress6, 5001)) |> within 10.
                    let sent = stackSend c 23 (8L * MiB) |> within 120.
                    let count, received = receiving |> within 120.
                    Expect.equal count (8L * MiB) "all bytes arrived"
                    Expect.equal received sent "SHA-256 of what arrived"
                    Expect.isTrue forged.Value "a packet too big was sent"
                    Expect.isTrue arrived.Value "and read by the stack"
                    Expect.isGreaterThanOrEqual (settle (fun () -> stack.Counters.IcmpErrors)) 1L "counted"
                    // Segments already made when the error was read may still go out whole.
                    Expect.isLessThan bigAfter.Value 64 "afterwards, nothing larger than the path"
                    Expect.isGreaterThan fittingAfter.Value 5000 "the rest of the 8 MiB in packets that fit"
                    c.CloseAsync().Wait(TimeSpan.FromSeconds 10.) |> ignore)

            testCase "a kernel connect to a closed IPv6 port is refused by our reset"
            <| fun () ->
                withStack (fun ns stack ->
                    use s = kernelSocket6 ns

                    let error =
                        try
                            s.Connect(IPEndPoint(stackAddress6, 9))
                            None
                        with :? SocketException as e ->
                            Some e.SocketErrorCode

                    Expect.equal error (Some SocketError.ConnectionRefused) "refused"
                    // The counters are published after the write that carried the reset.
                    Expect.isGreaterThanOrEqual (settle (fun () -> stack.Counters.ResetsSent)) 1L "our reset")

            testCase
                "an IPv6-only listener takes the kernel's IPv6 connect and refuses its IPv4 one, and an IPv4-only one the other way"
            <| fun () ->
                withStack (fun ns stack ->
                    let connect (ipv6: bool) (port: int) =
                        use s = if ipv6 then kernelSocket6 ns else kernelSocket ns

                        try
                            s.Connect(IPEndPoint((if ipv6 then stackAddress6 else stackAddress), port))
                            None
                        with :? SocketException as e ->
                            Some e.SocketErrorCode

                    use only6 = stack.Listen(7, family = AddressFamily.InterNetworkV6)
                    use only4 = stack.Listen(8, family = AddressFamily.InterNetwork)
                    Expect.equal only6.LocalEndPoint (IPEndPoint(stackAddress6, 7)) "the IPv6 address"
                    Expect.equal only4.LocalEndPoint (IPEndPoint(stackAddress, 8)) "the IPv4 address"
                    Expect.equal (connect true 7) None "IPv6 to the IPv6 listener"
                    Expect.equal (connect false 7) (Some SocketError.ConnectionRefused) "IPv4 to the IPv6 listener"
                    Expect.equal (connect false 8) None "IPv4 to the IPv4 listener"
                    Expect.equal (connect true 8) (Some SocketError.ConnectionRefused) "IPv6 to the IPv4 listener")

            testCase
                "a kernel UDP datagram to our IPv6 address draws a parameter problem, which the kernel's socket reports"
            <| fun () ->
                withStack (fun ns stack ->
                    use udp =
                        NetworkNamespace.RunIn(
                            ns,
                            fun () -> new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp)
                        )

                    udp.ReceiveTimeout <- 3000
                    udp.Connect(IPEndPoint(stackAddress6, 9))
                    udp.Send [| 1uy; 2uy; 3uy |] |> ignore

                    let error =
                        try
                            udp.Receive(Array.zeroCreate<byte> 16) |> ignore
                            None
                        with :? SocketException as e ->
                            Some e.SocketErrorCode

                    Expect.isSome error "the receive fails"
                    Expect.notEqual error (Some SocketError.TimedOut) "with the error we sent, not a timeout"

                    Expect.equal
                        (settle (fun () -> stack.Counters.ParameterProblemsSent))
                        1L
                        "one parameter problem sent")

            testCase "our connect to a closed kernel IPv6 port fails with ConnectionRefused"
            <| fun () ->
                withStack (fun _ stack ->
                    let error =
                        socketError (fun () -> stack.ConnectAsync(IPEndPoint(kernelAddress6, 9)) :> Task)

                    Expect.equal error (Some SocketError.ConnectionRefused) "refused")

            testCase "an IPv4-only stack says so for an IPv6 connect"
            <| fun () ->
                requireKernel ()
                let ns = freshNamespace ()

                use stack =
                    TcpStack.Start(TcpStackOptions(Namespace = ns, Address6 = null, Offload = false))

                Expect.isNull stack.Address6 "no IPv6 address"

                let message =
                    try
                        stack.ConnectAsync(IPEndPoint(kernelAddress6, 7)).GetAwaiter().GetResult()
                        |> ignore

                        "connected"
                    with :? ArgumentException as e ->
                        e.Message

                Expect.stringContains message "no IPv6 address" "says why"

                let listenError =
                    try
                        stack.Listen(7, family = AddressFamily.InterNetworkV6).Dispose()
                        "listening"
                    with :? ArgumentException as e ->
                        e.Message

                Expect.stringContains listenError "no IPv6 address" "an IPv6-only listener says why"
        ]
