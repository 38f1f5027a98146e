/// Readable text for every layer: multi-line blocks in the manner of the seed's
/// `pp_ip_packet`, and one-line summaries for packet logs.
module Stack.Core.Wire.Pretty

open System
open System.Text

/// Flag names, lowest bit first (so a SYN-ACK reads "SYN, ACK").
let flagNames (flags: TcpFlags) : string list =
    [
        for flag, name in
            [
                TcpFlags.Fin, "FIN"
                TcpFlags.Syn, "SYN"
                TcpFlags.Rst, "RST"
                TcpFlags.Psh, "PSH"
                TcpFlags.Ack, "ACK"
                TcpFlags.Urg, "URG"
                TcpFlags.Ece, "ECE"
                TcpFlags.Cwr, "CWR"
            ] do
            if flags &&& flag = flag then
                name
    ]

let flags (f: TcpFlags) =
    match flagNames f with
    | [] -> "[none]"
    | names -> "[" + String.Join(", ", names) + "]"

let option (o: TcpOption) =
    match o with
    | Eol -> "EOL"
    | Nop -> "NOP"
    | Mss v -> $"MSS {v}"
    | WindowScale s -> $"window scale {s} (x{1 <<< int (min s 14uy)})"
    | SackPermitted -> "SACK permitted"
    | Sack blocks ->
        let edges = blocks |> List.map (fun (l, r) -> $"{l}-{r}")
        "SACK " + String.Join(" ", edges)
    | Timestamps(tsval, tsecr) -> $"timestamps val {tsval} ecr {tsecr}"
    | Unknown(kind, data) -> $"option {kind} ({Convert.ToHexString(data).ToLowerInvariant()})"

let options (opts: TcpOption list) =
    match opts with
    | [] -> "none"
    | _ -> String.Join(", ", opts |> List.map option)

let private validity valid = if valid then "valid" else "INVALID"

let private line (sb: StringBuilder) (label: string) (value: string) =
    sb.Append("  ").Append(label).Append(": ").Append(value).Append('\n') |> ignore

/// The IPv4 header as a block of labelled lines.
let ipv4 (p: Ipv4Packet) =
    let h = p.Header
    let sb = StringBuilder("IP Packet:\n")
    line sb "Version" "IPv4"
    line sb "IHL" $"{p.HeaderLength / 4} (words)"
    line sb "Type of Service" $"0x%02x{h.Tos} (DSCP {h.Tos >>> 2}, ECN {h.Tos &&& 3uy})"
    line sb "Total Length" $"{p.TotalLength} bytes"
    line sb "Identification" $"{h.Identification} (0x%04x{h.Identification})"

    let fl =
        [
            if h.ReservedFlag then
                "reserved"
            if h.DontFragment then
                "DF"
            if h.MoreFragments then
                "MF"
        ]

    line sb "Flags" (if fl.IsEmpty then "none" else String.Join(", ", fl))
    line sb "Fragment Offset" $"{int h.FragmentOffset * 8} bytes"
    line sb "TTL" (string h.Ttl)
    line sb "Protocol" (IpProtocol.name h.Protocol)
    line sb "Header Checksum" $"0x%04x{p.Checksum} ({validity p.ChecksumValid})"
    line sb "Source" (string h.Source)
    line sb "Destination" (string h.Destination)

    if h.Options.Length > 0 then
        line sb "Options" $"{h.Options.Length} bytes: {h.Options}"

    line sb "Payload Length" $"{h.PayloadLength} bytes"
    sb.ToString()

/// The TCP header as a block of labelled lines.
let tcp (seg: TcpSegment) (checksumValid: bool) (opts: TcpOption list) =
    let h = seg.Header
    let sb = StringBuilder("TCP Segment:\n")
    line sb "Source Port" (string h.SourcePort)
    line sb "Destination Port" (string h.DestinationPort)
    line sb "Sequence Number" (string h.SequenceNumber)
    line sb "Acknowledgment Number" (string h.AcknowledgmentNumber)
    line sb "Data Offset" $"{h.DataOffset} (words)"
    line sb "Flags" (flags h.Flags)
    line sb "Window" (string h.Window)
    line sb "Checksum" $"0x%04x{seg.Checksum} ({validity checksumValid})"
    line sb "Urgent Pointer" (string h.UrgentPointer)
    line sb "Options" (options opts)
    line sb "Payload Length" $"{seg.PayloadLength} bytes"
    sb.ToString()

/// One line for the start of a datagram an ICMP error quotes.
let private quotedLine (source: string) (destination: string) (protocol: byte) sourcePort destinationPort tcpSeq =
    let ports =
        match sourcePort, destinationPort with
        | ValueSome s, ValueSome d -> $" ports {s} -> {d}"
        | _ -> ""

    let seq =
        match tcpSeq with
        | ValueSome s -> $" seq {s}"
        | ValueNone -> ""

    $"{source} -> {destination} {IpProtocol.name protocol}{ports}{seq}"

