/// Byte streams with a known content and their SHA-256, for the commands and tests that
/// move data and check it arrived intact.
module Stack.Cli.Streams

open System
open System.Security.Cryptography
open System.Threading.Tasks

/// Writes `count` bytes of the stream seeded by `seed` through `write`; returns the
/// SHA-256 of what was written, in upper-case hex.
let send (write: ReadOnlyMemory<byte> -> Task) (seed: int) (count: int64) =
    task {
        use hash = IncrementalHash.CreateHash HashAlgorithmName.SHA256
        let rng = Random seed
        let chunk = Array.zeroCreate<byte> 65536
        let mutable left = count

        while left > 0L do
            let n = int (min 65536L left)
            rng.NextBytes(chunk.AsSpan(0, n))
            hash.AppendData(chunk, 0, n)
            do! write (ReadOnlyMemory(chunk, 0, n))
            left <- left - int64 n

        return Convert.ToHexString(hash.GetHashAndReset())
    }

/// Reads through `read` to the end of the stream; returns the byte count and the SHA-256
/// in upper-case hex.
let receive (read: Memory<byte> -> ValueTask<int>) =
    task {
        use hash = IncrementalHash.CreateHash HashAlgorithmName.SHA256
        let buffer = Array.zeroCreate<byte> 65536
        let mutable total = 0L
        let mutable go = true

        while go do
            let! n = read (Memory buffer)

            if n = 0 then
                go <- false
            else
                hash.AppendData(buffer, 0, n)
                total <- total + int64 n

        return total, Convert.ToHexString(hash.GetHashAndReset())
    }

/// Writes the stream seeded by `seed` through `write` until `stop` is cancelled; returns
/// the byte count and the SHA-256 of what was written.
let sendUntil (write: ReadOnlyMemory<byte> -> Task) (seed: int) (stop: Threading.CancellationToken) =
    task {
        use hash = IncrementalHash.CreateHash HashAlgorithmName.SHA256
        let rng = Random seed
        let chunk = Array.zeroCreate<byte> 65536
        let mutable total = 0L

        while not stop.IsCancellationRequested do
            rng.NextBytes chunk
            hash.AppendData chunk
            do! write (ReadOnlyMemory chunk)
            total <- total + int64 chunk.Length

        return total, Convert.ToHexString(hash.GetHashAndReset())
    }
