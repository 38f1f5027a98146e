/// `tcpstack craft`: one TCP/IPv4 packet from options, checksums filled in, as hex or
/// appended to a pcap file.
module Stack.Cli.CraftCommand

open System
open System.IO
open System.Text
open Argu
open Stack.Core.Wire

type CraftArgs =
    | Src of address: string
    | Dst of address: string
    | Sport of port: int
    | Dport of port: int
    | Flags of flags: string
    | Seq of number: uint32
    | Ack of number: uint32
    | Window of size: int
    | Mss of size: int
    | Wscale of shift: int
    | Sack_Permitted
    | Timestamps of pair: string
    | Payload of text: string
    | Payload_Hex of hex: string
    | Ttl of ttl: int
    | Id of id: int
    | Df
    | Pcap of file: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Src _ -> "source address, IPv4 or IPv6 (default 10.0.0.1, or fd00::1 when --dst is IPv6)."
            | Dst _ -> "destination address, of the source's family (default 10.0.0.2, or fd00::2 when --src is IPv6)."
            | Sport _ -> "source port (default 20)."
            | Dport _ -> "destination port (default 80)."
            | Flags _ -> "TCP flags as letters F S R P A U E C (default S), e.g. SA, or names like SYN,ACK."
            | Seq _ -> "sequence number (default 0)."
            | Ack _ -> "acknowledgment number (default 0)."
            | Window _ -> "window (default 8192)."
            | Mss _ -> "add an MSS option."
            | Wscale _ -> "add a window scale option (shift 0-14)."
            | Sack_Permitted -> "add a SACK-permitted option."
            | Timestamps _ -> "add a timestamps option, given as TSVAL,TSECR."
            | Payload _ -> "payload as UTF-8 text."
            | Payload_Hex _ -> "payload as hex."
            | Ttl _ -> "time to live (default 64)."
            | Id _ -> "IP identification (default 0)."
            | Df -> "set the don't-fragment flag."
            | Pcap _ -> "append the packet to this pcap file (created if missing) instead of printing hex."

let private flagLetters =
    [
        'F', TcpFlags.Fin
        'S', TcpFlags.Syn
        'R', TcpFlags.Rst
        'P', TcpFlags.Psh
        'A', TcpFlags.Ack
        'U', TcpFlags.Urg
        'E', TcpFlags.Ece
        'C', TcpFlags.Cwr
    ]
    |> Map.ofList

let private flagWords =
    [
        "FIN", TcpFlags.Fin
        "SYN", TcpFlags.Syn
        "RST", TcpFlags.Rst
        "PSH", TcpFlags.Psh
        "ACK", TcpFlags.Ack
        "URG", TcpFlags.Urg
        "ECE", TcpFlags.Ece
        "CWR", TcpFlags.Cwr
    ]
    |> Map.ofList

/// "SA", "S", "SYN,ACK", "syn+ack" or "" (no flags).
let parseFlags (text: string) : Result<TcpFlags, string> =
    let text = text.Trim().ToUpperInvariant()

    let words =
        text.Split([| ','; '+'; '|'; ' ' |], StringSplitOptions.RemoveEmptyEntries)

    let fromWords () =
        words
        |> Array.fold
            (fun acc w ->
                match acc, Map.tryFind w flagWords with
                | Ok f, Some flag -> Ok(f ||| flag)
                | Ok _, None -> Error $"unknown flag '{w}'"
                | e, _ -> e)
            (Ok TcpFlags.None)

    if words.Length = 1 && words[0].Length <= 8 && not (flagWords.ContainsKey words[0]) then
        words[0]
        |> Seq.fold
            (fun acc c ->
                match acc, Map.tryFind c flagLetters with
                | Ok f, Some flag -> Ok(f ||| flag)
                | Ok _, None -> Error $"unknown flag letter '{c}' (use F S R P A U E C)"
                | e, _ -> e)
            (Ok TcpFlags.None)
    else
        fromWords ()

/// Options in the order and alignment Linux uses for a SYN: MSS, SACK-permitted and
/// timestamps (NOP-padded when alone), window scale after a NOP.
let optionList (mss: uint16 option) (sackPermitted: bool) (timestamps: (uint32 * uint32) option) (wscale: byte option) =
    [
        match mss with
        | Some m -> TcpOption.Mss m
        | None -> ()
        match sackPermitted, timestamps with
        | true, Some ts ->
            SackPermitted
            TcpOption.Timestamps ts
        | true, None ->
            Nop
            Nop
            SackPermitted
        | false, Some ts ->
            Nop
            Nop
            TcpOption.Timestamps ts
        | false, None -> ()
        match wscale with
        | Some s ->
            Nop
            WindowScale s
        | None -> ()
    ]

