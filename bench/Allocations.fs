/// Bytes allocated per segment in steady state, counted exactly by the runtime rather
/// than sampled: `dotnet run -c Release --project bench -- --allocations`.
module Stack.Bench.Allocations

open System
open Stack.Core
open Stack.Core.Sim
open Stack.Bench.EngineBenchmarks

/// Allocated bytes per segment over `rounds` rounds of a benchmark (each `Segments`
/// segments), after as many rounds of warm-up.
let private perSegment (rounds: int) (setup: unit -> unit) (round: unit -> 'a) =
    setup ()

    for _ in 1..rounds do
        round () |> ignore

    let before = GC.GetAllocatedBytesForCurrentThread()

    for _ in 1..rounds do
        round () |> ignore

    float (GC.GetAllocatedBytesForCurrentThread() - before)
    / float (rounds * Segments)

/// Allocated bytes per packet of the simulator's transfer (1 ms links, `loss` of the
/// packets dropped): what four more megabytes each way add to a 4 MB run, over the
/// packets they add.
let private simulatorPerPacket (loss: float) =
    let run (bytes: int64) =
        let config =
            { Transfer.defaults with
                Bytes = bytes
                Link =
                    { Impair.none with
                        DelayMicros = 1000L
                        Loss = loss
                    }
            }

        Transfer.run config |> ignore
        let before = GC.GetAllocatedBytesForCurrentThread()
        let r = Transfer.run config
        struct (GC.GetAllocatedBytesForCurrentThread() - before, r.PacketsSent)

    let struct (small, smallPackets) = run 4_000_000L
    let struct (large, largePackets) = run 8_000_000L
    float (large - small) / float (largePackets - smallPackets)

/// Prints the table and returns 0.
let report () =
    let values = ConnectionBenchmarks()
    let owned = OwnedConnectionBenchmarks()
    printfn "| engine step | bytes allocated per segment |"
    printfn "|---|---|"
    printfn $"| Connection (values) | %.1f{perSegment 200 values.Setup values.BulkTransferSegments} |"
    printfn $"| Connection.Owned (in place) | %.1f{perSegment 200 owned.Setup owned.BulkTransferSegments} |"
    let hosts = BackToBackBenchmarks()
    printfn $"| two hosts back to back, as values | %.1f{perSegment 200 hosts.Setup hosts.HostsAsValues} |"

    printfn
        $"| two hosts back to back, in place (Host.Owned) | %.1f{perSegment 200 (fun () -> ()) hosts.HostsInPlace} |"

    printfn $"| the simulator's transfer (no impairment), per packet | %.1f{simulatorPerPacket 0.0} |"
    printfn $"| the simulator's transfer, 2%% loss (the loss path), per packet | %.1f{simulatorPerPacket 0.02} |"

    0
