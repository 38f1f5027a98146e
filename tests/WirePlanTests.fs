/// The wire plan of a batch (`WirePlan`): which pure ACKs a later segment stands in for,
/// and segment runs for segmentation offload, whose split by the kernel must give back
/// exactly the segments gathered.
module Stack.Tests.WirePlanTests

open Stack.Core.Host
open Stack.Core.Tcp
open Stack.Core.Wire
open Expecto
open FsCheck.FSharp
open Stack.Tests.Generators

let private tuple (port: uint16) =
    {
        LocalAddress = IpAddress.Parse "10.0.0.1"
        LocalPort = port
        RemoteAddress = IpAddress.Parse "10.0.0.2"
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

/// The writes a plan makes of segments.
let private plan (runs: bool) (input: (FourTuple * Outgoing) list) =
    let transmits = input |> List.map Segment |> List.toArray
    WirePlan().Plan(System.ReadOnlySpan transmits, runs).ToArray() |> List.ofArray

/// Runs of data and pure ACKs of up to three connections, each connection's ACK number
/// staying or climbing: what one read batch of a busy stack sends.
let private acksAndData =
    gen {
        let! n = Gen.choose (1, 40)

        let! picks =
            Gen.listOfLength n (Gen.zip3 (Gen.choose (1, 3)) (Gen.choose (0, 3)) (Gen.choose (0, 2)))

        let acks = Array.create 4 100u
        let seqs = Array.create 4 5000u

        return
            [
                for (port, kind, climb) in picks do
                    acks[port] <- acks[port] + uint32 climb
                    let data = kind = 0
                    let length = if data then 1448 else 0

                    let flags =
                        match kind with
                        | 3 -> TcpFlags.Ack ||| TcpFlags.Fin
                        | _ -> TcpFlags.Ack

                    let header =
                        { Tcp.header (uint16 port) 80us with
                            SequenceNumber = seqs[port]
                            AcknowledgmentNumber = acks[port]
                            Flags = flags
                            Window = 500us
                        }

                    seqs[port] <- seqs[port] + uint32 length

                    tuple (uint16 port),
                    {
                        Header = header
                        PayloadLength = length
                    }
            ]
    }

let private isPureAck (o: Outgoing) =
    o.PayloadLength = 0 && o.Header.Flags = TcpFlags.Ack

[<Tests>]
let tests =
    testList
        "Wire plan (ACK thinning, segment runs)"
        [
            prop "a run split by its segment size gives back the segments it gathered, in order" segments (fun input ->
                let split =
                    plan true input
                    |> List.collect (fun w ->
                        let s = w.Segment

                        List.init w.Count (fun i ->
                            let offset = i * w.SegmentSize
                            let length = min w.SegmentSize (s.PayloadLength - offset)

                            w.Tuple,
                            s.Header.SequenceNumber + uint32 offset,
                            length,
                            s.Header.AcknowledgmentNumber,
                            s.Header.Window))

                let given =
                    input
                    |> List.map (fun (t, s) ->
                        t, s.Header.SequenceNumber, s.PayloadLength, s.Header.AcknowledgmentNumber, s.Header.Window)

                split = given)

            prop "only the last segment of a run may have carried PSH, and the run keeps it" segments (fun input ->
                let pushed (s: Outgoing) =
                    s.Header.Flags &&& TcpFlags.Psh = TcpFlags.Psh

                let mutable at = 0

                plan true input
                |> List.forall (fun w ->
                    let s = w.Segment
                    let count = w.Count

                    let members = input |> List.skip at |> List.take count |> List.map snd
                    at <- at + count
                    let earlier = members |> List.take (count - 1)
                    not (List.exists pushed earlier) && pushed s = pushed (List.last members)))

            prop
                "a pure ACK is left out exactly when the next segment of its connection acknowledges more"
                acksAndData
                (fun input ->
                    let kept = plan false input |> List.map (fun w -> w.Tuple, w.Segment)

                    let expected =
                        input
                        |> List.indexed
                        |> List.filter (fun (i, (t, o)) ->
                            let later =
                                input
                                |> List.skip (i + 1)
                                |> List.tryFind (fun (t2, _) -> t2 = t)
                                |> Option.map snd

                            match later with
                            | Some n when isPureAck o ->
                                let standsIn =
                                    n.Header.Flags &&& TcpFlags.Ack = TcpFlags.Ack
                                    && SeqNum.gt
                                        (SeqNum n.Header.AcknowledgmentNumber)
                                        (SeqNum o.Header.AcknowledgmentNumber)

                                not standsIn
                            | _ -> true)
                        |> List.map snd

                    kept = expected)

            prop
                "every connection's last segment of the batch goes out, so its highest ACK does"
                acksAndData
                (fun input ->
                    let kept = plan false input |> List.map (fun w -> w.Tuple, w.Segment)

                    let lastOf t =
                        input |> List.findBack (fun (t2, _) -> t2 = t)

                    input
                    |> List.map fst
                    |> List.distinct
                    |> List.forall (fun t -> List.contains (lastOf t) kept))

            test "duplicate ACKs all go out: they tell the peer of a loss" {
                let ack =
                    tuple 1us,
                    {
                        Header =
                            { Tcp.header 1us 80us with
                                AcknowledgmentNumber = 7u
                                Flags = TcpFlags.Ack
                            }
                        PayloadLength = 0
                    }

                Expect.equal (plan true [ ack; ack; ack ]).Length 3 "three duplicate ACKs, three writes"
            }
        ]
