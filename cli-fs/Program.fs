module Stack.Cli.Program

open System
open Argu
open Stack.Cli.DecodeCommand
open Stack.Cli.CraftCommand
open Stack.Cli.SimCommand
open Stack.Cli.PlotCommand
open Stack.Cli.BenchCommand
open Stack.Cli.ServeCommand
open Stack.Cli.TransferCommand
open Stack.Cli.DemoCommand
open Stack.Cli.ChatCommand
open Stack.Cli.SoakCommand

type Command =
    | [<CliPrefix(CliPrefix.None)>] Demo of ParseResults<DemoArgs>
    | [<CliPrefix(CliPrefix.None)>] Decode of ParseResults<DecodeArgs>
    | [<CliPrefix(CliPrefix.None)>] Craft of ParseResults<CraftArgs>
    | [<CliPrefix(CliPrefix.None)>] Sim of ParseResults<SimArgs>
    | [<CliPrefix(CliPrefix.None)>] Plot of ParseResults<PlotArgs>
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<BenchArgs>
    | [<CliPrefix(CliPrefix.None)>] Host of ParseResults<HostArgs>
    | [<CliPrefix(CliPrefix.None)>] Peer of ParseResults<PeerArgs>
    | [<CliPrefix(CliPrefix.None)>] Serve of ParseResults<ServeArgs>
    | [<CliPrefix(CliPrefix.None)>] Echo of ParseResults<EchoArgs>
    | [<CliPrefix(CliPrefix.None)>] Send of ParseResults<SendArgs>
    | [<CliPrefix(CliPrefix.None)>] Recv of ParseResults<RecvArgs>
    | [<CliPrefix(CliPrefix.None)>] Soak of ParseResults<SoakArgs>
    | [<CliPrefix(CliPrefix.None)>] Options of ParseResults<StackArgs.StackArgs>

    interface IArgParserTemplate with
        member c.Usage =
            match c with
            | Demo _ -> "the main job: a namespace, a TUN device, the stack on it, the kernel talking to it (as root)."
            | Decode _ -> "print packets (hex or pcap) layer by layer, or as JSON."
            | Craft _ -> "build one TCP/IPv4 packet with checksums filled in."
            | Sim _ -> "run two hosts on the deterministic network simulator and check their transfer."
            | Plot _ ->
                "draw a capture's time-sequence graphs (segments, retransmissions, ACKs, window, SACKs) as PNG and SVG."
            | Bench _ -> "measure the stack on a TUN device against the Linux kernel (as root)."
            | Host _ -> "the seed's host: a stack that listens and exchanges lines with the peer (as root)."
            | Peer _ -> "the seed's peer: a second stack, on its own device, that connects to the host (as root)."
            | Serve _ -> "serve echo, discard and source on the stack (as root)."
            | Echo _ -> "serve echo on the stack (as root)."
            | Send _ -> "send bytes from the stack to ADDRESS:PORT; prints their SHA-256 (as root)."
            | Recv _ -> "receive one connection's bytes on the stack; prints their SHA-256 (as root)."
            | Soak _ ->
                "two stacks in this process under bulk, request/response, churn, a SYN flood and junk at once; reports memory and errors (no root)."
            | Options _ -> "the options every command that runs a stack takes (--netns, --loss, --pcap, ...)."

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<Command>(programName = "tcpstack")

    try
        match parser.ParseCommandLine(argv, raiseOnUsage = true).GetSubCommand() with
        | Demo args -> DemoCommand.run args
        | Decode args -> DecodeCommand.run args Console.In Console.Out
        | Craft args -> CraftCommand.run args Console.Out
        | Sim args -> SimCommand.run args Console.Out
        | Plot args -> PlotCommand.run args Console.Out
        | Bench args -> BenchCommand.run args Console.Out
        | Host args -> ChatCommand.runHost args
        | Peer args -> ChatCommand.runPeer args
        | Serve args -> ServeCommand.run args
        | Echo args -> ServeCommand.runEcho args
        | Send args -> TransferCommand.runSend args
        | Recv args -> TransferCommand.runRecv args
        | Soak args -> SoakCommand.run args
        | Options _ ->
            Console.Out.WriteLine(StackArgs.usage ())
            0
    with
    | :? ArguParseException as e ->
        // Argu's own errors come with the usage, which shows what the option takes.
        if e.ErrorCode = ErrorCode.HelpText then
            Console.Out.WriteLine e.Message
            0
        else
            let message = e.Message

            let text =
                if message.StartsWith "ERROR: " then
                    message[7..]
                else
                    message

            Console.Error.WriteLine("tcpstack: " + text)
            2
    | e -> Failures.report e
