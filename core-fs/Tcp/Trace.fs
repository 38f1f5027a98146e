/// A trace of a run in the Chrome trace-event format (JSON), which Perfetto
/// (ui.perfetto.dev) and chrome://tracing open: per connection, counter tracks for the
/// congestion window, slow-start threshold, bytes in flight, RFC 6675's pipe, the peer's
/// window and ours, the smoothed RTT, the RTO, retransmissions and each RTT sample, and
/// instant events for state changes, recovery episodes, timeouts, loss probes, undone
/// reductions, timers armed, fired and stopped, and the engine's notes (segments judged
/// lost and why, D-SACKs). A driver (the simulator, the shell's stack thread) records a
/// connection after each step that touched it; a counter is written only when its value
/// changed. Times are microseconds of the driver's clock (virtual in the simulator). The
/// driver decides when to write the text out: the core does no I/O.
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
        /// Bytes we offer the peer.
        OurWindow: int
        Retransmissions: int64
        /// 0 open, 1 fast recovery, 2 recovery after a timeout.
        Recovery: int
        Timers: Timers.Table
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
        OurWindow = c.ReceiveWindow
        Retransmissions = c.RetransmissionCount
        Recovery =
            match c.Recovery with
            | Recovery.Open -> 0
            | Recovery.Fast _ -> 1
            | Recovery.AfterTimeout _ -> 2
        Timers = c.Deadlines
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
        "our window (bytes)"
        "retransmissions (segments)"
        "rtt sample (us)"
    |]

/// The index of the RTT-sample counter: written per note, not per sample.
[<Literal>]
let private RttSampleCounter = 9

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
    | 6 -> s.Rto
    | 7 -> int64 s.OurWindow
    | _ -> s.Retransmissions

/// Each timer with the names of its events: armed, fired, stopped.
let private timerEventNames =
    Timers.kinds
    |> List.map (fun k ->
        let name =
            match k with
            | Timers.Retransmit -> "retransmission timer"
            | Timers.DelayedAck -> "delayed ACK timer"
            | Timers.Persist -> "persist timer"
            | Timers.Keepalive -> "keepalive timer"
            | Timers.TimeWait -> "TIME-WAIT timer"
            | Timers.Reorder -> "reordering timer"
            | Timers.LossProbe -> "loss probe timer"

        struct (k, name + " armed", name + " fired", name + " stopped"))
    |> Array.ofList

/// What a note is called in the trace.
let private noteName (kind: NoteKind) =
    match kind with
    | NoteKind.LostByRack -> "lost: RACK"
    | NoteKind.LostByReorderTimer -> "lost: RACK reordering timer"
    | NoteKind.LostByThreshold -> "lost: SACKed above a hole (RFC 6675)"
    | NoteKind.LostByDuplicateAcks -> "lost: three duplicate ACKs"
    | NoteKind.LostByPartialAck -> "lost: partial ACK"
    | NoteKind.LostByTimeout -> "lost: retransmission timeout"
    | NoteKind.LostByPathMtu -> "lost: path MTU dropped"
    | NoteKind.DuplicateReported -> "D-SACK"
    | _ -> "note"

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

    /// An instant event with up to two numbers as its arguments (`key2` null: one; `key1`
    /// null: none), written straight into the text.
    let instantWith
        (time: int64)
        (t: Track)
        (name: string)
        (key1: string)
        (value1: int64)
        (key2: string)
        (value2: int64)
        =
        separate ()

        events.Append("{\"name\":\"").Append(escape name).Append("\",\"ph\":\"i\",\"s\":\"t\",\"ts\":").Append(time)
        |> ignore

        if not (isNull key1) then
            events.Append(",\"args\":{\"").Append(key1).Append("\":").Append(value1)
            |> ignore

            if not (isNull key2) then
                events.Append(",\"").Append(key2).Append("\":").Append(value2) |> ignore

            events.Append('}') |> ignore

        events.Append(t.InstantTail) |> ignore

    let instant (time: int64) (t: Track) (name: string) = instantWith time t name null 0L null 0L

    let counterEvent (time: int64) (t: Track) (i: int) (value: int64) =
        separate ()

        events.Append(t.CounterHeads[i]).Append(time).Append(",\"args\":{\"value\":").Append(value).Append("}}")
        |> ignore

    /// Timers armed (from off), fired (due by `time`) and stopped (before they were due).
    /// A running timer moved to a new deadline, as the retransmission timer is on most
    /// ACKs, is left out: its deadline follows from the RTO track.
    let timerEvents (time: int64) (t: Track) (before: Timers.Table) (after: Timers.Table) =
        for struct (kind, armed, fired, stopped) in timerEventNames do
            let was = Timers.get kind before
            let now = Timers.get kind after

            if was <> now then
                match was, now with
                | ValueSome d, _ when d <= time -> instant time t fired
                | ValueNone, ValueSome d -> instantWith time t armed "due in (us)" (d - time) null 0L
                | ValueSome _, ValueNone -> instant time t stopped
                | _ -> ()

    let add (time: int64) (track: string) (s: Sample) =
        let t = trackOf track
        let before = t.Last

        for i in 0 .. RttSampleCounter - 1 do
            let value = counter &s i

            if not t.Seen || counter &before i <> value then
                counterEvent time t i value

        if not t.Seen || before.State <> s.State then
            instant time t $"{s.State}"

        if t.Seen then
            if s.Timeouts > before.Timeouts then
                instant time t "retransmission timeout"

            if s.LossProbes > before.LossProbes then
                instant time t "tail loss probe"

            if s.Undone > before.Undone then
                instant time t "reduction undone"

            if s.Recovery <> before.Recovery then
                match s.Recovery with
                | 1 -> instant time t "fast recovery begins"
                | 2 -> instant time t "recovery after timeout begins"
                | _ -> instant time t "recovery ends"

            timerEvents time t before.Timers s.Timers

        t.Last <- s
        t.Seen <- true
        t

    /// Events written so far.
    member _.Count = count

    /// The connection `track` after a step at `time`: counters that changed, and an event
    /// for a new state, a recovery episode, a timer, or another timeout, loss probe or
    /// undone reduction.
    member _.Add(time: int64, track: string, s: Sample) = add time track s |> ignore

    /// `Add` for the connection `c`, and its notes (`ConnectionOptions.Trace`), which
    /// are then cleared: RTT samples on their own counter track, losses and D-SACKs as
    /// events, each at its own time.
    member _.Record(time: int64, track: string, c: Connection) =
        let t = add time track (sample c)
        let notes = c.Notes

        if not (isNull notes) then
            for note in notes do
                match note.Kind with
                | NoteKind.RttSample -> counterEvent note.Time t RttSampleCounter note.Value
                | kind -> instantWith note.Time t (noteName kind) "bytes" note.Value "from" (int64 note.Seq.Value)

            notes.Clear()

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

        // One copy of the events' text, not one per concatenation.
        System.String.Concat(head, (if count > 0 then ",\n" else ""), events.ToString(), "\n]}\n")
