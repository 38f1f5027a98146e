module Stack.Cli.Program

open System
open Argu
open Stack.Cli.DecodeCommand
open Stack.Cli.CraftCommand
open Stack.Cli.SimCommand
open Stack.Cli.BenchCommand

type Command =
    | [<CliPrefix(CliPrefix.None)>] Decode of ParseResults<DecodeArgs>
    | [<CliPrefix(CliPrefix.None)>] Craft of ParseResults<CraftArgs>
    | [<CliPrefix(CliPrefix.None)>] Sim of ParseResults<SimArgs>
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<BenchArgs>

    interface IArgParserTemplate with
        member c.Usage =
            match c with
            | Decode _ -> "print packets (hex or pcap) layer by layer, or as JSON."
            | Craft _ -> "build one TCP/IPv4 packet with checksums filled in."
            | Sim _ -> "run two hosts on the deterministic network simulator and check their transfer."
            | Bench _ -> "measure the stack on a TUN device against the Linux kernel (as root)."

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<Command>(programName = "tcpstack")

    try
        let results = parser.ParseCommandLine(argv, raiseOnUsage = true)

        match results.GetSubCommand() with
        | Decode args -> DecodeCommand.run args Console.In Console.Out
        | Craft args -> CraftCommand.run args Console.Out
        | Sim args -> SimCommand.run args Console.Out
        | Bench args -> BenchCommand.run args Console.Out
    with
    | :? ArguParseException as e ->
        let helpAsked = e.ErrorCode = ErrorCode.HelpText
        (if helpAsked then Console.Out else Console.Error).WriteLine e.Message
        if helpAsked then 0 else 2
    | Failure message ->
        eprintfn "tcpstack: %s" message
        2
