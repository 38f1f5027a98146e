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

/// The start of the datagram an ICMP error quotes, as the object "original".
let private writeOriginal
    (w: Utf8JsonWriter)
    (source: string)
    (destination: string)
    (protocol: byte)
    (sourcePort: uint16 voption)
    (destinationPort: uint16 voption)
    (tcpSeq: uint32 voption)
    =
    w.WriteStartObject "original"
    w.WriteString("src", source)
    w.WriteString("dst", destination)
    w.WriteNumber("protocol", int protocol)

    match sourcePort, destinationPort with
    | ValueSome s, ValueSome d ->
        w.WriteNumber("srcPort", int s)
        w.WriteNumber("dstPort", int d)
    | _ -> ()

    match tcpSeq with
    | ValueSome s -> w.WriteNumber("seq", s)
    | ValueNone -> ()

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
        writeOriginal
            w
            (string q.Header.Source)
            (string q.Header.Destination)
            q.Header.Protocol
            q.SourcePort
            q.DestinationPort
            q.TcpSequenceNumber
    | ValueNone -> ()

    w.WriteNumber("payloadLength", m.PayloadLength)
    w.WriteEndObject()

let private writeIpv6 (w: Utf8JsonWriter) (p: Ipv6Payload) =
    let h = p.Header
    w.WriteStartObject "ipv6"
    w.WriteNumber("version", 6)
    w.WriteNumber("trafficClass", int h.TrafficClass)
    w.WriteNumber("flowLabel", h.FlowLabel)
    w.WriteNumber("payloadLength", h.PayloadLength)
    w.WriteNumber("nextHeader", int h.NextHeader)
    w.WriteNumber("hopLimit", int h.HopLimit)
    w.WriteString("src", string h.Source)
    w.WriteString("dst", string h.Destination)
    w.WriteNumber("protocol", int p.Protocol)
    w.WriteNumber("extensionBytes", p.Offset - Ipv6.HeaderLength)

    match p.Fragment with
    | ValueSome f ->
        w.WriteStartObject "fragment"
        w.WriteNumber("offset", f.Offset)
        w.WriteBoolean("more", f.More)
        w.WriteNumber("identification", f.Identification)
        w.WriteEndObject()
    | ValueNone -> ()

    w.WriteEndObject()

let private writeIcmpv6 (w: Utf8JsonWriter) (m: Icmpv6Packet) =
    let h = m.Header
    w.WriteStartObject "icmpv6"
    w.WriteNumber("type", int h.Type)
    w.WriteNumber("code", int h.Code)
    w.WriteString("name", Icmpv6Type.name h.Type)
    w.WriteNumber("checksum", int m.Checksum)
    w.WriteBoolean("checksumValid", m.ChecksumValid)

    if h.Type = Icmpv6Type.EchoRequest || h.Type = Icmpv6Type.EchoReply then
        w.WriteNumber("identifier", int h.Identifier)
        w.WriteNumber("sequence", int h.SequenceNumber)
    elif h.Type = Icmpv6Type.PacketTooBig then
        w.WriteNumber("mtu", h.Mtu)

    match m.Original with
    | ValueSome q ->
        writeOriginal
            w
            (string q.Header.Source)
            (string q.Header.Destination)
            q.Protocol
            q.SourcePort
            q.DestinationPort
            q.TcpSequenceNumber
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
    let decoded =
        match Packet.decodeAny bytes with
        | Ok(V4 d) -> Ok(struct ((fun w -> writeIpv4 w d.Ip), d.Transport, d.PayloadLength))
        | Ok(V6 d) -> Ok(struct ((fun w -> writeIpv6 w d.Ip), d.Transport, d.PayloadLength))
        | Error e -> Error e

    match decoded with
    | Error e -> error (ParseError.describe e)
    | Ok(struct (writeIp, transport, payloadLength)) ->
        toLine (fun w ->
            writeIp w

            match transport with
            | TcpTransport(seg, valid, options) -> writeTcp w seg valid options
            | IcmpTransport m -> writeIcmp w m
            | Icmpv6Transport m -> writeIcmpv6 w m
            | Fragment ->
                w.WriteStartObject "fragment"
                w.WriteNumber("payloadLength", payloadLength)
                w.WriteEndObject()
            | OtherProtocol p ->
                w.WriteStartObject "other"
                w.WriteNumber("protocol", int p)
                w.WriteString("name", IpProtocol.name p)
                w.WriteNumber("payloadLength", payloadLength)
                w.WriteEndObject()
            | TransportError e -> w.WriteString("error", ParseError.describe e))
