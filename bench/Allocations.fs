/// Bytes allocated per segment in steady state, counted exactly by the runtime rather
/// than sampled: `dotnet run -c Release --project bench -- --allocations`.
module Stack.Bench.Allocations

open System
open Stack.Bench.EngineBenchmarks

/// Allocated bytes per segment over `rounds` rounds of the benchmark, after a warm-up.
let private perSegment (rounds: int) (setup: unit -> unit) (round: unit -> int) =
    setup ()

    for _ in 1..rounds do
        round () |> ignore

    let before = GC.GetAllocatedBytesForCurrentThread()
    let mutable segments = 0L

    for _ in 1..rounds do
        segments <- segments + int64 (round ())

    float (GC.GetAllocatedBytesForCurrentThread() - before) / float segments

/// Prints the table and returns 0.
let report () =
    let values = ConnectionBenchmarks()
    let owned = OwnedConnectionBenchmarks()
    printfn "| engine step | bytes allocated per segment |"
    printfn "|---|---|"
    printfn $"| Connection (values) | %.1f{perSegment 200 values.Setup values.BulkTransferSegments} |"
    printfn $"| Connection.Owned (in place) | %.1f{perSegment 200 owned.Setup owned.BulkTransferSegments} |"
    0
