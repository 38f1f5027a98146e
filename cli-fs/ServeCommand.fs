/// `tcpstack serve` and `tcpstack echo`: the classic test services on the stack: echo
/// (RFC 862), discard (RFC 863), and source (the client sends an 8-byte little-endian
/// count, the server sends that many bytes and closes).
module Stack.Cli.ServeCommand

open System
open System.Buffers.Binary
open System.IO
open System.Threading
open System.Threading.Tasks
open Argu
open Stack.Shell

type ServeArgs =
    | Echo of port: int
    | Discard of port: int
    | Source of port: int
    | Max_Conns of count: int
    | Top
    | [<GatherUnrecognized; Hidden>] Stack_Option of text: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Echo _ -> "serve echo (RFC 862) on this port."
            | Discard _ -> "serve discard (RFC 863) on this port."
            | Source _ -> "serve source on this port: read an 8-byte little-endian count, send that many bytes, close."
            | Max_Conns _ -> "stop after serving this many connections, 1 or more (default: until Ctrl-C)."
            | Top ->
                "show the connections live (state, bytes, rates, cwnd, SRTT, retransmissions), refreshed every second."
            | Stack_Option _ -> "the stack's options (tcpstack options --help)."

type EchoArgs =
    | Port of port: int
    | Max_Conns of count: int
    | Top
    | [<GatherUnrecognized; Hidden>] Stack_Option of text: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Port _ -> "the port to echo on, 1 to 65535 (default 7)."
            | Max_Conns _ -> "stop after serving this many connections, 1 or more (default: until Ctrl-C)."
            | Top ->
                "show the connections live (state, bytes, rates, cwnd, SRTT, retransmissions), refreshed every second."
            | Stack_Option _ -> "the stack's options."

type Service =
    | EchoService
    | DiscardService
    | SourceService

/// Connections that ended in an error, by message. A busy server sees thousands (a
/// client that resets instead of closing), so each kind is told once when first seen and
/// the counts when the server stops, not a line per connection.
type ErrorTally() =
    let counts = Collections.Concurrent.ConcurrentDictionary<string, int>()

    member _.Add(message: string) =
        if counts.AddOrUpdate(message, 1, fun _ n -> n + 1) = 1 then
            eprintfn "tcpstack: a connection ended: %s (more like it are counted, not shown)" message

    member _.Summary() =
        [
            for KeyValue(message, n) in counts |> Seq.sortByDescending _.Value ->
                $"tcpstack: {n} connection(s) ended: {message}"
        ]

let private serve (tally: ErrorTally) (service: Service) (c: TcpStackConnection) : Task =
    task {
        try
            match service with
            | EchoService ->
                do! c.Stream.CopyToAsync c.Stream
                c.ShutdownWrite()
            | DiscardService ->
                do! c.Stream.CopyToAsync Stream.Null
                c.ShutdownWrite()
            | SourceService ->
                let count = Array.zeroCreate<byte> 8
                do! c.Stream.ReadExactlyAsync(count.AsMemory())
                let mutable left = BinaryPrimitives.ReadInt64LittleEndian count
                let chunk = Array.init 65536 (fun i -> byte (i % 251))

                while left > 0L do
                    let n = int (min left 65536L)
                    do! c.WriteAsync(ReadOnlyMemory(chunk, 0, n))
                    left <- left - int64 n

                c.ShutdownWrite()

            do! c.CloseAsync()
        with e ->
            tally.Add e.Message
            c.Abort()
    }

/// Runs the services until Ctrl-C or until `maxConns` connections were served. Every
/// value is checked before the stack starts.
let runServices
    (services: (Service * int) list)
    (maxConns: int option)
    (top: bool)
    (stackOptions: string list)
    (command: string)
    =
    let maxConns =
        maxConns |> Option.map (Validate.inRange "--max-conns" 1 Int32.MaxValue)

    StackArgs.run (StackArgs.parse command stackOptions) (fun stack cancel ->
        let served = ref 0
        let limit = defaultArg maxConns Int32.MaxValue
        use allServed = new CancellationTokenSource()

        use stop = CancellationTokenSource.CreateLinkedTokenSource(cancel, allServed.Token)

        let running = Collections.Concurrent.ConcurrentBag<Task>()
        let tally = ErrorTally()

        let accepting =
            [
                for service, port in services ->
                    let listener = stack.Listen port

                    let also6 =
                        match stack.Address6 with
                        | null -> ""
                        | a -> $" and [{a}]:{port}"

                    Console.Out.WriteLine $"listening on {stack.Address}:{port}{also6}"

                    task {
                        try
                            while not stop.IsCancellationRequested do
                                let! c = listener.AcceptAsync stop.Token

                                if Interlocked.Increment &served.contents >= limit then
                                    allServed.CancelAfter(0)

                                running.Add(serve tally service c)
                        with :? OperationCanceledException ->
                            listener.Dispose()
                    }
                    :> Task
            ]

        Console.Out.Flush()

        if top then
            TopView.show stack stop.Token

        Task.WhenAll(accepting).Wait()
        Task.WhenAll(running).Wait(TimeSpan.FromSeconds 30.) |> ignore

        for line in tally.Summary() do
            eprintfn "%s" line

        0)

/// The services asked for, each on a port of its own.
let private servicesOf (args: ParseResults<ServeArgs>) =
    let services =
        [
            for a in args.GetAllResults() do
                match a with
                | Echo port -> "--echo", EchoService, Validate.port "--echo" port
                | Discard port -> "--discard", DiscardService, Validate.port "--discard" port
                | Source port -> "--source", SourceService, Validate.port "--source" port
                | _ -> ()
        ]

    if services.IsEmpty then
        Validate.usage "serve needs at least one of --echo PORT, --discard PORT, --source PORT"

    for port, same in services |> List.groupBy (fun (_, _, port) -> port) do
        if same.Length > 1 then
            let names =
                same |> List.map (fun (name, _, _) -> $"{name} {port}") |> String.concat " and "

            Validate.usage $"{names}: one port serves one service; give each its own port (1 to 65535)"

    [ for _, service, port in services -> service, port ]

let run (args: ParseResults<ServeArgs>) =
    runServices
        (servicesOf args)
        (args.TryGetResult ServeArgs.Max_Conns)
        (args.Contains ServeArgs.Top)
        (args.GetResults ServeArgs.Stack_Option)
        "serve"

let runEcho (args: ParseResults<EchoArgs>) =
    runServices
        [ EchoService, Validate.port "--port" (args.GetResult(Port, 7)) ]
        (args.TryGetResult EchoArgs.Max_Conns)
        (args.Contains EchoArgs.Top)
        (args.GetResults EchoArgs.Stack_Option)
        "echo"
