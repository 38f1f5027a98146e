/// `tcpstack plot` and the time-sequence view under it: what it reads from a capture
/// agrees with the simulator that made it and with tshark, and it writes its graphs.
module Stack.Tests.PlotTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Stack.Core
open Stack.Core.Sim
open Stack.Cli

/// A simulated transfer with loss, captured at each sender (before the link's losses).
/// The names of the connection states, as the trace writes them.
let private stateNames =
    Reflection.FSharpType.GetUnionCases typeof<Stack.Core.Tcp.State>
    |> Array.map (fun c -> c.Name)
    |> List.ofArray

let private lossyRun (seed: uint64) =
    Transfer.run
        { Transfer.defaults with
            Bytes = 200_000L
            Seed = seed
            Capture = true
            Link =
                { Impair.none with
                    Loss = 0.05
                    DelayMicros = 5_000L
                }
        }

let private flowsOf (pcap: byte array) =
    match TimeSequence.ofPcap pcap with
    | Ok flows -> flows
    | Error e -> failtest e

let private flowFrom (source: string) (flows: TimeSequence.Flow list) =
    flows
    |> List.find (fun f -> f.Source.StartsWith source && not f.Segments.IsEmpty)

/// tshark's count of the capture's packets that match `filter`.
let private tsharkCount (pcap: string) (filter: string) =
    let psi = ProcessStartInfo("tshark", [ "-r"; pcap; "-Y"; filter ])
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    psi.UseShellExecute <- false
    use p = Process.Start psi
    let out = p.StandardOutput.ReadToEnd()
    p.WaitForExit()
    out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length