/// Builds the packet the arguments describe. Bad values raise Argu's error, usage included.
let build (args: ParseResults<CraftArgs>) : byte array =
    let fail (message: string) : 'a = args.Raise(message, showUsage = true)

    let address (name: string) (text: string) =
        match IpAddress.TryParse text with
        | Some a -> a
        | None -> fail $"--{name}: '{text}' is not an IP address (expected IPv4 like 10.0.0.1 or IPv6 like fd00::1)"

    let inRange (name: string) (lo: int) (hi: int) (v: int) =
        if v < lo || v > hi then
            fail $"--{name}: {v} is out of range ({lo}-{hi})"

        v

    // The family of whichever address is given sets the other's default.
    let ipv6 =
        [ args.TryGetResult Src; args.TryGetResult Dst ]
        |> List.exists (fun a -> a |> Option.exists (fun t -> t.Contains ':'))

    let src =
        address "src" (args.GetResult(Src, defaultValue = (if ipv6 then "fd00::1" else "10.0.0.1")))

    let dst =
        address "dst" (args.GetResult(Dst, defaultValue = (if ipv6 then "fd00::2" else "10.0.0.2")))

    if src.IsIpv4 <> dst.IsIpv4 then
        fail $"--src {src} and --dst {dst}: give two addresses of one family"

    if not src.IsIpv4 && (args.Contains Id || args.Contains Df) then
        fail "--id and --df are IPv4 header fields: an IPv6 packet has neither"

    let sport = args.GetResult(Sport, defaultValue = 20) |> inRange "sport" 0 65535
    let dport = args.GetResult(Dport, defaultValue = 80) |> inRange "dport" 0 65535

    let flags =
        match parseFlags (args.GetResult(Flags, defaultValue = "S")) with
        | Ok f -> f
        | Error e -> fail $"--flags: {e}"

    let timestamps =
        args.TryGetResult Timestamps
        |> Option.map (fun text ->
            match text.Split ',' |> Array.map (fun s -> UInt32.TryParse(s.Trim())) with
            | [| (true, tsval); (true, tsecr) |] -> tsval, tsecr
            | _ -> fail $"--timestamps: '{text}' should be TSVAL,TSECR (two numbers 0-4294967295)")

    let payload =
        match args.TryGetResult Payload, args.TryGetResult Payload_Hex with
        | Some _, Some _ -> fail "give --payload or --payload-hex, not both"
        | Some text, None -> Encoding.UTF8.GetBytes text
        | None, Some hex ->
            match Hex.tryParse hex with
            | Ok b -> b
            | Error e -> fail $"--payload-hex: {e}"
        | None, None -> [||]

    let options =
        optionList
            (args.TryGetResult Mss |> Option.map (inRange "mss" 0 65535 >> uint16))
            (args.Contains Sack_Permitted)
            timestamps
            (args.TryGetResult Wscale |> Option.map (inRange "wscale" 0 255 >> byte))

    let tcp =
        { Tcp.header (uint16 sport) (uint16 dport) with
            SequenceNumber = args.GetResult(Seq, defaultValue = 0u)
            AcknowledgmentNumber = args.GetResult(Ack, defaultValue = 0u)
            Flags = flags
            Window =
                args.GetResult(Window, defaultValue = 8192)
                |> inRange "window" 0 65535
                |> uint16
            Options = TcpOptions.ofList options
        }

    let ttl = args.GetResult(Ttl, defaultValue = 64) |> inRange "ttl" 0 255 |> byte

    if src.IsIpv4 then
        let ip =
            { Ipv4.header IpProtocol.Tcp src.Ipv4 dst.Ipv4 0 with
                Ttl = ttl
                Identification = args.GetResult(Id, defaultValue = 0) |> inRange "id" 0 65535 |> uint16
                DontFragment = args.Contains Df
            }

        let total = ip.HeaderLength + tcp.HeaderLength + payload.Length

        if total > Ipv4.MaxTotalLength then
            fail $"the packet would be {total} bytes; an IPv4 packet holds at most 65535"

        Packet.tcpToArray ip tcp (ReadOnlySpan payload)
    else
        let segment = tcp.HeaderLength + payload.Length

        if segment > 65535 then
            fail $"the segment would be {segment} bytes; an IPv6 payload holds at most 65535"

        let packet = Array.zeroCreate (Ipv6.HeaderLength + segment)

        Packet.writeTcpBetween src dst ttl 0u &tcp (ReadOnlySpan payload) (Span packet)
        |> ignore

        packet

/// Appends one packet to a pcap file, writing the file header first when the file is new
/// or empty. Refuses a file that is not a raw-IP pcap.
let appendToPcap (path: string) (packet: byte array) (timestampMicros: int64) =
    let existing = if File.Exists path then FileInfo(path).Length else 0L

    if existing > 0L then
        let header = Array.zeroCreate<byte> Pcap.FileHeaderLength

        do
            use f = File.OpenRead path
            f.ReadExactly(header, 0, min header.Length (int existing))

        match Pcap.tryRead (ReadOnlySpan header) with
        | Ok file when
            file.LinkType = Pcap.LinkType.Raw
            && not file.Nanoseconds
            && BitConverter.IsLittleEndian
            && header[0] = 0xD4uy
            ->
            ()
        | _ -> Validate.usage $"--pcap {path}: exists and is not a little-endian raw-IP pcap file; choose another file"

    use f = new FileStream(path, FileMode.Append, FileAccess.Write)

    if existing = 0L then
        f.Write(Pcap.fileHeader Pcap.LinkType.Raw Pcap.DefaultSnapLength)

    f.Write(Pcap.record timestampMicros (ReadOnlySpan packet))

let run (args: ParseResults<CraftArgs>) (out: TextWriter) : int =
    let packet = build args

    match args.TryGetResult Pcap |> Option.map (Validate.writableFile "--pcap") with
    | Some path ->
        appendToPcap path packet (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000L)
        out.WriteLine $"appended a {packet.Length}-byte packet to {path}"
    | None -> out.WriteLine(Hex.ofBytes (ReadOnlySpan packet))

    0
