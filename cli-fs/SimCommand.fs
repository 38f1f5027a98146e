/// `tcpstack sim`: two hosts of the core on the deterministic simulator, each sending N
/// pseudo-random bytes to the other over an impaired link, both checking what arrived.
module Stack.Cli.SimCommand

open System
open System.Globalization
open System.IO
open System.Text.Json
open Argu
open Stack.Core
open Stack.Core.Sim
open Stack.Core.Tcp

type SimArgs =
    | Bytes of count: int64
    | One_Way
    | Seed of seed: uint64
    | Loss of probability: string
    | Dup of probability: string
    | Reorder of probability: string
    | Corrupt of probability: string
    | Delay of ms: float
    | Jitter of ms: float
    | Bandwidth of mbit: float
    | Queue of bytes: int64
    | Mss of bytes: int
    | Buffer of bytes: int
    | No_Timestamps
    | No_Sack
    | No_Window_Scaling
    | Nodelay
    | Time_Limit of seconds: float
    | Pcap of file: string
    | Events of file: string
    | Trace of file: string
    | Ipv6
    | Json

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Bytes _ -> "bytes each host sends (default 1000000)."
            | One_Way -> "only A sends; B just receives (and still closes)."
            | Seed _ -> "seed of the run: the same seed gives the same run (default 1)."
            | Loss _ -> "chance a packet is lost, as 0.05 or 5% (default 0)."
            | Dup _ -> "chance a packet is duplicated (default 0)."
            | Reorder _ -> "chance a packet is held back so later ones overtake it (default 0)."
            | Corrupt _ -> "chance one bit of a packet is flipped (default 0)."
            | Delay _ -> "one-way delay in milliseconds, 0 to 60000 (default 5)."
            | Jitter _ -> "extra random delay, up to this many milliseconds, 0 to 60000 (default 0)."
            | Bandwidth _ -> "link rate in Mbit/s, 0.001 to 1000000 (default: no limit)."
            | Queue _ -> "bytes the rate-limited link queues before dropping, 1500 to 2^30 (default 150000)."
            | Mss _ -> "maximum segment size of both hosts, 64 to 65495 (default 1460)."
            | Buffer _ ->
                "send and receive buffer of each connection, a power of two from 1024 to 2^30 (default 262144)."
            | No_Timestamps -> "do not offer TCP timestamps (RFC 7323)."
            | No_Sack -> "do not offer selective acknowledgments (RFC 2018)."
            | No_Window_Scaling -> "do not offer window scaling (RFC 7323)."
            | Nodelay -> "turn Nagle's algorithm off."
            | Time_Limit _ -> "give up after this many seconds of virtual time, 0.001 to 2592000 (default 3600)."
            | Pcap _ -> "write the link traffic to this pcap file."
            | Trace _ ->
                "write a trace (Chrome trace-event JSON: open it in ui.perfetto.dev, or draw it with tcpstack plot): cwnd, ssthresh, flight, pipe, windows, SRTT, RTO and state changes per connection."
            | Events _ -> "write the event log to this file, one line per event."
            | Ipv6 -> "connect over IPv6 (fd00::1 to fd00::2) instead of IPv4."
            | Json -> "end with one JSON object describing the run."

let private stateName (s: State) =
    match s with
    | State.Closed -> "CLOSED"
    | State.Listen -> "LISTEN"
    | State.SynSent -> "SYN-SENT"
    | State.SynReceived -> "SYN-RECEIVED"
    | State.Established -> "ESTABLISHED"
    | State.FinWait1 -> "FIN-WAIT-1"
    | State.FinWait2 -> "FIN-WAIT-2"
    | State.CloseWait -> "CLOSE-WAIT"
    | State.Closing -> "CLOSING"
    | State.LastAck -> "LAST-ACK"
    | State.TimeWait -> "TIME-WAIT"

