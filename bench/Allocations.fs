/// Bytes allocated per segment in steady state, counted exactly by the runtime rather
/// than sampled: `dotnet run -c Release --project bench -- --allocations`.
module Stack.Bench.Allocations

open System
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

    0
