/// What tracing costs the simulator: a 64 MiB one-way transfer (1 ms each way, no loss,
/// then 1% loss) run with and without `Trace`, alternately, the fastest of several runs
/// each (the least disturbed by a shared machine), and the events written per second of
/// the wall time the trace added (the JSON text made at the end included). The target is
/// at least a million: `dotnet run -c Release --project bench -- --trace-cost`.
module Stack.Bench.TraceCost

open System.Diagnostics
open Stack.Core
open Stack.Core.Sim

let private config (loss: float) (trace: bool) =
    { Transfer.defaults with
        Bytes = 64L <<< 20
        BytesBack = Some 0L
        Trace = trace
        Link =
            { Impair.none with
                Loss = loss
                DelayMicros = 1_000L
            }
    }

/// One run's wall time in seconds, and its result.
let private timed (c: Transfer.Config) =
    let clock = Stopwatch.StartNew()
    let r = Transfer.run c
    clock.Elapsed.TotalSeconds, r

/// Events in a trace's JSON: one per line, between two lines of head and two of tail.
let private events (json: string) =
    json |> Seq.filter ((=) '\n') |> Seq.length |> fun lines -> lines - 3

let report () =
    printfn "| link | without trace (s) | with trace (s) | events | events per second of added time |"
    printfn "|---|---|---|---|---|"

    for loss in [ 0.0; 0.01 ] do
        // Warm up the JIT on both paths first.
        timed (config loss false) |> ignore
        let _, traced = timed (config loss true)
        let count = events traced.Trace.Value

        let runs =
            [
                for _ in 1..7 -> fst (timed (config loss false)), fst (timed (config loss true))
            ]

        let off = runs |> List.map fst |> List.min
        let on = runs |> List.map snd |> List.min
        let added = max 1e-6 (on - off)
        printfn $"| {loss * 100.0:F0}%% loss, 1 ms | {off:F3} | {on:F3} | {count:N0} | {float count / added:N0} |"

    0