[<Tests>]
let tests =
    testList
        "plot"
        [
            testCase "a simulated transfer's view agrees with the simulator, seeds 1 to 20"
            <| fun () ->
                for seed in 1UL .. 20UL do
                    let r = lossyRun seed
                    let flows = flowsOf r.Pcap.Value

                    for side, source in [ r.A, "10.0.0.1"; r.B, "10.0.0.2" ] do
                        let flow = flowFrom source flows
                        let last = flow.Acks |> List.maxBy (fun a -> a.Ack)

                        Expect.equal
                            (int64 flow.Retransmissions)
                            side.Retransmissions
                            $"seed {seed}, {side.Name}: retransmissions as the sender counted them"

                        Expect.equal last.Ack 200_001L $"seed {seed}, {side.Name}: every byte and the FIN acknowledged"

                        let widest = flow.Acks |> List.map (fun a -> a.WindowEdge - a.Ack) |> List.max
                        Expect.isTrue flow.SawHandshake $"seed {seed}: both SYNs seen"

                        Expect.isTrue
                            (widest > 65_535L && widest <= 262_144L)
                            $"seed {seed}, {side.Name}: windows scaled as the SYNs said ({widest})"

                        let rates = TimeSequence.throughput flow
                        let width = fst rates[1] - fst rates[0]
                        let carried = rates |> List.sumBy (fun (_, bps) -> bps * width / 8.0)

                        Expect.floatClose
                            Accuracy.medium
                            carried
                            (float (last.Ack - flow.Acks.Head.Ack))
                            $"seed {seed}, {side.Name}: the throughput graph carries every byte acknowledged"

                        for s in flow.Sacks do
                            Expect.isTrue
                                (s.Left < s.Right && s.Right <= 200_001L)
                                $"seed {seed}: a SACK block in range"

            testCase "the kernel's capture: as many data segments and retransmissions as tshark finds"
            <| fun () ->
                if not (File.Exists "/usr/bin/tshark") then
                    if Environment.GetEnvironmentVariable "CI" = "true" then
                        failtest "tshark is missing in CI (the test command installs it)"
                    else
                        skiptest "tshark is not installed (apt-get install -y tshark)"

                let pcap = Generators.capturePath
                let flows = flowsOf (File.ReadAllBytes pcap)

                for flow in flows |> List.filter (fun f -> not f.Segments.IsEmpty) do
                    let port = flow.Source.Split(':')[1]

                    let data =
                        tsharkCount pcap $"tcp.srcport=={port} && (tcp.len>0 || tcp.flags.fin==1)"

                    // From a sender's capture, tshark calls a resent segment a
                    // retransmission, or out-of-order when it follows the first copy closely.
                    let again =
                        tsharkCount
                            pcap
                            $"tcp.srcport=={port} && (tcp.analysis.retransmission || tcp.analysis.fast_retransmission || tcp.analysis.spurious_retransmission || tcp.analysis.out_of_order)"

                    Expect.equal flow.Segments.Length data $"{flow.Source}: data segments"
                    Expect.equal flow.Retransmissions again $"{flow.Source}: retransmissions"

            testCase "tcpstack plot writes a PNG and an SVG for each direction with data"
            <| fun () ->
                let dir = Directory.CreateTempSubdirectory("tcpstack-plot-").FullName

                try
                    let pcap = Path.Combine(dir, "run.pcap")
                    File.WriteAllBytes(pcap, (lossyRun 3UL).Pcap.Value)
                    let run = CliTests.tcpstack "" [ "plot"; pcap; "--out"; Path.Combine(dir, "g") ]
                    Expect.equal run.Code 0 $"exit code ({run.Err})"
                    let pngs = Directory.GetFiles(dir, "g-*.png")
                    let svgs = Directory.GetFiles(dir, "g-*.svg")

                    Expect.equal
                        (pngs.Length, svgs.Length)
                        (4, 4)
                        "a time-sequence and a throughput graph per direction, in both formats"

                    for png in pngs do
                        let head = File.ReadAllBytes(png)[0..7]
                        Expect.equal head [| 0x89uy; 0x50uy; 0x4Euy; 0x47uy; 0x0Duy; 0x0Auy; 0x1Auy; 0x0Auy |] "PNG"

                    for svg in svgs do
                        Expect.stringContains (File.ReadAllText svg) "<svg" "SVG"

                    Expect.stringContains run.Out "retransmitted" "says what each graph holds"

                    let missing = CliTests.tcpstack "" [ "plot"; Path.Combine(dir, "none.pcap") ]
                    Expect.equal missing.Code 2 "a missing file"
                    Expect.stringContains missing.Err "does not exist" "says so"
                finally
                    Directory.Delete(dir, true)

            testCase
                "a simulated run's trace parses back and agrees with the run: tracks, counters, states, timeouts, the engine's notes"
            <| fun () ->
                for seed in [ 1UL; 2UL ] do
                    let r =
                        Transfer.run
                            { Transfer.defaults with
                                Bytes = 100_000L
                                Seed = seed
                                Trace = true
                                Link =
                                    { Impair.none with
                                        Loss = 0.2
                                        DelayMicros = 1_000L
                                    }
                            }

                    let tracks =
                        match TraceFile.parse r.Trace.Value with
                        | Ok t -> t
                        | Error e -> failtest e

                    Expect.equal (tracks |> List.map (fun t -> t.Name[0])) [ 'A'; 'B' ] $"seed {seed}: a track per side"

                    for side, track in [ r.A, tracks[0]; r.B, tracks[1] ] do
                        for counter in [ "cwnd (bytes)"; "flight (bytes)"; "srtt (us)"; "rto (us)" ] do
                            Expect.isTrue (track.Counters.ContainsKey counter) $"seed {seed}, {side.Name}: {counter}"

                        let events = track.Events |> List.map snd

                        Expect.equal
                            (events |> List.filter ((=) "retransmission timeout") |> List.length |> int64)
                            side.Timeouts
                            $"seed {seed}, {side.Name}: a timeout event per timeout"

                        Expect.contains
                            [ "SynSent"; "SynReceived"; "Established" ]
                            (List.head events)
                            $"seed {seed}, {side.Name}: traced from the handshake"

                        Expect.contains events "Established" $"seed {seed}, {side.Name}: established"

                        let states = events |> List.filter (fun e -> List.contains e stateNames)

                        Expect.equal
                            (List.last states)
                            $"{side.FinalState}"
                            $"seed {seed}, {side.Name}: the last state traced is the final one"

                        let cwnd = track.Counters["cwnd (bytes)"] |> List.map snd
                        Expect.isTrue (cwnd |> List.forall (fun v -> v >= 1448.0)) "cwnd never below a segment"

                        // The engine's own notes: RTT samples, and losses with their reasons.
                        let samples = track.Counters["rtt sample (us)"] |> List.map snd
                        Expect.isTrue (samples |> List.forall (fun v -> v >= 0.0)) "RTT samples"
                        Expect.isGreaterThan (List.length samples) 10 $"seed {seed}, {side.Name}: RTT samples"

                        let losses =
                            track.Details |> List.filter (fun (_, name, _) -> name.StartsWith "lost: ")

                        Expect.isNonEmpty losses $"seed {seed}, {side.Name}: losses at 20 percent loss, with reasons"

                        for (_, name, args) in losses do
                            Expect.isGreaterThan args["bytes"] 0.0 $"{name}: bytes newly judged lost"

                        let count name =
                            events |> List.filter ((=) name) |> List.length |> int64

                        Expect.isLessThanOrEqual
                            (count "lost: retransmission timeout")
                            side.Timeouts
                            "at most one timeout loss per timeout"

                        Expect.isGreaterThanOrEqual
                            (count "retransmission timer fired")
                            side.Timeouts
                            "the timer fired for each timeout"

                        Expect.isGreaterThan (count "retransmission timer armed") 0L "and was armed"

                let off =
                    Transfer.run
                        { Transfer.defaults with
                            Bytes = 10_000L
                        }

                Expect.isNone off.Trace "no trace unless asked for"

            testCase "tcpstack plot draws a trace's windows and RTT per connection"
            <| fun () ->
                let dir = Directory.CreateTempSubdirectory("tcpstack-trace-").FullName

                try
                    let trace = Path.Combine(dir, "run.json")

                    let sim =
                        CliTests.tcpstack "" [ "sim"; "--bytes"; "50000"; "--loss"; "10%"; "--trace"; trace ]

                    Expect.equal sim.Code 0 $"sim ({sim.Err})"
                    let run = CliTests.tcpstack "" [ "plot"; trace ]
                    Expect.equal run.Code 0 $"plot ({run.Err})"
                    Expect.equal (Directory.GetFiles(dir, "run-*-window.png").Length) 2 "a window graph per side"
                    Expect.equal (Directory.GetFiles(dir, "run-*-rtt.svg").Length) 2 "an RTT graph per side"

                    File.WriteAllText(Path.Combine(dir, "bad.json"), "{\"not\": 1}")
                    let bad = CliTests.tcpstack "" [ "plot"; Path.Combine(dir, "bad.json") ]
                    Expect.equal bad.Code 2 "not a trace"
                    Expect.stringContains bad.Err "no traceEvents" "says why"
                finally
                    Directory.Delete(dir, true)
        ]
