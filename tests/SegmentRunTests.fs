/// Segment runs for segmentation offload (the shell's `SegmentRun`): what a run gathers
/// must be exactly what the kernel's split of it gives back.
module Stack.Tests.SegmentRunTests

open Expecto
open FsCheck.FSharp
open Stack.Core.Host
open Stack.Core.Tcp
open Stack.Core.Wire
open Stack.Shell
open Stack.Tests.Generators

let private tuple (port: uint16) =
    {
        LocalAddress = Ipv4Address.Parse "10.0.0.1"
        LocalPort = port
        RemoteAddress = Ipv4Address.Parse "10.0.0.2"
        RemotePort = 80us
    }

/// One segment a connection might send next: usually the next full one, sometimes short,
/// pushed, of another connection, with a moved ACK or window, or not continuing.
let private segments =
    gen {
        let! n = Gen.choose (1, 60)

        let! kinds =
            Gen.listOfLength n (Gen.frequency [ 12, Gen.constant 0; 1, Gen.choose (1, 6) ])

        let mutable seq = 1000u
        let mutable ack = 5u
        let mutable window = 500us
        let mutable out = []

        for k in kinds do
            let port = if k = 1 then 2us else 1us
            let length = if k = 2 then 700 else 1448

            let flags =
                if k = 3 then
                    TcpFlags.Ack ||| TcpFlags.Psh
                else
                    TcpFlags.Ack

            if k = 4 then
                ack <- ack + 1u

            if k = 5 then
                window <- window + 1us

            if k = 6 then
                seq <- seq + 1u

            let header =
                { Tcp.header port 80us with
                    SequenceNumber = seq
                    AcknowledgmentNumber = ack
                    Flags = flags
                    Window = window
                }

            out <-
                (tuple port,
                 {
                     Header = header
                     PayloadLength = length
                 })
                :: out

            seq <- seq + uint32 length

        return List.rev out
    }

/// Fills a segment's payload with its sequence numbers' low bytes, so misplaced bytes show.
let private fillFrom (seq: uint32) (span: System.Span<byte>) =
    for i in 0 .. span.Length - 1 do
        span[i] <- byte (seq + uint32 i)

/// Gathers runs the way the shell writes segments; returns each run as its segment, the
/// size the kernel splits it by, its count and its payload.
let private gather (input: (FourTuple * Outgoing) list) =
    let run = SegmentRun()
    let runs = ResizeArray()

    let flush () =
        if run.Count > 0 then
            runs.Add(run.Tuple, run.Segment, run.SegmentSize, run.Count, run.Payload.ToArray())
            run.Clear()

    for (t, s) in input do
        if run.Continues(t, s) then
            fillFrom s.Header.SequenceNumber (run.Append s)
        else
            flush ()
            fillFrom s.Header.SequenceNumber (run.Start(t, s))

    flush ()
    List.ofSeq runs

[<Tests>]
let tests =
    testList
        "Segment runs (segmentation offload)"
        [
            prop "a run split by its segment size gives back the segments it gathered, in order" segments (fun input ->
                let split =
                    gather input
                    |> List.collect (fun (t, s, size, count, payload) ->
                        let pieces = List.init count (fun i -> i * size)

                        pieces
                        |> List.map (fun offset ->
                            let length = min size (payload.Length - offset)
                            let seq = s.Header.SequenceNumber + uint32 offset

                            let bytesRight =
                                Array.forall
                                    id
                                    (Array.init length (fun i -> payload[offset + i] = byte (seq + uint32 i)))

                            t, seq, length, s.Header.AcknowledgmentNumber, s.Header.Window, bytesRight))

                let given =
                    input
                    |> List.map (fun (t, s) ->
                        t,
                        s.Header.SequenceNumber,
                        s.PayloadLength,
                        s.Header.AcknowledgmentNumber,
                        s.Header.Window,
                        true)

                split = given)

            prop "only the last segment of a run may have carried PSH, and the run keeps it" segments (fun input ->
                let pushed (s: Outgoing) =
                    s.Header.Flags &&& TcpFlags.Psh = TcpFlags.Psh

                let runs = gather input
                let mutable at = 0

                runs
                |> List.forall (fun (_, s, _, count, _) ->
                    let members = input |> List.skip at |> List.take count |> List.map snd
                    at <- at + count
                    let earlier = members |> List.take (count - 1)
                    not (List.exists pushed earlier) && pushed s = pushed (List.last members)))
        ]
