/// The shell's connections behave as sockets do: abort fails what waits, dispose returns at
/// once and the close goes on, a stream that owns its connection closes it.
module Stack.Tests.ShellSemanticsTests

open System
open System.Net.Sockets
open System.Threading.Tasks
open Expecto
open Stack.Shell
open Stack.Shell.Device
open Stack.Tests.ShellTests

/// The socket error a task failed with, once it completed (within 10 s).
let private failedWith (t: Task) =
    try
        if not (t.Wait(TimeSpan.FromSeconds 10.)) then
            failtest "still waiting after 10 s"

        None
    with :? AggregateException as e ->
        match e.InnerException with
        | :? SocketException as s -> Some s.SocketErrorCode
        | other -> raise other

/// A segment from the wire's peer, 10.0.0.2:41000.
let private segment flags seq ack =
    segmentTo80 (Stack.Core.Wire.Ipv4Address.Parse "10.0.0.2") 41000us flags seq ack []

[<Tests>]
let tests =
    testSequenced
    <| testList
        "shell semantics"
        [
            testCase "Abort fails a read already waiting, and the writes after it"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, _server = connectPair stackA stackB
                    let reading = client.ReadAsync(Memory(Array.zeroCreate<byte> 100)).AsTask()
                    Expect.isFalse reading.IsCompleted "nothing to read yet"
                    client.Abort()
                    Expect.equal (failedWith reading) (Some SocketError.OperationAborted) "the waiting read fails"

                    let writing = client.WriteAsync(ReadOnlyMemory(Array.zeroCreate<byte> 10)).AsTask()
                    Expect.isSome (failedWith writing) "a write after the abort fails")

            testCase "Abort fails a write waiting for send space"
            <| fun () ->
                withPairOf 65536 (fun stackA stackB ->
                    let client, _server = connectPair stackA stackB
                    // Nobody reads at the server: the writer runs out of space and waits.
                    let writing = client.WriteAsync(ReadOnlyMemory(streamBytes 9 (4 <<< 20))).AsTask()
                    eventually 10. (fun () -> client.Unsent > 0L) (fun () -> "the writer got going")
                    Expect.isFalse writing.IsCompleted "4 MiB do not fit"
                    client.Abort()
                    Expect.equal (failedWith writing) (Some SocketError.OperationAborted) "the waiting write fails")

            testCase
                "Dispose returns at once, the close goes on: the peer reads all that was written, then end of stream"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    let data = streamBytes 10 300_000
                    let writing = client.WriteAsync(ReadOnlyMemory data).AsTask()
                    let reading = readAll server
                    writing |> fun t -> t.Wait(TimeSpan.FromSeconds 10.) |> ignore
                    client.Dispose()
                    // The peer has not closed, so a dispose that waited for the close to
                    // complete could not have returned with the connection still open.
                    Expect.isFalse client.Completion.IsCompleted "disposed before the close completed"
                    Expect.equal (sha (reading |> within 10.)) (sha data) "all written, then end of stream"
                    server.Dispose()
                    Expect.isTrue (client.Completion.Wait(TimeSpan.FromSeconds 10.)) "the close completed")

            testCase "Linger zero: Dispose aborts, the peer's read fails with a reset"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    let reading = server.ReadAsync(Memory(Array.zeroCreate<byte> 100)).AsTask()
                    client.Linger <- TimeSpan.Zero
                    client.Dispose()
                    Expect.equal (failedWith reading) (Some SocketError.ConnectionReset) "reset")

            testCase "Linger: DisposeAsync waits until the peer closed too"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    client.Linger <- TimeSpan.FromSeconds 30.

                    let closingServer =
                        task {
                            let! got = readAll server
                            server.Dispose()
                            return got
                        }

                    client.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds 30.) |> ignore
                    Expect.isTrue client.Completion.IsCompleted "the close completed before DisposeAsync returned"
                    Expect.equal (closingServer |> within 10.) [||] "the peer read end of stream")

            testCase "disposing the connection's Stream closes the connection; one left open does not"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    let reading = readAll server

                    do
                        use kept = client.GetStream(leaveOpen = true)
                        kept.Write("first "B, 0, 6)

                    client.Stream.Write("second"B, 0, 6)
                    client.Stream.Dispose()
                    Expect.equal (reading |> within 10.) "first second"B "both writes, then end of stream")

            testCase "completing the pipe's output sends FIN after the bytes; completing it with an error aborts"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    let reading = readAll server
                    let data = streamBytes 11 200_000

                    task {
                        let! _ = client.Pipe.Output.WriteAsync(ReadOnlyMemory data)
                        do! client.Pipe.Output.CompleteAsync()
                    }
                    |> fun t -> t.Wait(TimeSpan.FromSeconds 10.) |> ignore

                    Expect.equal (sha (reading |> within 10.)) (sha data) "the bytes, then end of stream"

                    let other, otherServer = connectPair stackA stackB
                    let waiting = otherServer.ReadAsync(Memory(Array.zeroCreate<byte> 10)).AsTask()
                    other.Pipe.Output.Complete(InvalidOperationException "the writer failed")
                    Expect.equal (failedWith waiting) (Some SocketError.ConnectionReset) "the peer sees a reset")

            testCase
                "the pipe's input hands out the receive ring's bytes: 4 MiB intact, read in uneven bites, then the end"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    let data = streamBytes 12 (4 <<< 20)
                    let sending = writeAll client data
                    let input = server.Pipe.Input
                    use received = new IO.MemoryStream()
                    let mutable finished = false
                    let mutable reads = 0

                    while not finished do
                        let result = input.ReadAsync().AsTask() |> within 20.
                        let buffer = result.Buffer
                        reads <- reads + 1
                        // Take 1, 2 or 3 quarters of what is there (all of a small view),
                        // and say all of it was examined: the next read waits for more.
                        let share =
                            if buffer.Length < 8L then
                                buffer.Length
                            else
                                buffer.Length * int64 (1 + reads % 3) / 4L

                        let taken = buffer.Slice(0L, share)

                        for piece in taken do
                            received.Write(piece.Span)

                        input.AdvanceTo(taken.End, buffer.End)
                        finished <- result.IsCompleted && share = buffer.Length

                    sending |> within 20. |> ignore
                    input.Complete()
                    Expect.equal (sha (received.ToArray())) (sha data) "every byte, in order, once"
                    Expect.isGreaterThan reads 10 "read in many bites")

            testCase "a view the pipe's reader holds stays intact while the receive ring grows under it"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let client, server = connectPair stackA stackB
                    let first = streamBytes 13 1000

                    client.WriteAsync(ReadOnlyMemory first).AsTask().Wait(TimeSpan.FromSeconds 10.)
                    |> ignore

                    let input = server.Pipe.Input
                    let held = input.ReadAsync().AsTask() |> within 10.
                    let view = held.Buffer
                    let before = Buffers.BuffersExtensions.ToArray &view
                    // The ring starts at 4 KiB: 50 KB more (within the first window) make it grow (and hand its old
                    // block back, were the view not out) while the view is held.
                    let more = streamBytes 14 50_000

                    client.WriteAsync(ReadOnlyMemory more).AsTask().Wait(TimeSpan.FromSeconds 10.)
                    |> ignore

                    let mutable waited = 0

                    while server.Unread < int64 (first.Length + more.Length) && waited < 100 do
                        Threading.Thread.Sleep 50
                        waited <- waited + 1

                    Expect.equal (server.Unread) (int64 (first.Length + more.Length)) "all arrived meanwhile"
                    // The pool gives the pages of a block idle for a second back to the
                    // kernel (they read as zeros then): a block handed back under the view
                    // would show it.
                    Threading.Thread.Sleep 2500
                    Expect.equal (Buffers.BuffersExtensions.ToArray &view) before "the view still holds what it held"
                    Expect.equal before first.[.. before.Length - 1] "which was the first bytes"
                    input.AdvanceTo(view.End)
                    use rest = new IO.MemoryStream()
                    rest.Write(before)

                    while rest.Length < int64 (first.Length + more.Length) do
                        let result = input.ReadAsync().AsTask() |> within 10.

                        for piece in result.Buffer do
                            rest.Write(piece.Span)

                        input.AdvanceTo(result.Buffer.End)

                    Expect.equal
                        (sha (rest.ToArray()))
                        (sha (Array.append first more))
                        "then the rest, from the grown ring")

            testCase "ConnectTimeout: a connect nobody answers fails with TimedOut when it runs out"
            <| fun () ->
                let struct (ours, _silent) = MemoryDevice.CreatePair()

                use stack =
                    TcpStack.Start(
                        TcpStackOptions(
                            Address = addressA,
                            Device = ours,
                            ConnectTimeout = Nullable(TimeSpan.FromSeconds 1.)
                        )
                    )

                let connecting = stack.ConnectAsync(Net.IPEndPoint(addressB, 7))
                Expect.equal (failedWith connecting) (Some SocketError.TimedOut) "timed out"

            testCase "Keepalive on one connection: probes one below SND.UNA, then TimedOut when nobody answers"
            <| fun () ->
                let struct (ours, wire) = MemoryDevice.CreatePair()
                use stack = TcpStack.Start(TcpStackOptions(Address = addressA, Device = ours))
                use listener = stack.Listen 80
                wire.Write(ReadOnlySpan(segment Stack.Core.Wire.TcpFlags.Syn 1000u 0u))
                let synAck = wire.Take(TimeSpan.FromSeconds 10.)
                Expect.isNotNull synAck "SYN-ACK"
                let iss = seqOf synAck
                wire.Write(ReadOnlySpan(segment Stack.Core.Wire.TcpFlags.Ack 1001u (iss + 1u)))
                let accepted = listener.AcceptAsync().AsTask() |> within 10.
                Expect.isNull accepted.Keepalive "off by default"
                accepted.Keepalive <- TcpKeepalive(TimeSpan.FromMilliseconds 200., TimeSpan.FromMilliseconds 100., 2)
                let probe = wire.Take(TimeSpan.FromSeconds 10.)
                Expect.isNotNull probe "a probe after the idle time"
                Expect.equal (seqOf probe) iss "one below SND.UNA"
                Expect.isTrue (accepted.Completion.Wait(TimeSpan.FromSeconds 10.)) "given up on"
                Expect.equal accepted.Error SocketError.TimedOut "TimedOut"

            testCase "an impairment out of range is refused at start, naming it"
            <| fun () ->
                let struct (a, _) = MemoryDevice.CreatePair()

                let error =
                    Expect.throwsC
                        (fun () ->
                            TcpStack.Start(
                                TcpStackOptions(
                                    Address = addressA,
                                    Device = a,
                                    InboundImpairment = LinkImpairment(Loss = 1.5)
                                )
                            )
                            |> ignore)
                        id

                Expect.stringContains error.Message "InboundImpairment.Loss is a chance from 0 to 1" "names it"

            testCase "a connection's own buffer sizes: the window it offers is bounded by them"
            <| fun () ->
                withPair (fun stackA stackB ->
                    let own = TcpConnectionOptions(SendBufferSize = 8192, ReceiveBufferSize = 16384)

                    use listener =
                        stackB.Listen(7, options = TcpConnectionOptions(ReceiveBufferSize = 8192))

                    let accepting = listener.AcceptAsync().AsTask()

                    let client =
                        stackA.ConnectAsync(Net.IPEndPoint(addressB, 7), own, Threading.CancellationToken.None)
                        |> within 10.

                    let server = accepting |> within 10.

                    Expect.equal
                        (client.SendBufferSize, client.ReceiveBufferSize)
                        (8192, 16384)
                        "the connection's sizes"

                    Expect.equal server.ReceiveBufferSize 8192 "the listener's size"
                    Expect.equal server.SendBufferSize (256 * 1024) "the stack's size where the listener sets none"

                    // The client never reads: what reaches it stops at its own receive
                    // buffer, not at the stack's 256 KiB, and the server keeps the rest.
                    let writing =
                        server.WriteAsync(ReadOnlyMemory(Array.zeroCreate<byte> 100_000)).AsTask()

                    let deadline = DateTime.UtcNow.AddSeconds 10.

                    while client.Unread = 0L && DateTime.UtcNow < deadline do
                        Threading.Thread.Sleep 20

                    Threading.Thread.Sleep 300
                    Expect.isGreaterThan client.Unread 0L "bytes arrived"
                    Expect.isLessThanOrEqual client.Unread 16384L "no more than the client's receive buffer"
                    Expect.isGreaterThan server.Unacknowledged 0L "the server holds the rest"
                    client.Abort()
                    server.Abort()

                    writing.ContinueWith(fun (_: Task) -> ()).Wait(TimeSpan.FromSeconds 10.)
                    |> ignore)

            testCase "a buffer size that is not a power of two is refused, naming it"
            <| fun () ->
                withPair (fun _ stackB ->
                    let error =
                        Expect.throwsC
                            (fun () ->
                                stackB.Listen(9, options = TcpConnectionOptions(ReceiveBufferSize = 5000))
                                |> ignore)
                            id

                    Expect.stringContains error.Message "ReceiveBufferSize must be a power of two" "names it")
        ]
