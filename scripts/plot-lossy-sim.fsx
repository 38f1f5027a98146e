// Runs the simulator with loss and draws what happened: 300 kB each way over a link that
// loses 5% of packets each way with 10 ms of delay, captured (pcap) and traced (Chrome
// trace-event JSON), then `tcpstack plot` of both: time-sequence and throughput graphs
// per direction, and each connection's cwnd, flight, SRTT and RTO with its timeouts.
// Everything goes to ./lossy-sim*: open the PNGs or SVGs, or the .json in ui.perfetto.dev.
//
// Build first:            dotnet build Stack.sln -c Release
// Run from the repo root: dotnet fsi scripts/plot-lossy-sim.fsx [LOSS] [SEED]

#r "../core-fs/bin/Release/net10.0/Stack.Core.dll"

open System.Diagnostics
open System.IO
open Stack.Core
open Stack.Core.Sim

let args = fsi.CommandLineArgs |> Array.skip 1
let loss = if args.Length > 0 then float args[0] else 0.05
let seed = if args.Length > 1 then uint64 args[1] else 1UL

let result =
    Transfer.run
        { Transfer.defaults with
            Bytes = 300_000L
            Seed = seed
            Capture = true
            Trace = true
            Link =
                { Impair.none with
                    Loss = loss
                    DelayMicros = 10_000L
                }
        }

printfn
    "seed %d, loss %g: %s in %.1f ms of virtual time; retransmissions A %d, B %d; timeouts A %d, B %d"
    seed
    loss
    (if result.Completed then "completed" else "NOT completed")
    (float result.VirtualMicros / 1000.0)
    result.A.Retransmissions
    result.B.Retransmissions
    result.A.Timeouts
    result.B.Timeouts

File.WriteAllBytes("lossy-sim.pcap", result.Pcap.Value)
File.WriteAllText("lossy-sim.json", result.Trace.Value)

let tcpstack =
    Path.Combine(__SOURCE_DIRECTORY__, "..", "cli-fs", "bin", "Release", "net10.0", "tcpstack.dll")

for file in [ "lossy-sim.pcap"; "lossy-sim.json" ] do
    use plot = Process.Start("dotnet", [ tcpstack; "plot"; file ])
    plot.WaitForExit()
