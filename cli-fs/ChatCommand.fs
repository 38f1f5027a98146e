/// `tcpstack host` and `tcpstack peer`: the seed's two programs grown up. Two stacks, each
/// on its own TUN device in one namespace, with the kernel forwarding between them: the
/// host listens, the peer connects, and they exchange lines of text (given with --say, or
/// typed on stdin), each printing every packet it sees.
module Stack.Cli.ChatCommand

open System
open System.IO
open System.Text
open System.Threading.Tasks
open Argu
open Stack.Shell
open Stack.Shell.Device

type HostArgs =
    | Port of port: int
    | Say of message: string
    | Quiet
    | [<GatherUnrecognized; Hidden>] Stack_Option of text: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Port _ -> "the port to listen on (default 9999)."
            | Say _ -> "a line to send (repeatable); without any, lines typed on stdin are sent."
            | Quiet -> "do not print the packets."
            | Stack_Option _ -> "the stack's options."

type PeerArgs =
    | To of endpoint: string
    | Say of message: string
    | Quiet
    | [<GatherUnrecognized; Hidden>] Stack_Option of text: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | To _ -> "the host to connect to (default 10.7.1.2:9999; over IPv6 [fd00:7:1::2]:9999)."
            | Say _ -> "a line to send (repeatable); without any, lines typed on stdin are sent."
            | Quiet -> "do not print the packets."
            | Stack_Option _ -> "the stack's options."

/// The two sides' places: the host's device and addresses (kernel side and stack, each
/// family), and the peer's.
let private hostSide =
    "tcpstk-host", ("10.7.1.1/24", "10.7.1.2"), ("fd00:7:1::1/64", "fd00:7:1::2")

let private peerSide =
    "tcpstk-peer", ("10.7.2.1/24", "10.7.2.2"), ("fd00:7:2::1/64", "fd00:7:2::2")

/// Stack options for one side: its device, addresses and the shared namespace (default
/// tcpstack, with forwarding on so the kernel passes packets between the two devices).
let private sideOptions (tun, (kernel, address), (kernel6, address6)) (quiet: bool) (extra: string list) =
    let defaults =
        [
            "--tun"
            tun
            "--kernel-addr"
            kernel
            "--addr"
            address
            "--kernel-addr6"
            kernel6
            "--addr6"
            address6
        ]
        @ (if quiet then [] else [ "--log-packets" ])

    let args = StackArgs.parse "host/peer" (defaults @ extra)
    // Opened (made if missing) here, so that forwarding is on before the device comes;
    // disposing it at exit removes it only if this side made it.
    let ns = NetworkNamespace.Open(StackArgs.namespaceOf args)
    Namespaces.removeOnInterrupt [ ns.Name ]

    NetworkNamespace.RunIn(
        ns.Name,
        fun () ->
            File.WriteAllText("/proc/sys/net/ipv4/ip_forward", "1")
            File.WriteAllText("/proc/sys/net/ipv6/conf/all/forwarding", "1")
    )

    args, ns

/// Sends the lines, then half-closes; prints every line that arrives until the other side
/// closes.
let private talk (c: TcpStackConnection) (lines: string list option) =
    let sending =
        task {
            let send (line: string) =
                c.WriteAsync(ReadOnlyMemory(Encoding.UTF8.GetBytes(line + "\n"))).AsTask()

            match lines with
            | Some lines ->
                for line in lines do
                    do! send line
            | None ->
                let mutable line = Console.In.ReadLine()

                while not (isNull line) do
                    do! send line
                    line <- Console.In.ReadLine()

            c.ShutdownWrite()
        }

    use reader = new StreamReader(c.Stream, Encoding.UTF8)
    let mutable line = reader.ReadLine()

    while not (isNull line) do
        Console.Out.WriteLine $"received: {line}"
        line <- reader.ReadLine()

    sending.Wait()
    c.CloseAsync().Wait(TimeSpan.FromSeconds 10.) |> ignore

let private messages (said: string list) =
    if said.IsEmpty then None else Some said

let runHost (args: ParseResults<HostArgs>) =
    let port = Validate.port "--port" (args.GetResult(Port, 9999))

    let stackArgs, ns =
        sideOptions hostSide (args.Contains HostArgs.Quiet) (args.GetResults HostArgs.Stack_Option)

    use _ns = ns

    StackArgs.run stackArgs (fun stack cancel ->
        use listener = stack.Listen port

        let also6 =
            match stack.Address6 with
            | null -> ""
            | a -> $" and [{a}]:{port}"

        Console.Out.WriteLine $"listening on {stack.Address}:{port}{also6}"
        let c = listener.AcceptAsync(cancel).AsTask().Result
        Console.Out.WriteLine $"connected: {c.RemoteEndPoint}"
        talk c (messages (args.GetResults HostArgs.Say))
        0)

let runPeer (args: ParseResults<PeerArgs>) =
    let target = Validate.endpoint "--to" (args.GetResult(To, "10.7.1.2:9999"))

    let stackArgs, ns =
        sideOptions peerSide (args.Contains PeerArgs.Quiet) (args.GetResults PeerArgs.Stack_Option)

    use _ns = ns

    StackArgs.run stackArgs (fun stack cancel ->
        let c = stack.ConnectAsync(target, cancel).Result
        Console.Out.WriteLine $"connected: {c.LocalEndPoint} -> {c.RemoteEndPoint}"
        talk c (messages (args.GetResults PeerArgs.Say))
        0)
