/// `tcpstack decode`: packets as hex or from a pcap file, printed layer by layer or as JSON.
module Stack.Cli.DecodeCommand

open System
open System.IO
open Argu
open Stack.Core.Wire

type DecodeArgs =
    | [<MainCommand>] Packets of hex: string list
    | Pcap of file: string
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Packets _ -> "IPv4 packets as hex, one per argument (without any, reads one per line from stdin)."
            | Pcap _ -> "read the packets of a classic pcap file (raw IP or Ethernet link type)."
            | Json -> "print one JSON object per packet per line."

/// One input item: a packet's bytes, or why that item was not a packet.
type private Input =
    | Bytes of label: string * bytes: byte array
    | Unreadable of label: string * reason: string

let private ofHexLines (lines: string seq) =
    lines
    |> Seq.mapi (fun i line -> i + 1, line.Trim())
    |> Seq.filter (fun (_, line) -> line <> "" && not (line.StartsWith "#"))
    |> Seq.map (fun (n, line) ->
        match Hex.tryParse line with
        | Ok bytes -> Bytes($"line {n}", bytes)
        | Error why -> Unreadable($"line {n}", $"line {n} is not hex: {why}"))

let private ofPcap (path: string) =
    let bytes =
        try
            File.ReadAllBytes(Validate.readableFile "--pcap" path)
        with :? UnauthorizedAccessException ->
            Validate.setup $"--pcap {path}: cannot read it: permission denied"

    match Pcap.tryRead (ReadOnlySpan bytes) with
    | Error e -> Validate.usage $"--pcap {path}: not a readable pcap file: {ParseError.describe e}"
    | Ok file ->
        seq {
            for i, r in Array.indexed file.Records do
                let data = ReadOnlySpan(bytes, r.DataOffset, r.CapturedLength)

                match Pcap.ipRange file.LinkType data with
                | ValueSome(struct (offset, length)) ->
                    yield Bytes($"record {i + 1}", bytes.AsSpan(r.DataOffset + offset, length).ToArray())
                | ValueNone ->
                    yield
                        Unreadable(
                            $"record {i + 1}",
                            $"record {i + 1}: link type {file.LinkType} is not raw IP or IP over Ethernet"
                        )

            match file.TruncatedAtEnd with
            | Some e -> yield Unreadable("end", $"the file ends inside a record: {ParseError.describe e}")
            | None -> ()
        }
        |> Seq.toList
        |> Seq.ofList

/// Decodes the packets named by `args` and prints them to `out`. Returns the exit code:
/// 0 when every input item was readable hex or file data (even if not a valid packet).
let run (args: ParseResults<DecodeArgs>) (stdin: TextReader) (out: TextWriter) : int =
    let json = args.Contains Json

    let inputs =
        match args.TryGetResult Pcap, args.GetResult(Packets, defaultValue = []) with
        | Some _, _ :: _ -> Validate.usage "give packets as hex arguments or --pcap FILE, not both"
        | Some path, [] -> ofPcap path
        | None, [] ->
            let lines =
                seq {
                    let mutable line = stdin.ReadLine()

                    while not (isNull line) do
                        yield line
                        line <- stdin.ReadLine()
                }

            ofHexLines lines
        | None, hexes -> ofHexLines hexes

    let mutable inputErrors = 0
    let mutable count = 0

    for input in inputs do
        count <- count + 1

        match input with
        | Unreadable(_, reason) ->
            inputErrors <- inputErrors + 1

            if json then
                out.WriteLine(Json.error reason)
            else
                out.WriteLine $"-- {reason}"
        | Bytes(label, bytes) ->
            if json then
                out.WriteLine(Json.ofPacket (ReadOnlySpan bytes))
            else
                out.WriteLine $"-- {label}: {bytes.Length} bytes: {Pretty.summary (ReadOnlySpan bytes)}"
                out.Write(Pretty.packet (ReadOnlySpan bytes))
                out.WriteLine()

    if count = 0 then
        eprintfn "decode: no packets given (pass hex arguments, pipe hex lines to stdin, or use --pcap FILE)"

    if inputErrors > 0 then 1 else 0
