/// Runs the benchmarks:
///   dotnet run -c Release --project bench -- --filter '*'            full runs
///   dotnet run -c Release --project bench -- --filter '*' --quick    numbers in a minute or two
///   dotnet run -c Release --project bench -- --goodput               the simulated-link goodput table
///   dotnet run -c Release --project bench -- --sweep                 goodput at 0-30% loss against the Padhye model
///   dotnet run -c Release --project bench -- --allocations           bytes allocated per segment
///   dotnet run -c Release --project bench -- --trace-cost            events per second that tracing costs the simulator
/// Any other BenchmarkDotNet option (--list flat, --job, --exporters ...) passes through.
module Stack.Bench.Program

open BenchmarkDotNet.Configs
open BenchmarkDotNet.Jobs
open BenchmarkDotNet.Running
open BenchmarkDotNet.Toolchains.InProcess.Emit
open Stack.Bench.WireBenchmarks

/// BenchmarkDotNet's defaults plus the GB/s column, all results in one table.
let private baseConfig () =
    DefaultConfig.Instance.AddColumn(ThroughputColumn()).WithOptions(ConfigOptions.JoinSummary)

/// Few iterations, run in this process (no per-run project build): rougher numbers, fast.
let private quickJob =
    Job.ShortRun.WithWarmupCount(2).WithIterationCount(5).WithToolchain(InProcessEmitToolchain.Instance).WithId("Quick")

let private runBenchmarks (argv: string array) =
    let quick = argv |> Array.contains "--quick"
    let args = argv |> Array.filter (fun a -> a <> "--quick")

    let config =
        if quick then
            baseConfig().AddJob(quickJob)
        else
            baseConfig ()

    let summaries =
        BenchmarkSwitcher.FromAssembly(typeof<ThroughputColumn>.Assembly).Run(args, config)

    if summaries |> Seq.exists (fun s -> s.HasCriticalValidationErrors) then
        1
    else
        0

[<EntryPoint>]
let main argv =
    if argv |> Array.contains "--sweep" then
        Goodput.sweep ()
    elif argv |> Array.contains "--goodput" then
        Goodput.report ()
    elif argv |> Array.contains "--allocations" then
        Allocations.report ()
    elif argv |> Array.contains "--trace-cost" then
        TraceCost.report ()
    else
        runBenchmarks argv
