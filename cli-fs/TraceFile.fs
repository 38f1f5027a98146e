/// Reads back a trace in the Chrome trace-event format, as `sim --trace` writes it: per
/// track (a connection), its counter series and its instant events.
module Stack.Cli.TraceFile

open System
open System.Collections.Generic
open System.Text.Json

type Track =
    {
        Name: string
        /// Counter name (without the track's prefix) to its (seconds, value) points.
        Counters: Map<string, (float * float) list>
        /// (seconds, name) of each instant event, and of each span's start.
        Events: (float * string) list
        /// (seconds, name, numeric arguments) of each event that has any (a loss: its
        /// bytes and first sequence number; a timer armed: when it is due; a span: its
        /// duration, "dur", in microseconds).
        Details: (float * string * Map<string, float>) list
    }

/// The tracks of a trace file's text, in the order they were declared; an error when the
/// text is not a trace.
let parse (text: string) : Result<Track list, string> =
    try
        use doc = JsonDocument.Parse text
        let root = doc.RootElement

        let mutable eventsElement = Unchecked.defaultof<JsonElement>

        if
            root.ValueKind <> JsonValueKind.Object
            || not (root.TryGetProperty("traceEvents", &eventsElement))
        then
            Error "not a trace: no traceEvents array (write one with sim --trace)"
        else
            let names = Dictionary<int, string>()
            let order = ResizeArray<int>()
            let counters = Dictionary<int, Dictionary<string, ResizeArray<float * float>>>()
            let instants = Dictionary<int, ResizeArray<float * string>>()
            let details = Dictionary<int, ResizeArray<float * string * Map<string, float>>>()

            let str (e: JsonElement) (name: string) =
                let mutable v = Unchecked.defaultof<JsonElement>

                if e.TryGetProperty(name, &v) && v.ValueKind = JsonValueKind.String then
                    v.GetString()
                else
                    ""

            let num (e: JsonElement) (name: string) =
                let mutable v = Unchecked.defaultof<JsonElement>

                if e.TryGetProperty(name, &v) && v.ValueKind = JsonValueKind.Number then
                    v.GetDouble()
                else
                    0.0

            for e in eventsElement.EnumerateArray() do
                let tid = int (num e "tid")
                let phase = str e "ph"
                let name = str e "name"
                let seconds = num e "ts" / 1e6

                match phase with
                | "M" when name = "thread_name" ->
                    names[tid] <- str (e.GetProperty "args") "name"
                    order.Add tid
                | "C" ->
                    let track =
                        match names.TryGetValue tid with
                        | true, t -> t
                        | _ -> ""

                    let counter =
                        if track <> "" && name.StartsWith(track + " ") then
                            name.Substring(track.Length + 1)
                        else
                            name

                    let series =
                        match counters.TryGetValue tid with
                        | true, s -> s
                        | _ ->
                            let s = Dictionary()
                            counters[tid] <- s
                            s

                    match series.TryGetValue counter with
                    | true, points -> points.Add((seconds, num (e.GetProperty "args") "value"))
                    | _ -> series[counter] <- ResizeArray [ (seconds, num (e.GetProperty "args") "value") ]
                | "i"
                | "X" ->
                    match instants.TryGetValue tid with
                    | true, list -> list.Add((seconds, name))
                    | _ -> instants[tid] <- ResizeArray [ (seconds, name) ]

                    let mutable args = Unchecked.defaultof<JsonElement>

                    let numbers =
                        [
                            if phase = "X" then
                                "dur", num e "dur"
                            if e.TryGetProperty("args", &args) && args.ValueKind = JsonValueKind.Object then
                                for p in args.EnumerateObject() do
                                    if p.Value.ValueKind = JsonValueKind.Number then
                                        p.Name, p.Value.GetDouble()
                        ]

                    if not numbers.IsEmpty then
                        let entry = (seconds, name, Map.ofList numbers)

                        match details.TryGetValue tid with
                        | true, list -> list.Add entry
                        | _ -> details[tid] <- ResizeArray [ entry ]
                | _ -> ()

            order
            |> Seq.map (fun tid ->
                {
                    Name = names[tid]
                    Counters =
                        match counters.TryGetValue tid with
                        | true, s -> s |> Seq.map (fun kv -> kv.Key, List.ofSeq kv.Value) |> Map.ofSeq
                        | _ -> Map.empty
                    Events =
                        match instants.TryGetValue tid with
                        | true, l -> List.ofSeq l
                        | _ -> []
                    Details =
                        match details.TryGetValue tid with
                        | true, l -> List.ofSeq l
                        | _ -> []
                })
            |> List.ofSeq
            |> Ok
    with :? JsonException as e ->
        Error $"not JSON: {e.Message}"
