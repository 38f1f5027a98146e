/// The simulator as the engine's main test harness: transfers both ways over bad links,
/// over many seeds. A failing seed is printed with the `tcpstack sim` command that
/// replays it.
module Stack.Tests.SimTests

open System
open Argu
open Expecto
open Stack.Core
open Stack.Core.Sim
open Stack.Core.Tcp
open Stack.Cli.SimCommand
open Stack.Tests.Generators

let private parser = ArgumentParser.Create<SimArgs>(programName = "tcpstack sim")

/// The configuration `tcpstack sim` would run for these arguments.
let private configFor (args: string list) =
    configOf (parser.Parse(Array.ofList args))

/// The arguments of one seed's run: the link and the connection drawn from the seed:
/// up to 10% loss (one seed in four up to 30%), 10% duplication, 20% reordering, 1%
/// corruption, a one-way delay of 0.05 to 100 ms (RTT 0.1 to 200 ms), and jitter.
let argumentsFor (seed: uint64) =
    let mutable rng = Rng.create (seed * 7919UL)

    let draw (bound: int) =
        let struct (n, next) = Rng.nextBelow bound rng
        rng <- next
        n

    let percent (max: float) =
        $"{float (draw 1001) / 1000.0 * max:F3}%%"

    let bytes =
        match draw 10 with
        | 0 -> draw 3
        | 1 -> 200_000 + draw 300_000
        | _ -> draw 100_000

    let buffer = 1 <<< (10 + draw 9)

    [
        "--seed"
        string seed
        "--bytes"
        string bytes
        "--loss"
        percent (if draw 4 = 0 then 30.0 else 10.0)
        "--dup"
        percent 10.0
        "--reorder"
        percent 20.0
        "--corrupt"
        percent 1.0
        "--delay"
        (if draw 3 = 0 then "0.05" else string (draw 101))
        "--jitter"
        string (draw 6)
        "--mss"
        string (100 + draw 1361)
        "--buffer"
        string buffer
        "--time-limit"
        "900"
    ]
    @ [
        if draw 2 = 0 then
            "--no-timestamps"
        if draw 2 = 0 then
            "--no-sack"
        if draw 2 = 0 then
            "--no-window-scaling"
        if draw 2 = 0 then
            "--nodelay"
    ]

/// Why a run is not a success, if it is not.
let private problem (args: string list) (r: Transfer.Result) =
    let ended (s: State) = s = State.Closed || s = State.TimeWait

    if not r.Completed then
        Some(defaultArg r.Failure "not completed")
    elif not (r.A.Verified && r.B.Verified) then
        Some "a side did not verify what it received"
    elif not (ended r.A.FinalState && ended r.B.FinalState) then
        Some $"final states {r.A.FinalState} and {r.B.FinalState}, not CLOSED or TIME-WAIT"
    else
        None
    |> Option.map (fun why -> $"{why}; replay with: tcpstack sim {String.Join(' ', args)}")

let private seeds = 300 * soakFactor

