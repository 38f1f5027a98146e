/// `tcpstack send` and `tcpstack recv`: bulk transfer through the stack, with progress,
/// ending with the byte count and the SHA-256 of what was sent or received.
module Stack.Cli.TransferCommand

open System
open System.Net
open System.Security.Cryptography
open Argu
open Stack.Cli.Progress
open Stack.Shell

type SendArgs =
    | [<Mandatory>] To of endpoint: string
    | Bytes of count: int64
    | [<GatherUnrecognized; Hidden>] Stack_Option of text: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | To _ -> "where to send, as ADDRESS:PORT (the kernel side is 10.7.0.1 by default)."
            | Bytes _ -> "how many bytes to send (default 1048576)."
            | Stack_Option _ -> "the stack's options."

type RecvArgs =
    | [<Mandatory>] Port of port: int
    | [<GatherUnrecognized; Hidden>] Stack_Option of text: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Port _ -> "the port to receive one connection on."
            | Stack_Option _ -> "the stack's options."

let private endpoint (text: string) =
    match IPEndPoint.TryParse text with
    | true, e when e.AddressFamily = Sockets.AddressFamily.InterNetwork && e.Port > 0 -> e
    | _ -> failwith $"--to: '{text}' is not ADDRESS:PORT (such as 10.7.0.1:5001)"

let private finish (verb: string) (count: int64) (hash: IncrementalHash) (progress: Progress) =
    progress.Done count

    Console.Out.WriteLine
        $"{verb} {count} bytes in {progress.Elapsed.TotalSeconds:F2} s ({progress.Rate count:F1} Mbit/s)"

    Console.Out.WriteLine $"sha256 {Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant()}"

let runSend (args: ParseResults<SendArgs>) =
    let target = endpoint (args.GetResult To)
    let total = args.GetResult(Bytes, 1L <<< 20)

    if total < 0L then
        failwith "--bytes must not be negative"

    let cancel, _signals = StackArgs.interrupted ()

    let stack =
        StackArgs.start (StackArgs.parse "send" (args.GetResults SendArgs.Stack_Option))

    try
        let c = stack.ConnectAsync(target, cancel.Token).Result
        use hash = IncrementalHash.CreateHash HashAlgorithmName.SHA256
        let progress = Progress("send", Some total)
        let rng = Random 1
        let chunk = Array.zeroCreate<byte> 65536
        let mutable sent = 0L

        while sent < total do
            let n = int (min 65536L (total - sent))
            rng.NextBytes(chunk.AsSpan(0, n))
            hash.AppendData(chunk, 0, n)
            c.WriteAsync(ReadOnlyMemory(chunk, 0, n), cancel.Token).AsTask().Wait()
            sent <- sent + int64 n
            progress.Update sent

        c.CloseAsync(cancel.Token).Wait(TimeSpan.FromSeconds 30.) |> ignore
        finish "sent" sent hash progress
        0
    finally
        stack.DisposeAsync().AsTask().Wait()

let runRecv (args: ParseResults<RecvArgs>) =
    let port = args.GetResult Port

    if port < 1 || port > 65535 then
        failwith $"port {port} is out of range: use 1 to 65535"

    let cancel, _signals = StackArgs.interrupted ()

    let stack =
        StackArgs.start (StackArgs.parse "recv" (args.GetResults RecvArgs.Stack_Option))

    try
        use listener = stack.Listen port
        Console.Out.WriteLine $"listening on {stack.Address}:{port}"
        Console.Out.Flush()
        let c = listener.AcceptAsync(cancel.Token).AsTask().Result
        use hash = IncrementalHash.CreateHash HashAlgorithmName.SHA256
        let progress = Progress("recv", None)
        let buffer = Array.zeroCreate<byte> 65536
        let mutable received = 0L
        let mutable go = true

        while go do
            let n = c.ReadAsync(buffer.AsMemory(), cancel.Token).AsTask().Result

            if n = 0 then
                go <- false
            else
                hash.AppendData(buffer, 0, n)
                received <- received + int64 n
                progress.Update received

        c.CloseAsync(cancel.Token).Wait(TimeSpan.FromSeconds 30.) |> ignore
        finish "received" received hash progress
        0
    finally
        stack.DisposeAsync().AsTask().Wait()
