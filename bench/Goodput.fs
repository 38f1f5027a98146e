/// Goodput of the engine on a rate-limited simulated link, against the link rate and the
/// Mathis bound (MSS / RTT x 1.22 / sqrt(p)). Virtual time, so the figures are exact and
/// the same on every machine: `dotnet run -c Release --project bench -- --goodput`.
module Stack.Bench.Goodput

open Stack.Core
open Stack.Core.Sim

let private rateBitsPerSecond = 100_000_000L
let private delayMicros = 10_000L

/// A one-way transfer of `bytes` from A to B on the rate-limited link with this loss
/// (both ways) and one-way delay, with 4 MiB buffers.
let private oneWay (loss: float) (delay: int64) (bytes: int64) (seed: uint64) =
    Transfer.run
        { Transfer.defaults with
            Bytes = bytes
            BytesBack = Some 0L
            Seed = seed
            TimeLimitMicros = 3_600_000_000L
            Link =
                { Impair.none with
                    Loss = loss
                    DelayMicros = delay
                    RateBitsPerSecond = rateBitsPerSecond
                    QueueLimitBytes = 300_000L
                }
            Connection =
                { Transfer.defaults.Connection with
                    SendBufferSize = 4 <<< 20
                    ReceiveBufferSize = 4 <<< 20
                }
        }

let private run (loss: float) (bytes: int64) =
    let r = oneWay loss delayMicros bytes Transfer.defaults.Seed
    let seconds = float r.VirtualMicros / 1e6
    r, float bytes * 8.0 / seconds

/// The Padhye model's throughput in bytes per second (TCP Reno with timeouts, 1998):
/// loss probability `p`, round trip `rtt` and timeout `t0` in seconds, `b` segments
/// acknowledged per ACK, capped by `wmax` bytes per round trip.
let padhye (mss: float) (rtt: float) (t0: float) (b: float) (wmax: float) (p: float) =
    if p <= 0.0 then
        wmax / rtt
    else
        let perSegment =
            rtt * sqrt (2.0 * b * p / 3.0)
            + t0 * min 1.0 (3.0 * sqrt (3.0 * b * p / 8.0)) * p * (1.0 + 32.0 * p * p)

        min (wmax / rtt) (mss / perSegment)

/// One seed of a one-way transfer of `bytes` over a link with this loss (both ways) and
/// one-way delay: the goodput in bytes per second of virtual time, and whether it ended.
let private sweepRun (loss: float) (delayMicros: int64) (bytes: int64) (seed: uint64) =
    let r = oneWay loss delayMicros bytes seed
    float bytes / (float r.VirtualMicros / 1e6), r.Completed

/// 1 MiB each way at 25% loss (both directions), in seconds of virtual time.
let private lossyMegabyte (rttMs: float) (seed: uint64) =
    let r =
        Transfer.run
            { Transfer.defaults with
                Bytes = 1048576L
                Seed = seed
                TimeLimitMicros = 3_600_000_000L
                Link =
                    { Impair.none with
                        Loss = 0.25
                        DelayMicros = int64 (rttMs * 500.0)
                    }
            }

    if r.Completed then
        (float r.VirtualMicros / 1e6).ToString("F1")
    else
        "not completed"

/// The loss sweep: loss 0-30% both ways, RTT 0.1, 10 and 100 ms, the median of three
/// seeds against the Padhye model (b = 2, as the receiver ACKs every second segment; T0
/// the larger of 200 ms and three RTTs), each transfer sized to last about 20 s at the
/// model's rate; then 1 MiB each way at 25% loss, five seeds, against 30 s. Prints the
/// tables and returns 0.
let sweep () =
    let mss = 1448.0
    // The link's rate in payload bytes: 1448 of every 1500 bytes on the wire.
    let link = float rateBitsPerSecond / 8.0 * mss / 1500.0
    printfn "One-way goodput, link 100 Mbit/s, 300 kB queue, loss on both directions, MSS 1448, median of 3 seeds"
    printfn "| RTT | loss | bytes | goodput Mbit/s | Padhye model Mbit/s | ratio |"
    printfn "|---|---|---|---|---|---|"
    let mutable below = 0

    for rttMs in [ 0.1; 10.0; 100.0 ] do
        for loss in [ 0.0; 0.001; 0.01; 0.02; 0.05; 0.1; 0.2; 0.3 ] do
            let rtt = rttMs / 1000.0

            let model =
                min link (padhye mss rtt (max 0.2 (3.0 * rtt)) 2.0 (4.0 * 1048576.0) loss)

            let bytes = int64 (max 200_000.0 (min 50_000_000.0 (model * 20.0)))

            let runs =
                [ 1UL; 2UL; 3UL ] |> List.map (sweepRun loss (int64 (rttMs * 500.0)) bytes)

            let goodput = runs |> List.map fst |> List.sort |> List.item 1
            let ended = if runs |> List.forall snd then "" else " (NOT COMPLETED)"

            if goodput < model then
                below <- below + 1

            printfn
                "| %g ms | %g%% | %d | %.3f%s | %.3f | %.2f |"
                rttMs
                (loss * 100.0)
                bytes
                (goodput * 8.0 / 1e6)
                ended
                (model * 8.0 / 1e6)
                (goodput / model)

    printfn "rows below the model: %d" below
    printfn ""
    printfn "1 MiB each way at 25%% loss (both directions), seconds of virtual time (target: under 30)"
    printfn "| RTT | seed 1 | seed 2 | seed 3 | seed 4 | seed 5 |"
    printfn "|---|---|---|---|---|---|"

    for rttMs in [ 0.1; 1.0; 10.0 ] do
        let times = [ 1UL .. 5UL ] |> List.map (lossyMegabyte rttMs)
        printfn "| %g ms | %s |" rttMs (String.concat " | " times)

    0

/// Prints the table and returns 0.
let report () =
    let mssBits = 1448.0 * 8.0
    // The path's smallest round trip: both delays and one full packet's serialisation.
    let rtt = 2.0 * float delayMicros / 1e6 + 1500.0 * 8.0 / float rateBitsPerSecond
    let link = float rateBitsPerSecond
    printfn "One-way transfer A to B, link 100 Mbit/s each way, 10 ms delay, 300 kB queue, MSS 1448 (timestamps on)"
    printfn "| loss | bytes | goodput Mbit/s | link rate | Mathis bound | target | ratio to target | retransmissions |"
    printfn "|---|---|---|---|---|---|---|---|"

    for loss, bytes in [ 0.0, 100_000_000L; 0.001, 20_000_000L; 0.01, 10_000_000L ] do
        let r, goodput = run loss bytes

        let mathis =
            if loss > 0.0 then
                mssBits / rtt * 1.22 / sqrt loss
            else
                infinity

        let target = if loss > 0.0 then 0.8 * min link mathis else 0.95 * link

        let completed = if r.Completed then "" else " (NOT COMPLETED)"
        let bound = if loss > 0.0 then (mathis / 1e6).ToString("F1") else "-"

        printfn
            $"| {loss * 100.0:G3}%% | {bytes} | {goodput / 1e6:F1}{completed} | {link / 1e6:F0} | {bound} | {target / 1e6:F1} | {goodput / target:F2} | {r.Retransmissions} |"

    0