[<Tests>]
let tests =
    testList
        "Simulator"
        [
            test $"random bytes both ways with half-close arrive intact over bad links ({seeds} seeds)" {
                let failures =
                    [
                        for seed in 1UL .. uint64 seeds do
                            let args = argumentsFor seed
                            let r = Transfer.run (configFor args)

                            match problem args r with
                            | Some p -> yield $"seed {seed}: {p}"
                            | None -> ()
                    ]

                Expect.isEmpty failures ("every seed completes:\n" + String.Join("\n", failures))
            }

            test "the same seed gives the same event log, and another seed another" {
                let args = argumentsFor 42UL

                let first =
                    Transfer.run
                        { configFor args with
                            KeepEvents = true
                        }

                let second =
                    Transfer.run
                        { configFor args with
                            KeepEvents = true
                        }

                let other = Transfer.run (configFor (argumentsFor 43UL))
                Expect.isGreaterThan first.Events.Length 10 "the log has the run in it"
                Expect.equal second.Events first.Events "same lines"
                Expect.equal second.EventLogSha256 first.EventLogSha256 "same hash"
                Expect.notEqual other.EventLogSha256 first.EventLogSha256 "another seed, another run"
            }

            test "zero and one byte each way complete, over a clean link and a lossy one" {
                for bytes in [ 0; 1 ] do
                    for loss in [ "0"; "20%" ] do
                        let args = [ "--bytes"; string bytes; "--loss"; loss; "--seed"; "3" ]
                        let r = Transfer.run (configFor args)
                        Expect.isNone (problem args r) $"{bytes} bytes, loss {loss}"
                        Expect.equal r.BytesVerified (2L * int64 bytes) "both directions counted"
            }

            test "a rate-limited link with a short queue drops packets, and the transfer still completes" {
                let args =
                    [
                        "--bytes"
                        "2000000"
                        "--bandwidth"
                        "10"
                        "--queue"
                        "15000"
                        "--delay"
                        "10"
                    ]

                let r =
                    Transfer.run
                        { configFor args with
                            KeepEvents = true
                        }

                Expect.isNone (problem args r) "completes"

                let queueDrops =
                    r.Events |> List.filter (fun l -> l.Contains "QueueFull") |> List.length

                Expect.isGreaterThan queueDrops 0 "congestion is real: the queue overflowed"
                Expect.isGreaterThan r.Retransmissions 0L "and the losses were repaired"
                // 2 MB each way cannot cross a 10 Mbit/s link faster than the link allows.
                Expect.isGreaterThan r.VirtualMicros 1_600_000L "the rate limit holds"
            }

            test "corrupted packets are caught by the checksum and repaired" {
                let args = [ "--bytes"; "300000"; "--corrupt"; "5%"; "--seed"; "9" ]
                let r = Transfer.run (configFor args)
                Expect.isNone (problem args r) "completes with every byte right"
                Expect.isGreaterThan r.Retransmissions 0L "corrupted segments were sent again"
            }

            test "the pcap of a run reads back with every packet in it" {
                let r =
                    Transfer.run
                        { configFor [ "--bytes"; "5000" ] with
                            Capture = true
                        }

                match r.Pcap with
                | Some bytes ->
                    match Stack.Core.Wire.Pcap.tryRead (ReadOnlySpan bytes) with
                    | Ok file -> Expect.equal (int64 file.Records.Length) r.PacketsSent "one record per packet"
                    | Error e -> failtest $"unreadable pcap: {e}"
                | None -> failtest "no capture"
            }

            test $"over IPv6, random bytes both ways arrive intact over bad links ({seeds / 5} seeds)" {
                let failures =
                    [
                        for seed in 1UL .. uint64 (seeds / 5) do
                            let args = argumentsFor (seed + 10_000UL) @ [ "--ipv6" ]
                            let r = Transfer.run (configFor args)

                            match problem args r with
                            | Some p -> yield $"seed {seed + 10_000UL}: {p}"
                            | None -> ()
                    ]

                Expect.isEmpty failures ("every seed completes:\n" + String.Join("\n", failures))
            }

            test "an IPv6 run's packets are TCP over IPv6 with valid checksums, and its MSS 20 bytes smaller" {
                let r =
                    Transfer.run
                        { configFor [ "--bytes"; "20000"; "--ipv6" ] with
                            Capture = true
                        }

                let file =
                    match r.Pcap |> Option.map (fun b -> b, Stack.Core.Wire.Pcap.tryRead (ReadOnlySpan b)) with
                    | Some(bytes, Ok file) -> bytes, file
                    | other -> failtestf "no readable capture: %A" (other |> Option.map snd)

                let bytes, f = file

                let decoded =
                    [
                        for record in f.Records ->
                            Stack.Core.Wire.Packet.decode6 (
                                ReadOnlySpan(bytes, record.DataOffset, record.CapturedLength)
                            )
                    ]

                Expect.isNonEmpty decoded "packets"

                for d in decoded do
                    match d with
                    | Ok {
                             Transport = Stack.Core.Wire.TcpTransport(_, valid, _)
                         } -> Expect.isTrue valid "TCP checksum"
                    | other -> failtestf "not TCP over IPv6: %A" other

                let mss =
                    decoded
                    |> List.pick (function
                        | Ok {
                                 Transport = Stack.Core.Wire.TcpTransport(_, _, options)
                             } ->
                            options
                            |> List.tryPick (function
                                | Stack.Core.Wire.Mss m -> Some(int m)
                                | _ -> None)
                        | _ -> None)

                Expect.equal mss (Stack.Core.Tcp.ConnectionOptions.defaults.Mss - 20) "the SYN's MSS"
            }
        ]