let private quoted (q: QuotedOriginal) =
    quotedLine
        (string q.Header.Source)
        (string q.Header.Destination)
        q.Header.Protocol
        q.SourcePort
        q.DestinationPort
        q.TcpSequenceNumber

/// The ICMP message as a block of labelled lines.
let icmp (m: IcmpPacket) =
    let h = m.Header
    let sb = StringBuilder("ICMP Message:\n")
    line sb "Type" $"{h.Type} ({IcmpType.name h.Type})"

    line
        sb
        "Code"
        (if h.Type = IcmpType.DestinationUnreachable then
             $"{h.Code} ({UnreachableCode.name h.Code})"
         else
             string h.Code)

    line sb "Checksum" $"0x%04x{m.Checksum} ({validity m.ChecksumValid})"

    if h.Type = IcmpType.EchoRequest || h.Type = IcmpType.EchoReply then
        line sb "Identifier" (string h.Identifier)
        line sb "Sequence Number" (string h.SequenceNumber)
    elif h.Type = IcmpType.DestinationUnreachable && h.Code = 4uy then
        line sb "Next-Hop MTU" (string h.NextHopMtu)

    match m.Original with
    | ValueSome q -> line sb "Original Datagram" (quoted q)
    | ValueNone -> ()

    line sb "Payload Length" $"{m.PayloadLength} bytes"
    sb.ToString()

/// The IPv6 header and its extension headers' outcome as a block of labelled lines.
let ipv6 (p: Ipv6Payload) =
    let h = p.Header
    let sb = StringBuilder("IP Packet:\n")
    line sb "Version" "IPv6"
    line sb "Traffic Class" $"0x%02x{h.TrafficClass} (DSCP {h.TrafficClass >>> 2}, ECN {h.TrafficClass &&& 3uy})"
    line sb "Flow Label" $"0x%05x{h.FlowLabel}"
    line sb "Payload Length" $"{h.PayloadLength} bytes"
    line sb "Next Header" $"{h.NextHeader} ({IpProtocol.name h.NextHeader})"
    line sb "Hop Limit" (string h.HopLimit)
    line sb "Source" (string h.Source)
    line sb "Destination" (string h.Destination)

    if p.Offset > Ipv6.HeaderLength then
        line sb "Extension Headers" $"{p.Offset - Ipv6.HeaderLength} bytes, then {IpProtocol.name p.Protocol}"

    match p.Fragment with
    | ValueSome f -> line sb "Fragment" $"id 0x%08x{f.Identification} offset {f.Offset} more {f.More}"
    | ValueNone -> ()

    sb.ToString()

let private quoted6 (q: QuotedOriginal6) =
    quotedLine
        (string q.Header.Source)
        (string q.Header.Destination)
        q.Protocol
        q.SourcePort
        q.DestinationPort
        q.TcpSequenceNumber

/// The ICMPv6 message as a block of labelled lines.
let icmpv6 (m: Icmpv6Packet) =
    let h = m.Header
    let sb = StringBuilder("ICMPv6 Message:\n")
    line sb "Type" $"{h.Type} ({Icmpv6Type.name h.Type})"
    line sb "Code" (string h.Code)
    line sb "Checksum" $"0x%04x{m.Checksum} ({validity m.ChecksumValid})"

    if h.Type = Icmpv6Type.EchoRequest || h.Type = Icmpv6Type.EchoReply then
        line sb "Identifier" (string h.Identifier)
        line sb "Sequence Number" (string h.SequenceNumber)
    elif h.Type = Icmpv6Type.PacketTooBig then
        line sb "MTU" (string h.Mtu)

    match m.Original with
    | ValueSome q -> line sb "Original Packet" (quoted6 q)
    | ValueNone -> ()

    line sb "Payload Length" $"{m.PayloadLength} bytes"
    sb.ToString()

let private transportBlock (t: Transport) =
    match t with
    | TcpTransport(seg, valid, opts) -> tcp seg valid opts
    | IcmpTransport m -> icmp m
    | Icmpv6Transport m -> icmpv6 m
    | Fragment -> "Fragment: transport header not read\n"
    | OtherProtocol p -> $"{IpProtocol.name p}: not read\n"
    | TransportError e -> $"Unreadable: {ParseError.describe e}\n"

/// Every layer of a decoded packet, one block each.
let decoded (d: DecodedPacket) = ipv4 d.Ip + transportBlock d.Transport

/// Every layer of a decoded IPv6 packet, one block each.
let decoded6 (d: DecodedPacket6) = ipv6 d.Ip + transportBlock d.Transport

/// Every layer of the packet (either family) at the start of `buf`, or why it cannot be
/// read.
let packet (buf: ReadOnlySpan<byte>) =
    match Packet.decodeAny buf with
    | Ok(V4 d) -> decoded d
    | Ok(V6 d) -> decoded6 d
    | Error e -> $"Unreadable packet: {ParseError.describe e}\n"