/// The run's configuration from the arguments; refuses values out of range.
let configOf (args: ParseResults<SimArgs>) : Transfer.Config =
    let probability (name: string) (value: string option) =
        value |> Option.map (Validate.probability name) |> Option.defaultValue 0.0

    let micros (ms: float) = int64 (ms * 1000.0)

    let bytes =
        args.GetResult(Bytes, 1_000_000L) |> Validate.inRange "--bytes" 0L (1L <<< 40)

    let mss = args.GetResult(Mss, 1460) |> Validate.inRange "--mss" 64 65495

    let buffer =
        args.GetResult(Buffer, 262144) |> Validate.powerOfTwo "--buffer" 1024 (1 <<< 30)

    // Virtual time, but an hour of delay still means nothing arrives.
    let delay = args.GetResult(Delay, 5.0) |> Validate.inRange "--delay" 0.0 60_000.0
    let jitter = args.GetResult(Jitter, 0.0) |> Validate.inRange "--jitter" 0.0 60_000.0

    let bandwidth =
        args.TryGetResult Bandwidth
        |> Option.map (Validate.inRange "--bandwidth" 0.001 1_000_000.0)
        |> Option.defaultValue 0.0

    let queue =
        args.GetResult(Queue, 150_000L) |> Validate.inRange "--queue" 1500L (1L <<< 30)

    let timeLimit =
        args.GetResult(Time_Limit, 3600.0)
        |> Validate.inRange "--time-limit" 0.001 (30.0 * 86400.0)

    args.TryGetResult Pcap |> Option.iter (Validate.writableFile "--pcap" >> ignore)

    args.TryGetResult Events
    |> Option.iter (Validate.writableFile "--events" >> ignore)

    args.TryGetResult Trace
    |> Option.iter (Validate.writableFile "--trace" >> ignore)

    let link =
        { Impair.none with
            Loss = probability "--loss" (args.TryGetResult Loss)
            Duplicate = probability "--dup" (args.TryGetResult Dup)
            Reorder = probability "--reorder" (args.TryGetResult Reorder)
            ReorderDelayMicros = max 1000L (micros delay / 2L)
            Corrupt = probability "--corrupt" (args.TryGetResult Corrupt)
            DelayMicros = micros delay
            JitterMicros = micros jitter
            RateBitsPerSecond = int64 (bandwidth * 1e6)
            QueueLimitBytes = queue
        }

    { Transfer.defaults with
        Bytes = bytes
        BytesBack = (if args.Contains One_Way then Some 0L else None)
        Seed = args.GetResult(Seed, 1UL)
        Link = link
        Connection =
            { Transfer.defaults.Connection with
                Mss = mss
                SendBufferSize = buffer
                ReceiveBufferSize = buffer
                Timestamps = not (args.Contains No_Timestamps)
                Sack = not (args.Contains No_Sack)
                WindowScaling = not (args.Contains No_Window_Scaling)
                NoDelay = args.Contains Nodelay
            }
        TimeLimitMicros = int64 (timeLimit * 1e6)
        KeepEvents = args.Contains Events
        Capture = args.Contains Pcap
        Trace = args.Contains Trace
        Ipv6 = args.Contains Ipv6
    }

let private writeJson (out: TextWriter) (r: Transfer.Result) =
    use stream = new MemoryStream()

    do
        use w = new Utf8JsonWriter(stream)
        w.WriteStartObject()
        w.WriteBoolean("completed", r.Completed)
        w.WriteNumber("bytesVerified", r.BytesVerified)
        w.WriteNumber("virtualMs", float r.VirtualMicros / 1000.0)
        w.WriteNumber("retransmissions", r.Retransmissions)
        w.WriteNumber("timeouts", r.A.Timeouts + r.B.Timeouts)
        w.WriteNumber("lossProbes", r.A.LossProbes + r.B.LossProbes)
        w.WriteNumber("reductionsUndone", r.A.Undone + r.B.Undone)
        w.WriteNumber("packetsSent", r.PacketsSent)
        w.WriteStartObject "finalStates"
        w.WriteString("A", stateName r.A.FinalState)
        w.WriteString("B", stateName r.B.FinalState)
        w.WriteEndObject()
        w.WriteString("sha256A", r.A.ReceivedSha256)
        w.WriteString("sha256B", r.B.ReceivedSha256)
        w.WriteString("eventLogSha256", r.EventLogSha256)

        match r.Failure with
        | Some f -> w.WriteString("failure", f)
        | None -> w.WriteNull "failure"

        w.WriteEndObject()

    out.WriteLine(Text.Encoding.UTF8.GetString(stream.ToArray()))

