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

/// The counters a sample gives, by the name of their track.
let private counters (s: Sample) =
    [|
        "cwnd (bytes)", int64 s.Cwnd
        "ssthresh (bytes)",
        (if s.Ssthresh = System.Int32.MaxValue then
             -1L
         else
             int64 s.Ssthresh)
        "flight (bytes)", int64 s.Flight
        "pipe (bytes)", int64 s.Pipe
        "peer window (bytes)", int64 s.PeerWindow
        "srtt (us)", s.Srtt
        "rto (us)", s.Rto
    |]

let private escape (s: string) =
    s.Replace("\\", "\\\\").Replace("\"", "\\\"")

/// Collects samples and events of named connections (tracks) and writes the JSON.
type Recorder() =
    let events = StringBuilder()
    let tracks = Dictionary<string, int>()
    let last = Dictionary<string, Sample>()
    let mutable count = 0

    let append (line: string) =
        if count > 0 then
            events.Append(",\n") |> ignore

        events.Append(line) |> ignore
        count <- count + 1

    let trackOf (name: string) =
        match tracks.TryGetValue name with
        | true, id -> id
        | _ ->
            let id = tracks.Count + 1
            tracks[name] <- id

            append $"""{{"name":"thread_name","ph":"M","pid":1,"tid":{id},"args":{{"name":"{escape name}"}}}}"""

            id

    let instant (time: int64) (tid: int) (name: string) =
        append $"""{{"name":"{escape name}","ph":"i","s":"t","ts":{time},"pid":1,"tid":{tid}}}"""

    /// Events written so far.
    member _.Count = count

    /// The connection `track` after a step at `time`: counters that changed, and an event
    /// for a new state or another timeout, loss probe or undone reduction.
    member _.Add(time: int64, track: string, s: Sample) =
        let tid = trackOf track

        let before =
            match last.TryGetValue track with
            | true, b -> ValueSome b
            | _ -> ValueNone

        let previous =
            match before with
            | ValueSome b -> counters b
            | ValueNone -> [||]

        counters s
        |> Array.iteri (fun i (name, value) ->
            if previous.Length = 0 || snd previous[i] <> value then
                append
                    $"""{{"name":"{escape track} {name}","ph":"C","ts":{time},"pid":1,"tid":{tid},"args":{{"value":{value}}}}}""")

        match before with
        | ValueSome b ->
            if b.State <> s.State then
                instant time tid $"{s.State}"

            if s.Timeouts > b.Timeouts then
                instant time tid "retransmission timeout"

            if s.LossProbes > b.LossProbes then
                instant time tid "tail loss probe"

            if s.Undone > b.Undone then
                instant time tid "reduction undone"
        | ValueNone -> instant time tid $"{s.State}"

        last[track] <- s

    /// An event of the run as a whole (a drop on the link, say) on the track `track`.
    member _.Event(time: int64, track: string, name: string) = instant time (trackOf track) name

    /// The trace as Chrome trace-event JSON.
    member _.ToJson(processName: string) =
        let head =
            $"""{{"displayTimeUnit":"ms","traceEvents":[
{{"name":"process_name","ph":"M","pid":1,"args":{{"name":"{escape processName}"}}}}"""

        let body = if count > 0 then ",\n" + events.ToString() else ""
        head + body + "\n]}\n"
