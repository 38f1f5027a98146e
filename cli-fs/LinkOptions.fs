/// The core's impairment options (as the CLI parses them) in the shell's own type.
module Stack.Cli.LinkOptions

open System
open Stack.Core
open Stack.Shell

let private micros (value: int64) = TimeSpan.FromMicroseconds(float value)

/// The same impairment as a `LinkImpairment` for `TcpStackOptions`.
let toShell (o: Impair.Options) =
    LinkImpairment(
        Loss = o.Loss,
        Duplicate = o.Duplicate,
        Reorder = o.Reorder,
        ReorderDelay = micros o.ReorderDelayMicros,
        Corrupt = o.Corrupt,
        Delay = micros o.DelayMicros,
        Jitter = micros o.JitterMicros,
        BitsPerSecond = o.RateBitsPerSecond,
        QueueBytes = o.QueueLimitBytes
    )
