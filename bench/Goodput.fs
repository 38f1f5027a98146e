/// Goodput of the engine on a rate-limited simulated link, against the link rate and the
/// Mathis bound (MSS / RTT x 1.22 / sqrt(p)). Virtual time, so the figures are exact and
/// the same on every machine: `dotnet run -c Release --project bench -- --goodput`.
module Stack.Bench.Goodput

open Stack.Core
open Stack.Core.Sim

let private rateBitsPerSecond = 100_000_000L
let private delayMicros = 10_000L

let private run (loss: float) (bytes: int64) =
    let config =
        { Transfer.defaults with
            Bytes = bytes
            BytesBack = Some 0L
            Link =
                { Impair.none with
                    Loss = loss
                    DelayMicros = delayMicros
                    RateBitsPerSecond = rateBitsPerSecond
                    QueueLimitBytes = 300_000L
                }
            Connection =
                { Transfer.defaults.Connection with
                    SendBufferSize = 4 <<< 20
                    ReceiveBufferSize = 4 <<< 20
                }
        }

    let r = Transfer.run config
    let seconds = float r.VirtualMicros / 1e6
    r, float bytes * 8.0 / seconds

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
