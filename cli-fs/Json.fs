/// The JSON form of a decoded packet: one object per packet, as `tcpstack decode --json`
/// prints it.
module Stack.Cli.Json

open System
open System.IO
open System.Text.Json
open Stack.Core.Wire

let private writeOption (w: Utf8JsonWriter) (o: TcpOption) =
    w.WriteStartObject()

    match o with
    | Eol -> w.WriteString("kind", "eol")
    | Nop -> w.WriteString("kind", "nop")
    | Mss v ->
        w.WriteString("kind", "mss")
        w.WriteNumber("value", int v)
    | WindowScale s ->
        w.WriteString("kind", "wscale")
        w.WriteNumber("value", int s)
    | SackPermitted -> w.WriteString("kind", "sackPermitted")
    | Sack blocks ->
        w.WriteString("kind", "sack")
        w.WriteStartArray "blocks"

        for left, right in blocks do
            w.WriteStartArray()
            w.WriteNumberValue left
            w.WriteNumberValue right
            w.WriteEndArray()

        w.WriteEndArray()
    | Timestamps(tsval, tsecr) ->
        w.WriteString("kind", "timestamps")
        w.WriteNumber("tsval", tsval)
        w.WriteNumber("tsecr", tsecr)
    | Unknown(kind, data) ->
        w.WriteString("kind", "unknown")
        w.WriteNumber("number", int kind)
        w.WriteString("data", Convert.ToHexString(data).ToLowerInvariant())

    w.WriteEndObject()

let private writeIpv4 (w: Utf8JsonWriter) (p: Ipv4Packet) =
    let h = p.Header
    w.WriteStartObject "ipv4"
    w.WriteNumber("version", 4)
    w.WriteNumber("ihl", p.HeaderLength / 4)
    w.WriteNumber("tos", int h.Tos)
    w.WriteNumber("totalLength", p.TotalLength)
    w.WriteNumber("identification", int h.Identification)
    w.WriteBoolean("df", h.DontFragment)
    w.WriteBoolean("mf", h.MoreFragments)
    w.WriteNumber("fragmentOffset", int h.FragmentOffset)
    w.WriteNumber("ttl", int h.Ttl)
    w.WriteNumber("protocol", int h.Protocol)
    w.WriteNumber("checksum", int p.Checksum)
    w.WriteBoolean("checksumValid", p.ChecksumValid)
    w.WriteString("src", string h.Source)
    w.WriteString("dst", string h.Destination)

    if h.Options.Length > 0 then
        w.WriteString("options", string h.Options)

    w.WriteEndObject()

let private writeTcp (w: Utf8JsonWriter) (seg: TcpSegment) (valid: bool) (options: TcpOption list) =
    let h = seg.Header
    w.WriteStartObject "tcp"
    w.WriteNumber("srcPort", int h.SourcePort)
    w.WriteNumber("dstPort", int h.DestinationPort)
    w.WriteNumber("seq", h.SequenceNumber)
    w.WriteNumber("ack", h.AcknowledgmentNumber)
    w.WriteNumber("dataOffset", h.DataOffset)
    w.WriteStartArray "flags"

    for name in Pretty.flagNames h.Flags do
        w.WriteStringValue name

    w.WriteEndArray()
    w.WriteNumber("window", int h.Window)
    w.WriteNumber("checksum", int seg.Checksum)
    w.WriteBoolean("checksumValid", valid)
    w.WriteNumber("urgentPointer", int h.UrgentPointer)
    w.WriteStartArray "options"

    for o in options do
        writeOption w o

    w.WriteEndArray()
    w.WriteNumber("payloadLength", seg.PayloadLength)
    w.WriteEndObject()

let private writeIcmp (w: Utf8JsonWriter) (m: IcmpPacket) =
    let h = m.Header
    w.WriteStartObject "icmp"
    w.WriteNumber("type", int h.Type)
    w.WriteNumber("code", int h.Code)
    w.WriteString("name", IcmpType.name h.Type)
    w.WriteNumber("checksum", int m.Checksum)
    w.WriteBoolean("checksumValid", m.ChecksumValid)

    if h.Type = IcmpType.EchoRequest || h.Type = IcmpType.EchoReply then
        w.WriteNumber("identifier", int h.Identifier)
        w.WriteNumber("sequence", int h.SequenceNumber)
    elif h.Type = IcmpType.DestinationUnreachable && h.Code = 4uy then
        w.WriteNumber("nextHopMtu", int h.NextHopMtu)

    match m.Original with
    | ValueSome q ->
        w.WriteStartObject "original"
        w.WriteString("src", string q.Header.Source)
        w.WriteString("dst", string q.Header.Destination)
        w.WriteNumber("protocol", int q.Header.Protocol)

        match q.SourcePort, q.DestinationPort with
        | ValueSome s, ValueSome d ->
            w.WriteNumber("srcPort", int s)
            w.WriteNumber("dstPort", int d)
        | _ -> ()

        match q.TcpSequenceNumber with
        | ValueSome s -> w.WriteNumber("seq", s)
        | ValueNone -> ()

        w.WriteEndObject()
    | ValueNone -> ()

    w.WriteNumber("payloadLength", m.PayloadLength)
    w.WriteEndObject()

/// Plain text in strings ("'" stays "'"): the output is for people and scripts, not HTML.
let private writerOptions =
    JsonWriterOptions(Encoder = Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping)

let private toLine (write: Utf8JsonWriter -> unit) =
    use stream = new MemoryStream()

    do
        use w = new Utf8JsonWriter(stream, writerOptions)
        w.WriteStartObject()
        write w
        w.WriteEndObject()

    Text.Encoding.UTF8.GetString(stream.ToArray())

/// `{"error": "..."}` for input that is not a packet.
let error (message: string) =
    toLine (fun w -> w.WriteString("error", message))

/// One line of JSON for the packet in `bytes`.
let ofPacket (bytes: ReadOnlySpan<byte>) =
    match Packet.decode bytes with
    | Error e -> error (ParseError.describe e)
    | Ok d ->
        toLine (fun w ->
            writeIpv4 w d.Ip

            match d.Transport with
            | TcpTransport(seg, valid, options) -> writeTcp w seg valid options
            | IcmpTransport m -> writeIcmp w m
            | Fragment ->
                w.WriteStartObject "fragment"
                w.WriteNumber("payloadLength", d.PayloadLength)
                w.WriteEndObject()
            | OtherProtocol p ->
                w.WriteStartObject "other"
                w.WriteNumber("protocol", int p)
                w.WriteString("name", IpProtocol.name p)
                w.WriteNumber("payloadLength", d.PayloadLength)
                w.WriteEndObject()
            | TransportError e -> w.WriteString("error", ParseError.describe e))