let private percent (p: float) = $"{p * 100.0:G4}%%"

let run (args: ParseResults<SimArgs>) (out: TextWriter) =
    let config = configOf args
    let l = config.Link
    let clock = Diagnostics.Stopwatch.StartNew()
    let r = Transfer.run config
    let cpu = clock.Elapsed.TotalSeconds

    let bandwidth =
        if l.RateBitsPerSecond > 0L then
            $"{float l.RateBitsPerSecond / 1e6:G4} Mbit/s"
        else
            "unlimited"

    let directions =
        match config.BytesBack with
        | Some back -> $"{config.Bytes} bytes from A to B and {back} back"
        | None -> $"{config.Bytes} bytes each way at once"

    out.WriteLine $"sim: hosts A and B, {directions}, seed {config.Seed}"

    out.WriteLine
        $"link: loss {percent l.Loss}, dup {percent l.Duplicate}, reorder {percent l.Reorder}, corrupt {percent l.Corrupt}, delay {float l.DelayMicros / 1000.0} ms, jitter {float l.JitterMicros / 1000.0} ms, bandwidth {bandwidth}"

    let virtualSeconds = float r.VirtualMicros / 1e6

    match r.Failure with
    | None -> out.WriteLine $"completed in {virtualSeconds * 1000.0:F1} ms of virtual time ({cpu:F2} s of CPU)"
    | Some f -> out.WriteLine $"NOT COMPLETED: {f} (at {virtualSeconds * 1000.0:F1} ms of virtual time)"

    for side in [ r.A; r.B ] do
        let verdict = if side.Verified then "all verified" else "NOT verified"

        out.WriteLine
            $"{side.Name}: sent {side.BytesSent}, received {side.BytesReceived} ({verdict}), {side.Retransmissions} retransmissions ({side.Timeouts} timeouts, {side.LossProbes} loss probes, {side.Undone} reductions undone), final state {stateName side.FinalState}"

        out.WriteLine $"   sha256 {side.ReceivedSha256}"

    if r.Completed && virtualSeconds > 0.0 && config.Bytes > 0L then
        out.WriteLine $"goodput: {float config.Bytes * 8.0 / virtualSeconds / 1e6:F2} Mbit/s from A to B (virtual time)"

    out.WriteLine $"packets: {r.PacketsSent}; event log sha256 {r.EventLogSha256}"

    match args.TryGetResult Events with
    | Some path ->
        File.WriteAllLines(path, r.Events)
        out.WriteLine $"events: {path} ({r.Events.Length} lines)"
    | None -> ()

    match args.TryGetResult Pcap, r.Pcap with
    | Some path, Some bytes ->
        File.WriteAllBytes(path, bytes)
        out.WriteLine $"pcap: {path} ({r.PacketsSent} packets; open it with tshark or Wireshark)"
    | _ -> ()

    match args.TryGetResult Trace, r.Trace with
    | Some path, Some json ->
        File.WriteAllText(path, json)
        out.WriteLine $"trace: {path} (open it in ui.perfetto.dev, or draw it with tcpstack plot {path})"
    | _ -> ()

    if args.Contains Json then
        writeJson out r

    if r.Completed then 0 else 1
