/// The C# shell on in-memory devices: two stacks joined back to back, no root needed.
module Stack.Tests.ShellTests

open System
open System.Net
open System.Net.Sockets
open System.Security.Cryptography
open System.Threading
open System.Threading.Tasks
open Expecto
open Stack.Shell
open Stack.Shell.Device

let addressA = IPAddress.Parse "10.0.0.1"
let addressB = IPAddress.Parse "10.0.0.2"
let address6A = IPAddress.Parse "fd00:7::a"
let address6B = IPAddress.Parse "fd00:7::b"

/// Two stacks on one in-memory link, with connection buffers of `buffer` bytes.
let startPairWith (buffer: int) =
    let struct (a, b) = MemoryDevice.CreatePair()

    let options (address: IPAddress) (address6: IPAddress) (device: MemoryDevice) =
        TcpStackOptions(
            Address = address,
            Address6 = address6,
            Device = device,
            SendBufferSize = buffer,
            ReceiveBufferSize = buffer
        )

    TcpStack.Start(options addressA address6A a), TcpStack.Start(options addressB address6B b)

let startPair () = startPairWith (256 * 1024)

/// Runs `f` on two stacks joined back to back with buffers of `buffer` bytes; disposes both.
let withPairOf (buffer: int) (f: TcpStack -> TcpStack -> unit) =
    let stackA, stackB = startPairWith buffer

    try
        f stackA stackB
    finally
        stackA.DisposeAsync().AsTask().Wait()
        stackB.DisposeAsync().AsTask().Wait()

let withPair f = withPairOf (256 * 1024) f

let within (seconds: float) (t: Task<'T>) =
    if not (t.Wait(TimeSpan.FromSeconds seconds)) then
        failtestf "not done within %.0f s" seconds

    t.Result

/// Bytes of a deterministic pseudo-random stream.
let streamBytes (seed: int) (count: int) =
    let bytes = Array.zeroCreate<byte> count
    Random(seed).NextBytes bytes
    bytes

/// Writes all of `data` in chunks, then half-closes.
let writeAll (c: TcpStackConnection) (data: byte array) =
    task {
        let mutable offset = 0

        while offset < data.Length do
            let n = min 65536 (data.Length - offset)
            do! c.WriteAsync(ReadOnlyMemory(data, offset, n))
            offset <- offset + n

        c.ShutdownWrite()
    }

/// Reads until end of stream; returns the bytes.
let readAll (c: TcpStackConnection) =
    task {
        use out = new IO.MemoryStream()
        let buffer = Array.zeroCreate<byte> 65536
        let mutable go = true

        while go do
            let! n = c.ReadAsync(Memory buffer)

            if n = 0 then go <- false else out.Write(buffer, 0, n)

        return out.ToArray()
    }

/// Fails with `message ()` unless `condition` holds within `seconds` (checked every 20 ms).
let eventually (seconds: float) (condition: unit -> bool) (message: unit -> string) =
    let deadline = DateTime.UtcNow.AddSeconds seconds

    while not (condition ()) && DateTime.UtcNow < deadline do
        Thread.Sleep 20

    if not (condition ()) then
        failtest (message ())

let sha (b: byte array) = Convert.ToHexString(SHA256.HashData b)

/// A TCP segment from `source`:`port` to a stack at 10.0.0.1:80, as the wire carries it.
let segmentTo80
    (source: Stack.Core.Wire.Ipv4Address)
    (port: uint16)
    (flags: Stack.Core.Wire.TcpFlags)
    (seq: uint32)
    (ack: uint32)
    (options: Stack.Core.Wire.TcpOption list)
    =
    Stack.Core.Wire.Packet.tcpToArray
        (Stack.Core.Wire.Ipv4.header
            Stack.Core.Wire.IpProtocol.Tcp
            source
            (Stack.Core.Wire.Ipv4Address.Parse "10.0.0.1")
            0)
        { Stack.Core.Wire.Tcp.header port 80us with
            Flags = flags
            SequenceNumber = seq
            AcknowledgmentNumber = ack
            Window = 65535us
            Options = Stack.Core.Wire.TcpOptions.ofList options
        }
        ReadOnlySpan.Empty

/// The sequence number of a TCP packet a stack wrote (IPv4 header without options).
let seqOf (packet: byte array) =
    Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ReadOnlySpan(packet, 24, 4))

