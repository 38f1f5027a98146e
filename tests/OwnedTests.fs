/// The in-place steps (`Connection.Owned`, `Host.Owned`): the same results as the value
/// steps, and nothing allocated per segment once a transfer is under way.
module Stack.Tests.OwnedTests

open System
open System.Collections.Generic
open Expecto
open Stack.Core.Host
open Stack.Core.Sim
open Stack.Core.Tcp
open Stack.Core.Wire

let private addressA = IpAddress.Parse "10.0.0.1"
let private addressB = IpAddress.Parse "10.0.0.2"

let private options =
    { ConnectionOptions.defaults with
        SendBufferSize = 1 <<< 18
        ReceiveBufferSize = 1 <<< 18
    }

[<Tests>]
let tests =
    testList
        "Owned steps"
        [
            test "hosts stepped in place send the same packets as hosts stepped as values" {
                let values = BackToBack(false, options, true)
                let owned = BackToBack(true, options, true)
                values.Connect()
                owned.Connect()
                values.Run 20_000
                owned.Run 20_000
                Expect.isGreaterThan values.Received 1_000_000L "a transfer happened"
                Expect.isGreaterThanOrEqual values.Checked values.Received "B compared every byte it read"
                Expect.equal values.Mismatches 0L "every byte B read was the one A sent"
                Expect.equal owned.Received values.Received "the same bytes read"
                let byValue, inPlace = values.Packets, owned.Packets
                Expect.equal inPlace.Count byValue.Count "the same number of packets"

                for i in 0 .. byValue.Count - 1 do
                    if inPlace[i] <> byValue[i] then
                        failtestf
                            "packet %d differs: %s vs %s"
                            i
                            (Convert.ToHexString inPlace[i])
                            (Convert.ToHexString byValue[i])
            }

            test "an owned host finds each connection after steps on another, and not once it is gone" {
                let connect host =
                    match Host.connect 0L addressB 80us host with
                    | Ok(struct (h, tuple, _)) -> h, tuple
                    | Error e -> failtestf "connect: %A" e

                let host, first = connect (Host.create (HostOptions.create addressA.Ipv4))
                let host, second = connect host
                let owned = Host.Owned.copy host
                let outbox = HostOutbox()

                let step tuple command =
                    match Host.Owned.command 1L tuple command owned outbox with
                    | Ok() -> ()
                    | Error e -> failtestf "command: %A" e

                let found tuple =
                    match owned.Find tuple with
                    | ValueSome c -> obj.ReferenceEquals(c, owned.Connections[tuple])
                    | ValueNone -> false

                step first (Command.Send 0)
                Expect.isTrue (found second) "the other connection, right after a step on the first"
                Expect.isTrue (found first) "the connection just stepped"
                step second (Command.Send 0)
                Expect.isTrue (found first) "the first again, after a step on the second"
                step first Command.Abort
                Expect.isFalse (owned.Connections.ContainsKey first) "an aborted connection leaves the table"
                Expect.isTrue (owned.Find first).IsNone "and is not found"
                Expect.isTrue (found second) "the other stays"
            }

            test "with Compare off, B reads the same stream without comparing it" {
                let comparing = BackToBack(true, options, false)
                let reading = BackToBack(true, options, false, Compare = false)

                for pair in [ comparing; reading ] do
                    pair.Connect()
                    pair.Run 5_000

                Expect.isGreaterThan reading.Received 100_000L "a transfer happened"
                Expect.equal reading.Received comparing.Received "the same bytes read"
                Expect.equal reading.Checked 0L "nothing compared"
                Expect.isGreaterThanOrEqual comparing.Checked comparing.Received "every byte read compared"
            }

            test "two hosts in place over IPv6 carry the stream intact, as over IPv4" {
                let v4 = BackToBack(true, options, false)
                let v6 = BackToBack(true, options, false, Ipv6 = true)

                for pair in [ v4; v6 ] do
                    pair.Connect()
                    pair.Run 5_000

                Expect.isGreaterThan v6.Received 100_000L "a transfer happened over IPv6"
                Expect.equal v6.Mismatches 0L "every byte the one A sent"
                Expect.isGreaterThanOrEqual v6.Checked v6.Received "every byte read compared"
                // Each IPv6 segment carries 20 bytes less, so the same packets carry less.
                Expect.isLessThan v6.Received v4.Received "smaller segments"
            }

            test "listen, accept and unlisten in place change the host as the value forms do" {
                let host = Host.create (HostOptions.create addressB.Ipv4)
                Expect.equal (Host.Owned.listen 80us 4 host) (Ok()) "listening"
                Expect.isTrue (host.Listeners.ContainsKey 80us) "the host itself listens now"
                Expect.equal (Host.Owned.listen 80us 4 host) (Error(AddressInUse 80us)) "a port listens once"
                Expect.isTrue (Host.listen 80us 4 host |> Result.isError) "as the value form says"
                Expect.equal (Host.Owned.accept 80us host) ValueNone "nothing to accept yet"
                Host.Owned.unlisten 0L 80us host (HostOutbox())
                Expect.isFalse (host.Listeners.ContainsKey 80us) "and stops"
            }

            test "a value step leaves the host it was given as it was" {
                let host = Host.create (HostOptions.create addressA.Ipv4)
                let struct (before, _) = Host.receive 0L (ReadOnlySpan [| 0x45uy |]) host
                Expect.equal host.Counters.Malformed 0L "the original counts nothing"
                Expect.equal before.Counters.Malformed 1L "the new host counts the packet"
            }

            test "hosts stepped in place allocate nothing per packet once the transfer is under way" {
                let pair = BackToBack(true, options, false)
                pair.Connect()
                // Warm up: the window opens, the buffers and outboxes reach their size.
                pair.Run 50_000
                let before = GC.GetAllocatedBytesForCurrentThread()
                pair.Run 50_000
                let allocated = GC.GetAllocatedBytesForCurrentThread() - before
                Expect.isGreaterThan pair.Received 10_000_000L "a transfer happened"
                Expect.equal pair.Mismatches 0L "every byte B read was the one A sent"
                Expect.equal allocated 0L "bytes allocated by 50,000 steps"
            }

            test "a connection stepped in place allocates nothing per segment" {
                let incoming (source: IpAddress) (destination: IpAddress) (o: Outgoing) =
                    {
                        Source = source
                        Destination = destination
                        Header = o.Header
                        PayloadLength = o.PayloadLength
                    }

                let struct (client, syn) =
                    Connection.connect options 0L addressA 40000us addressB 80us

                let server = Connection.Owned.copy (Connection.listen options addressB 80us)
                let client = Connection.Owned.copy client
                let box = Outbox()
                let toServer = Queue<Outgoing>(syn.Segments)
                let toClient = Queue<Outgoing>()
                let mutable now = 0L
                let mutable consumed = 0L

                let take (queue: Queue<Outgoing>) =
                    for o in box.Segments do
                        queue.Enqueue o

                let run (steps: int) =
                    for _ in 1..steps do
                        now <- now + 10L

                        if toServer.Count > 0 then
                            Connection.Owned.handleSegment
                                now
                                (incoming addressA addressB (toServer.Dequeue()))
                                server
                                box

                            take toClient
                            let readable = box.Readable

                            if readable > 0 then
                                consumed <- consumed + int64 readable
                                Connection.Owned.handleUser now (Command.Consumed readable) server box
                                take toClient
                        elif toClient.Count > 0 then
                            Connection.Owned.handleSegment
                                now
                                (incoming addressB addressA (toClient.Dequeue()))
                                client
                                box

                            take toServer

                            if client.SendSpace > 0 then
                                Connection.Owned.handleUser now (Command.Send client.SendSpace) client box
                                take toServer
                        else
                            now <- now + 100_000L
                            Connection.Owned.handleTimeout now client box
                            take toServer
                            Connection.Owned.handleTimeout now server box
                            take toClient

                run 50_000
                let before = GC.GetAllocatedBytesForCurrentThread()
                run 50_000
                let allocated = GC.GetAllocatedBytesForCurrentThread() - before
                Expect.isGreaterThan consumed 10_000_000L "a transfer happened"
                Expect.equal allocated 0L "bytes allocated by 50,000 steps"
            }
        ]
