/// The echo service the benchmarks run on the stack: each accepted connection gets back
/// what it sends.
module Stack.Cli.EchoLoop

open System
open System.Threading.Tasks
open Stack.Shell

/// Echoes until the peer closes, then closes; aborts if the connection fails.
let serve (bufferSize: int) (c: TcpStackConnection) : Task =
    task {
        let buffer = Array.zeroCreate<byte> bufferSize

        try
            let mutable go = true

            while go do
                let! n = c.ReadAsync(buffer.AsMemory())

                if n = 0 then
                    go <- false
                else
                    do! c.WriteAsync(ReadOnlyMemory(buffer, 0, n))

            do! c.CloseAsync()
        with _ ->
            c.Abort()
    }