let socketError (f: unit -> Task) =
    try
        f().Wait(TimeSpan.FromSeconds 30.) |> ignore
        None
    with :? AggregateException as e ->
        match e.InnerException with
        | :? SocketException as s -> Some s.SocketErrorCode
        | other -> raise other

/// A connection from stack A to stack B's port 7: the client's end and the server's.
let connectPair (stackA: TcpStack) (stackB: TcpStack) =
    use listener = stackB.Listen 7
    let accepting = listener.AcceptAsync().AsTask()
    let client = stackA.ConnectAsync(IPEndPoint(addressB, 7)) |> within 10.
    client, accepting |> within 10.

/// Each end sends `size` bytes of its own stream at once; both arrive intact within `seconds`.
let exchange (client: TcpStackConnection) (server: TcpStackConnection) (size: int) (seconds: float) =
    let up = streamBytes 1 size
    let down = streamBytes 2 size
    let sends = Task.WhenAll(writeAll client up, writeAll server down)
    let atServer = readAll server
    let atClient = readAll client
    sends |> within seconds |> ignore
    Expect.equal (sha (atServer |> within seconds)) (sha up) "client to server"
    Expect.equal (sha (atClient |> within seconds)) (sha down) "server to client"

[<Tests>]
let tests =
    testSequenced
    <| testList
        "shell (in memory)"
        [
            testCase "both directions at once, 4 MiB each way, bytes intact"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    Expect.equal client.RemoteEndPoint (IPEndPoint(addressB, 7)) "client's remote end"
                    Expect.equal server.LocalEndPoint (IPEndPoint(addressB, 7)) "server's local end"
                    exchange client server (4 <<< 20) 60.)

            testCase "over a link that loses and reorders, rings grown from 4 KiB carry 2 MiB each way intact"
            <| fun () ->
                // Out-of-order bytes are stored ahead of what is readable, so a ring grows
                // while it holds bytes on both sides of a hole.
                let link =
                    LinkImpairment(Loss = 0.01, Reorder = 0.05, ReorderDelay = TimeSpan.FromMilliseconds 2.)

                let struct (a, b) = MemoryDevice.CreatePair()

                let options (address: IPAddress) (device: MemoryDevice) =
                    TcpStackOptions(
                        Address = address,
                        Device = device,
                        InboundImpairment = link,
                        OutboundImpairment = link,
                        ImpairmentSeed = 7UL
                    )

                let stackA, stackB =
                    TcpStack.Start(options addressA a), TcpStack.Start(options addressB b)

                try
                    let client, server = connectPair stackA stackB
                    exchange client server (2 <<< 20) 120.
                    Expect.isGreaterThan (stackA.GetStatistics().Retransmissions) 0L "the link lost packets"
                finally
                    stackA.DisposeAsync().AsTask().Wait()
                    stackB.DisposeAsync().AsTask().Wait()

            testCase "a connect to a port nobody listens on is refused"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let error =
                        socketError (fun () -> stackA.ConnectAsync(IPEndPoint(addressB, 9)) :> Task)

                    Expect.equal error (Some SocketError.ConnectionRefused) "refused")

            testCase "listening twice on a port is AddressAlreadyInUse"
            <| fun () ->
                withPair (fun stackA stackB ->
                    use _first = stackB.Listen 80

                    let error =
                        try
                            stackB.Listen 80 |> ignore
                            None
                        with :? SocketException as s ->
                            Some s.SocketErrorCode

                    Expect.equal error (Some SocketError.AddressAlreadyInUse) "second listen fails")

            testCase "abort resets the peer, whose reads then fail with ConnectionReset"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    client.Abort()

                    let error =
                        socketError (fun () -> server.ReadAsync(Memory(Array.zeroCreate 10)).AsTask() :> Task)

                    Expect.equal error (Some SocketError.ConnectionReset) "reset seen")

            testCase "half-close: the side that shut down writing still reads"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    writeAll client "request"B |> within 10.
                    let request = readAll server |> within 10.
                    Expect.equal request "request"B "server read up to end of stream"
                    let reply = streamBytes 3 100_000
                    // Read while the server writes: a writer runs only so far ahead of the
                    // peer's window (TcpStackOptions.UnsentLimit).
                    let reading = readAll client
                    writeAll server reply |> within 10.
                    let got = reading |> within 10.
                    Expect.equal (sha got) (sha reply) "client read after its own shutdown"
                    client.Completion |> fun t -> t.Wait(TimeSpan.FromSeconds 10.) |> ignore
                    Expect.isTrue client.Completion.IsCompleted "client finished closing")

            testCase
                "FIN-WAIT-2: a closed connection gives up on a peer that never closes; a half-closed one still reading waits"
            <| fun () ->
                let struct (a, b) = MemoryDevice.CreatePair()

                let stackA =
                    TcpStack.Start(
                        TcpStackOptions(
                            Address = addressA,
                            Device = a,
                            Tcp = TcpProtocolOptions(FinWait2Timeout = TimeSpan.FromSeconds 1.)
                        )
                    )

                let stackB = TcpStack.Start(TcpStackOptions(Address = addressB, Device = b))

                try
                    let closing, _ = connectPair stackA stackB
                    let halfClosing, server = connectPair stackA stackB
                    let closed = closing.CloseAsync()
                    halfClosing.ShutdownWrite()
                    let reading = readAll halfClosing
                    // The peers acknowledge our FINs and stay silent, never closing.
                    eventually 10. (fun () -> closed.IsCompleted) (fun () -> $"closing still {closing.State}")
                    Expect.equal closing.Error SocketError.TimedOut "the silent peer was given up on"
                    Expect.equal closing.State NetworkInformation.TcpState.Closed "closed"
                    Thread.Sleep 3000

                    Expect.equal
                        halfClosing.State
                        NetworkInformation.TcpState.FinWait2
                        "the half-closed one still waits in FIN-WAIT-2"

                    let late = streamBytes 5 1000
                    writeAll server late |> within 10.
                    Expect.equal (sha (reading |> within 10.)) (sha late) "and reads what the peer sends at last"
                finally
                    stackA.DisposeAsync().AsTask().Wait()
                    stackB.DisposeAsync().AsTask().Wait()

            testCase "a reader that stops closes the window; the writer waits, then finishes intact"
            <| fun () ->
                withPairOf 65536 (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    let data = streamBytes 4 (1 <<< 20)
                    let writing = writeAll client data
                    // Nobody reads: wait until the unread bytes stop growing.
                    let mutable last = -1L
                    let mutable polls = 0

                    while server.Unread <> last && polls < 100 do
                        last <- server.Unread
                        polls <- polls + 1
                        Thread.Sleep 300

                    Expect.isGreaterThan server.Unread 0L "some bytes arrived"
                    Expect.isFalse writing.IsCompleted "the writer waits for the reader"
                    Expect.isLessThanOrEqual server.Unread 65536L "unread bytes stay within the receive buffer"

                    Expect.isLessThanOrEqual
                        (stackB.GetStatistics().BufferBytes)
                        65536L
                        "the stalled reader's ring is no larger than its buffer"

                    Expect.isLessThanOrEqual
                        (stackA.GetStatistics().BufferBytes)
                        65536L
                        "the waiting writer's ring is no larger than its buffer"

                    let got = readAll server |> within 60.
                    writing |> within 60.
                    Expect.equal (sha got) (sha data) "intact after resuming"
                    Expect.isTrue (server.CloseAsync().Wait(TimeSpan.FromSeconds 10.)) "server closed")

            testCase "an idle connection holds no buffer: rings go back to the pool once drained, both ends"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    Expect.equal (stackA.GetStatistics().BufferBytes) 0L "no ring before the first byte"

                    for round in 1..3 do
                        // Request and response, then idle with the connection open.
                        let request = streamBytes round (300_000 * round)
                        let writing = client.WriteAsync(ReadOnlyMemory request).AsTask()
                        let got = Array.zeroCreate<byte> request.Length
                        let mutable at = 0

                        while at < got.Length do
                            at <- at + (server.ReadAsync(Memory(got, at, got.Length - at)).AsTask() |> within 30.)

                        Expect.isTrue (writing.Wait(TimeSpan.FromSeconds 30.)) "the request was written"
                        Expect.equal (sha got) (sha request) $"round {round}: request intact"
                        let responding = server.WriteAsync(ReadOnlyMemory got).AsTask()
                        let back = Array.zeroCreate<byte> got.Length
                        at <- 0

                        while at < back.Length do
                            at <-
                                at
                                + (client.ReadAsync(Memory(back, at, back.Length - at)).AsTask() |> within 30.)

                        Expect.isTrue (responding.Wait(TimeSpan.FromSeconds 30.)) "the response was written"

                        let held () =
                            stackA.GetStatistics().BufferBytes + stackB.GetStatistics().BufferBytes

                        eventually 10. (fun () -> held () = 0L) (fun () ->
                            $"round {round}: the rings of an idle connection still hold {held ()} bytes")

                        Expect.equal client.State Net.NetworkInformation.TcpState.Established "still open")

            testCase
                "at the stack's memory limit data that needs more is dropped, counted, and sent again; all arrives intact"
            <| fun () ->
                let struct (a, b) = MemoryDevice.CreatePair()

                let megabyte = 1 <<< 20

                let options (address: IPAddress) (device: MemoryDevice) (limit: Nullable<int64>) =
                    TcpStackOptions(
                        Address = address,
                        Device = device,
                        SendBufferSize = megabyte,
                        ReceiveBufferSize = megabyte,
                        InitialReceiveBufferSize = megabyte,
                        MemoryLimit = limit
                    )

                let stackA = TcpStack.Start(options addressA a (Nullable()))
                let stackB = TcpStack.Start(options addressB b (Nullable(1L <<< 20)))

                try
                    use listener = stackB.Listen 7

                    let pairs =
                        [
                            for _ in 1..3 ->
                                let accepting = listener.AcceptAsync().AsTask()
                                let client = stackA.ConnectAsync(IPEndPoint(addressB, 7)) |> within 10.
                                client, accepting |> within 10.
                        ]

                    let data = [ for i in 1..3 -> streamBytes (40 + i) (1 <<< 20) ]

                    let writes =
                        List.map2 (fun (client, _) bytes -> writeAll client bytes :> Task) pairs data

                    // Nobody reads yet: three windows of 1 MiB would need 3 MiB.
                    eventually 30. (fun () -> stackB.GetStatistics().Drops["memory-limit"] > 0L) (fun () ->
                        $"no drop at the limit; B holds {stackB.GetStatistics().BufferBytes} bytes")

                    Expect.isLessThanOrEqual
                        (stackB.GetStatistics().BufferBytes)
                        (2L <<< 20)
                        "rings stay within the limit and one ring's growth"

                    Expect.isGreaterThan
                        (stackB.GetStatistics().MemoryPressureEpisodes)
                        0L
                        "the core was told of the pressure on the way"

                    let got = pairs |> List.map (fun (_, server) -> readAll server)

                    for (bytes, reading) in List.zip data got do
                        Expect.equal (sha (reading |> within 60.)) (sha bytes) "intact after the drops"

                    Expect.isTrue (Task.WhenAll(writes).Wait(TimeSpan.FromSeconds 30.)) "the writers finished"
                finally
                    stackA.DisposeAsync().AsTask().Wait()
                    stackB.DisposeAsync().AsTask().Wait()

            testCase
                "a listener at its connection limit drops new SYNs (counted); once one closes, the next connect gets in"
            <| fun () ->
                withPair (fun stackA stackB ->
                    use listener = stackB.Listen(7, 16, 2)

                    let open' () =
                        let accepting = listener.AcceptAsync().AsTask()
                        let client = stackA.ConnectAsync(IPEndPoint(addressB, 7)) |> within 10.
                        client, accepting |> within 10.

                    let first = open' ()
                    let _second = open' ()
                    use cancel = new CancellationTokenSource(TimeSpan.FromSeconds 2.)
                    let third = stackA.ConnectAsync(IPEndPoint(addressB, 7), cancel.Token)

                    Expect.throwsT<AggregateException>
                        (fun () -> third.Wait(TimeSpan.FromSeconds 10.) |> ignore)
                        "the third connect gets no answer"

                    Expect.isGreaterThan (stackB.GetStatistics().Drops["listener-limit"]) 0L "its SYNs counted"
                    let client, server = first
                    let closing = Task.WhenAll(client.CloseAsync(), server.CloseAsync())
                    Expect.isTrue (closing.Wait(TimeSpan.FromSeconds 10.)) "the first pair closed"
                    let client4, _ = open' ()
                    Expect.equal client4.State Net.NetworkInformation.TcpState.Established "a new one gets in")

            testCase "a reader that closes while the peer still sends reads end of stream; the rest is discarded"
            <| fun () ->
                withPairOf 65536 (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    let writing = writeAll client (streamBytes 5 (1 <<< 20))
                    let buffer = Array.zeroCreate<byte> 1000
                    let first = server.ReadAsync(Memory buffer).AsTask() |> within 10.
                    Expect.isGreaterThan first 0 "data arrives"
                    // A read waits on one thread while the application closes on another.
                    let reading = Task.Run<byte array>(Func<Task<byte array>>(fun () -> readAll server))
                    let closing = server.CloseAsync()
                    let rest = reading |> within 30.
                    Expect.isLessThan rest.Length (1 <<< 20) "the reader stopped before the end"
                    writing |> within 60.
                    Expect.isTrue (closing.Wait(TimeSpan.FromSeconds 30.)) "the close completes"
                    Expect.equal server.Unread 0L "nothing is left unread")

            testCase "statistics and System.Diagnostics.Metrics count the packets and bytes"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    let reading = readAll server
                    writeAll client (streamBytes 5 100_000) |> within 10.
                    reading |> within 10. |> ignore
                    Expect.isTrue (server.CloseAsync().Wait(TimeSpan.FromSeconds 10.)) "server closed"
                    let stats = stackA.GetStatistics()
                    Expect.isGreaterThan stats.PacketsOut 60L "A sent the data's packets"
                    Expect.isGreaterThan stats.BytesOut 100_000L "and their bytes"
                    let measured = Collections.Generic.Dictionary<string, int64>()
                    use listener = new Diagnostics.Metrics.MeterListener()

                    listener.InstrumentPublished <-
                        fun instrument l ->
                            if instrument.Meter.Name = TcpStack.MeterName then
                                l.EnableMeasurementEvents instrument

                    listener.SetMeasurementEventCallback<int64>(fun instrument value tags _ ->
                        let mutable direction = ""
                        let mutable stack = ""

                        for t in tags do
                            if t.Key = "direction" then
                                direction <- string t.Value

                            if t.Key = "stack" then
                                stack <- string t.Value

                        if stack = string addressA then
                            measured[$"{instrument.Name}/{direction}"] <- value)

                    listener.Start()
                    listener.RecordObservableInstruments()

                    Expect.isGreaterThanOrEqual
                        measured["tcpstack.packets/out"]
                        stats.PacketsOut
                        "packets out, published"

                    Expect.isGreaterThanOrEqual measured["tcpstack.bytes/out"] stats.BytesOut "bytes out, published")

            testCase "cancelling a read or a connect raises OperationCanceledException"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    use soon = new CancellationTokenSource(TimeSpan.FromMilliseconds 200.)

                    let cancelled (t: Task) =
                        try
                            t.Wait(TimeSpan.FromSeconds 10.) |> ignore
                            false
                        with :? AggregateException as e ->
                            e.InnerException :? OperationCanceledException

                    Expect.isTrue
                        (cancelled (server.ReadAsync(Memory(Array.zeroCreate 10), soon.Token).AsTask() :> Task))
                        "the read was cancelled"

                    use later = new CancellationTokenSource(TimeSpan.FromMilliseconds 200.)
                    // Nobody has 10.0.0.3: the SYN goes unanswered until the token fires.
                    let nowhere =
                        stackA.ConnectAsync(IPEndPoint(IPAddress.Parse "10.0.0.3", 80), later.Token)

                    Expect.isTrue (cancelled (nowhere :> Task)) "the connect was cancelled"
                    client.Abort())

            testCase "disposing a stack closes its connections gracefully: the peer reads to the end"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    let data = streamBytes 6 50_000

                    Expect.isTrue
                        (client.WriteAsync(ReadOnlyMemory data).AsTask().Wait(TimeSpan.FromSeconds 10.))
                        "written"

                    let reading =
                        task {
                            let! got = readAll server
                            do! server.CloseAsync()
                            return got
                        }

                    Expect.isTrue (stackA.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds 30.)) "disposed"
                    Expect.equal (sha (reading |> within 10.)) (sha data) "everything, then end of stream"
                    Expect.isTrue client.Completion.IsCompleted "our side finished closing")

            testCase
                "a SYN flood from 1,000 spoofed sources does not lock the port: a real client's handshake still completes"
            <| fun () ->
                let struct (ours, wire) = MemoryDevice.CreatePair()

                let stack =
                    TcpStack.Start(
                        TcpStackOptions(Address = addressA, Device = ours, CloseTimeout = TimeSpan.FromSeconds 1.)
                    )

                let syn (source: Stack.Core.Wire.Ipv4Address) (port: uint16) =
                    segmentTo80 source port Stack.Core.Wire.TcpFlags.Syn 1000u 0u [ Stack.Core.Wire.Mss 1460us ]

                try
                    use listener = stack.Listen 80

                    // More half-open connections than the SYN queue holds (256), from
                    // addresses that will never answer.
                    for i in 0..999 do
                        let source =
                            Stack.Core.Wire.Ipv4Address(10uy, 9uy, byte (i / 250), byte (i % 250 + 1))

                        wire.Write(ReadOnlySpan(syn source 40000us))

                    let client = Stack.Core.Wire.Ipv4Address.Parse "10.0.0.2"
                    wire.Write(ReadOnlySpan(syn client 41000us))

                    // The SYN-ACK to the real client, among the flood's.
                    let waiting = Diagnostics.Stopwatch.StartNew()

                    let rec synAckToClient () =
                        let reply = wire.Take(TimeSpan.FromSeconds 10.)
                        Expect.isNotNull reply "SYN-ACKs keep coming"
                        Expect.isLessThan waiting.Elapsed.TotalSeconds 15. "the client is answered within 15 s"

                        let destination =
                            Stack.Core.Wire.Ipv4Address(reply[16], reply[17], reply[18], reply[19])

                        if destination = client then reply else synAckToClient ()

                    let synAck = synAckToClient ()
                    Expect.equal (synAck[33] &&& 0x12uy) 0x12uy "a SYN-ACK"

                    let ack =
                        segmentTo80 client 41000us Stack.Core.Wire.TcpFlags.Ack 1001u (seqOf synAck + 1u) []

                    wire.Write(ReadOnlySpan ack)
                    let accepted = listener.AcceptAsync().AsTask() |> within 10.
                    Expect.equal accepted.RemoteEndPoint.Port 41000 "the real client is accepted"
                    Expect.equal (accepted.State.ToString()) "Established" "established"
                finally
                    stack.DisposeAsync().AsTask().Wait()

            testCase "packets that are not IPv4, or not packets at all, are counted and dropped; the stack goes on"
            <| fun () ->
                let struct (ours, wire) = MemoryDevice.CreatePair()

                let stack =
                    TcpStack.Start(
                        // IPv4 only: an IPv6 packet is then of a family the stack does not speak.
                        TcpStackOptions(
                            Address = addressA,
                            Address6 = null,
                            Device = ours,
                            CloseTimeout = TimeSpan.FromSeconds 1.
                        )
                    )

                try
                    use _listener = stack.Listen 80

                    let ipv6 =
                        Array.append [| 0x60uy; 0uy; 0uy; 0uy; 0uy; 8uy; 58uy; 255uy |] (Array.zeroCreate 40)

                    let truncated = [| 0x45uy; 0uy; 0uy; 40uy |]
                    // Noise that claims to be IPv4 (its checksum cannot match).
                    let noise = Array.append [| 0x45uy |] (streamBytes 7 300)

                    for p in [ ipv6; truncated; noise ] do
                        wire.Write(ReadOnlySpan p)

                    let syn =
                        segmentTo80
                            (Stack.Core.Wire.Ipv4Address.Parse "10.0.0.2")
                            40000us
                            Stack.Core.Wire.TcpFlags.Syn
                            1000u
                            0u
                            []

                    wire.Write(ReadOnlySpan syn)
                    let reply = wire.Take(TimeSpan.FromSeconds 10.)
                    Expect.isNotNull reply "the stack answered the SYN after the junk"
                    Expect.equal (reply[33] &&& 0x12uy) 0x12uy "with a SYN-ACK"
                    let drops = stack.GetStatistics().Drops
                    Expect.equal drops["not-ipv4"] 1L "the IPv6 packet"
                    Expect.isGreaterThanOrEqual drops["malformed"] 2L "the truncated packet and the noise"
                finally
                    stack.DisposeAsync().AsTask().Wait()
        ]
