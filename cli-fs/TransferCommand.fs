/// `tcpstack send` and `tcpstack recv`: bulk transfer through the stack, with progress,
/// ending with the byte count and the SHA-256 of what was sent or received.
module Stack.Cli.TransferCommand

open System
open System.Threading.Tasks
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

let private finish (verb: string) (count: int64) (sha256: string) (progress: Progress) =
    progress.Done count

    Console.Out.WriteLine
        $"{verb} {count} bytes in {progress.Elapsed.TotalSeconds:F2} s ({progress.Rate count:F1} Mbit/s)"

    Console.Out.WriteLine $"sha256 {sha256.ToLowerInvariant()}"

let runSend (args: ParseResults<SendArgs>) =
    let target = Validate.endpoint "--to" (args.GetResult To)

    let total =
        args.GetResult(Bytes, 1L <<< 20) |> Validate.inRange "--bytes" 0L Int64.MaxValue

    StackArgs.run (StackArgs.parse "send" (args.GetResults SendArgs.Stack_Option)) (fun stack cancel ->
        let c = stack.ConnectAsync(target, cancel).Result
        let progress = Progress("send", Some total)
        let mutable sent = 0L

        let write (chunk: ReadOnlyMemory<byte>) : Task =
            task {
                do! c.WriteAsync(chunk, cancel)
                sent <- sent + int64 chunk.Length
                progress.Update sent
            }

        let sha256 = (Streams.send write 1 total).Result
        c.CloseAsync(cancel).Wait(TimeSpan.FromSeconds 30.) |> ignore
        finish "sent" sent sha256 progress
        0)

let runRecv (args: ParseResults<RecvArgs>) =
    let port = Validate.port "--port" (args.GetResult Port)

    StackArgs.run (StackArgs.parse "recv" (args.GetResults RecvArgs.Stack_Option)) (fun stack cancel ->
        use listener = stack.Listen port
        Console.Out.WriteLine $"listening on {stack.Address}:{port}"
        Console.Out.Flush()
        let c = listener.AcceptAsync(cancel).AsTask().Result
        let progress = Progress("recv", None)
        let mutable received = 0L

        let read (buffer: Memory<byte>) =
            task {
                let! n = c.ReadAsync(buffer, cancel)
                received <- received + int64 n
                progress.Update received
                return n
            }
            |> ValueTask<int>

        let count, sha256 = (Streams.receive read).Result
        c.CloseAsync(cancel).Wait(TimeSpan.FromSeconds 30.) |> ignore
        finish "received" count sha256 progress
        0)