/// The one-line form of a transport, between `source` and `destination` as given.
let private summaryLine
    (source: string)
    (destination: string)
    (protocol: byte)
    (t: Transport)
    (ipLength: int)
    (bad: string)
    =
    let endpoint (address: string) (port: uint16) =
        if address.Contains ':' then
            $"[{address}]:{port}"
        else
            $"{address}:{port}"

    match t with
    | TcpTransport(seg, valid, opts) ->
        let h = seg.Header

        let ack =
            if h.Has TcpFlags.Ack then
                $" ack {h.AcknowledgmentNumber}"
            else
                ""

        let opts =
            match opts with
            | [] -> ""
            | _ -> " <" + options opts + ">"

        let badTcp = if valid then "" else " [bad TCP checksum]"

        $"{endpoint source h.SourcePort} > {endpoint destination h.DestinationPort} TCP {flags h.Flags} seq {h.SequenceNumber}{ack} win {h.Window} len {seg.PayloadLength}{opts}{bad}{badTcp}"
    | IcmpTransport m ->
        let h = m.Header

        let detail =
            if h.Type = IcmpType.EchoRequest || h.Type = IcmpType.EchoReply then
                $" id {h.Identifier} seq {h.SequenceNumber}"
            else
                match m.Original with
                | ValueSome q -> $" code {h.Code} for {quoted q}"
                | ValueNone -> $" code {h.Code}"

        let badIcmp = if m.ChecksumValid then "" else " [bad ICMP checksum]"
        $"{source} > {destination} ICMP {IcmpType.name h.Type}{detail} len {m.PayloadLength}{bad}{badIcmp}"
    | Icmpv6Transport m ->
        let h = m.Header

        let detail =
            if h.Type = Icmpv6Type.EchoRequest || h.Type = Icmpv6Type.EchoReply then
                $" id {h.Identifier} seq {h.SequenceNumber}"
            elif h.Type = Icmpv6Type.PacketTooBig then
                $" mtu {h.Mtu}"
            else
                $" code {h.Code}"

        let original =
            match m.Original with
            | ValueSome q -> $" for {quoted6 q}"
            | ValueNone -> ""

        let badIcmp = if m.ChecksumValid then "" else " [bad ICMPv6 checksum]"
        $"{source} > {destination} ICMPv6 {Icmpv6Type.name h.Type}{detail}{original} len {m.PayloadLength}{badIcmp}"
    | Fragment -> $"{source} > {destination} {IpProtocol.name protocol} fragment len {ipLength}{bad}"
    | OtherProtocol p -> $"{source} > {destination} {IpProtocol.name p} len {ipLength}{bad}"
    | TransportError e ->
        $"{source} > {destination} {IpProtocol.name protocol} unreadable: {ParseError.describe e}{bad}"

/// One line for a decoded packet, in the manner of tcpdump.
let summaryOf (d: DecodedPacket) =
    let ip = d.Ip.Header
    let bad = if d.Ip.ChecksumValid then "" else " [bad IP checksum]"

    match d.Transport with
    | Fragment ->
        $"{ip.Source} > {ip.Destination} {IpProtocol.name ip.Protocol} fragment id {ip.Identification} offset {int ip.FragmentOffset * 8} len {ip.PayloadLength}{bad}"
    | t -> summaryLine (string ip.Source) (string ip.Destination) ip.Protocol t ip.PayloadLength bad

/// One line for a decoded IPv6 packet, in the manner of tcpdump.
let summaryOf6 (d: DecodedPacket6) =
    let ip = d.Ip

    match d.Transport, ip.Fragment with
    | Fragment, ValueSome f ->
        let struct (offset, id) = struct (f.Offset, f.Identification)
        let flag = if f.More then " more" else ""
        $"{ip.Header.Source} > {ip.Header.Destination} {IpProtocol.name ip.Protocol} fragment id 0x%08x{id} offset {offset}{flag} len {ip.Length}"
    | t, _ -> summaryLine (string ip.Header.Source) (string ip.Header.Destination) ip.Protocol t ip.Length ""

/// One line for the packet (either family) at the start of `buf`.
let summary (buf: ReadOnlySpan<byte>) =
    match Packet.decodeAny buf with
    | Ok(V4 d) -> summaryOf d
    | Ok(V6 d) -> summaryOf6 d
    | Error e -> $"unreadable packet: {ParseError.describe e}"

/// Bytes as hex in rows of 16, each row led by its offset.
let hexDump (bytes: ReadOnlySpan<byte>) =
    let sb = StringBuilder()

    for row in 0..16 .. bytes.Length - 1 do
        let chunk = bytes.Slice(row, min 16 (bytes.Length - row))
        let hex = Convert.ToHexString(chunk).ToLowerInvariant()
        let pairs = [| for i in 0..2 .. hex.Length - 1 -> hex.Substring(i, 2) |]

        sb.Append($"%04x{row}  ").Append(String.Join(" ", pairs)).Append('\n') |> ignore

    sb.ToString()
