/// A trace of a run in the Chrome trace-event format (JSON), which Perfetto
/// (ui.perfetto.dev) and chrome://tracing open: per connection, counter tracks for the
/// congestion window, slow-start threshold, bytes in flight, RFC 6675's pipe, the peer's
/// window, the smoothed RTT and the RTO, and instant events for state changes, timeouts,
/// loss probes and undone reductions. A driver (the simulator, the shell's stack thread)
/// samples a connection after each step that touched it; a counter is written only when
/// its value changed. Times are microseconds of the driver's clock (virtual in the
/// simulator). The driver decides when to write the text out: the core does no I/O.
module Stack.Core.Tcp.Trace

open System.Collections.Generic
open System.Text

/// What a connection looked like after a step.
[<Struct>]
type Sample =
    {
        Cwnd: int
        /// Int32.MaxValue until the first loss.
        Ssthresh: int
        Flight: int
        Pipe: int
        PeerWindow: int
        /// Microseconds; 0 before the first RTT sample.
        Srtt: int64
        Rto: int64
        State: State
        Timeouts: int64
        LossProbes: int64
        Undone: int64
    }

let sample (c: Connection) =
    {
        Cwnd = c.CongestionWindow
        Ssthresh = c.SlowStartThreshold
        Flight = c.SendMaximum - c.SendUnacknowledged
        Pipe = c.Pipe
        PeerWindow = c.SendWindow
        Srtt = c.SmoothedRtt |> ValueOption.defaultValue 0L
        Rto = c.RetransmissionTimeout
        State = c.State
        Timeouts = c.TimeoutCount
        LossProbes = c.LossProbeCount
        Undone = c.UndoneCount
    }

/// The names of a sample's counter tracks, in the order `counter` reads them.
let private counterNames =
    [|
        "cwnd (bytes)"
        "ssthresh (bytes)"
        "flight (bytes)"
        "pipe (bytes)"
        "peer window (bytes)"
        "srtt (us)"
        "rto (us)"
    |]

/// Counter `i` of a sample (an unset ssthresh is -1).
let private counter (s: inref<Sample>) (i: int) =
    match i with
    | 0 -> int64 s.Cwnd
    | 1 ->
        if s.Ssthresh = System.Int32.MaxValue then
            -1L
        else
            int64 s.Ssthresh
    | 2 -> int64 s.Flight
    | 3 -> int64 s.Pipe
    | 4 -> int64 s.PeerWindow
    | 5 -> s.Srtt
    | _ -> s.Rto

let private escape (s: string) =
    s.Replace("\\", "\\\\").Replace("\"", "\\\"")

/// One connection's track: its id, the text of its events up to their time stamps (made
/// once, so an event costs a few appends), and its last sample.
type private Track(id: int, name: string) =
    member val Id = id

    member val CounterHeads =
        counterNames
        |> Array.map (fun c -> $"{{\"name\":\"{escape name} {c}\",\"ph\":\"C\",\"pid\":1,\"tid\":{id},\"ts\":")

    member val InstantTail = $",\"pid\":1,\"tid\":{id}}}"
    member val Last = Unchecked.defaultof<Sample> with get, set
    member val Seen = false with get, set

/// Collects samples and events of named connections (tracks) and writes the JSON.
type Recorder() =
    let events = StringBuilder()
    let tracks = Dictionary<string, Track>()
    let mutable count = 0

    let separate () =
        if count > 0 then
            events.Append(",\n") |> ignore

        count <- count + 1

    let trackOf (name: string) =
        match tracks.TryGetValue name with
        | true, t -> t
        | _ ->
            let t = Track(tracks.Count + 1, name)
            tracks[name] <- t
            separate ()

            events.Append(
                $"{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{t.Id},\"args\":{{\"name\":\"{escape name}\"}}}}"
            )
            |> ignore

            t

    let instant (time: int64) (t: Track) (name: string) =
        separate ()

        events
            .Append("{\"name\":\"")
            .Append(escape name)
            .Append("\",\"ph\":\"i\",\"s\":\"t\",\"ts\":")
            .Append(time)
            .Append(t.InstantTail)
        |> ignore

    /// Events written so far.
    member _.Count = count

    /// The connection `track` after a step at `time`: counters that changed, and an event
    /// for a new state or another timeout, loss probe or undone reduction.
    member _.Add(time: int64, track: string, s: Sample) =
        let t = trackOf track
        let before = t.Last

        for i in 0 .. counterNames.Length - 1 do
            let value = counter &s i

            if not t.Seen || counter &before i <> value then
                separate ()

                events.Append(t.CounterHeads[i]).Append(time).Append(",\"args\":{\"value\":").Append(value).Append("}}")
                |> ignore

        if not t.Seen || before.State <> s.State then
            instant time t $"{s.State}"

        if t.Seen then
            if s.Timeouts > before.Timeouts then
                instant time t "retransmission timeout"

            if s.LossProbes > before.LossProbes then
                instant time t "tail loss probe"

            if s.Undone > before.Undone then
                instant time t "reduction undone"

        t.Last <- s
        t.Seen <- true

    /// Something that took `duration` microseconds from `time` on the track `track` (a
    /// complete event: a batch of packets read, a wait for the device).
    member _.Span(time: int64, duration: int64, track: string, name: string) =
        let t = trackOf track
        separate ()

        events
            .Append("{\"name\":\"")
            .Append(escape name)
            .Append("\",\"ph\":\"X\",\"ts\":")
            .Append(time)
            .Append(",\"dur\":")
            .Append(duration)
            .Append(t.InstantTail)
        |> ignore

    /// An event of the run as a whole (a drop on the link, say) on the track `track`.
    member _.Event(time: int64, track: string, name: string) = instant time (trackOf track) name

    /// The trace as Chrome trace-event JSON.
    member _.ToJson(processName: string) =
        let head =
            $"""{{"displayTimeUnit":"ms","traceEvents":[
{{"name":"process_name","ph":"M","pid":1,"args":{{"name":"{escape processName}"}}}}"""

        let body = if count > 0 then ",\n" + events.ToString() else ""
        head + body + "\n]}\n"
