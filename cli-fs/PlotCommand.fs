/// `tcpstack plot`: time-sequence graphs of a capture (tcptrace's, Wireshark's Stevens
/// graph), one per direction that carried data, as PNG and SVG.
module Stack.Cli.PlotCommand

open System
open System.IO
open Argu
open ScottPlot

type PlotArgs =
    | [<MainCommand; ExactlyOnce>] Pcap of file: string
    | Out of prefix: string
    | Width of pixels: int
    | Height of pixels: int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Pcap _ ->
                "the capture to draw (ours, or any pcap of TCP over IPv4, such as tcpdump's), or a trace (sim --trace) to draw its windows and RTT."
            | Out _ -> "where the graphs go: PREFIX-N-FROM-TO.png and .svg (default: the capture's name without .pcap)."
            | Width _ -> "image width, 200 to 10000 pixels (default 1200)."
            | Height _ -> "image height, 200 to 10000 pixels (default 800)."

let private xs (f: 'T -> float) (items: 'T list) = items |> List.map f |> Array.ofList

/// A line of (x, y) steps, as a value holds until it changes.
let private steps (plot: Plot) (values: (float * float) list) (color: Color) (label: string) =
    if not values.IsEmpty then
        let line = plot.Add.Scatter(xs fst values, xs snd values)
        line.ConnectStyle <- ConnectStyle.StepHorizontal
        line.MarkerSize <- 0.0f
        line.Color <- color
        line.LegendText <- label

/// A legend entry for marks drawn one by one (bars, vertical lines).
let private legendEntry (plot: Plot) (color: Color) (label: string) =
    let sample = plot.Add.Line(0.0, 0.0, 0.0, 0.0)
    sample.Color <- color
    sample.LegendText <- label

/// Titles and axes, then the graph saved as NAME.png and NAME.svg.
let private save (plot: Plot) (title: string) (yLabel: string) (name: string) (width: int) (height: int) =
    plot.Title title
    plot.XLabel "time (s)"
    plot.YLabel yLabel
    plot.ShowLegend(Alignment.UpperLeft) |> ignore
    plot.SavePng(name + ".png", width, height) |> ignore
    plot.SaveSvg(name + ".svg", width, height) |> ignore

/// Draws each item with `drawOne prefix index item` (which saves its graphs and says what
/// it drew, a line for `out`); the number drawn, or `none` when there is nothing to draw.
let private drawAll
    (prefix: string)
    (none: string)
    (items: 'T list)
    (drawOne: string -> int -> 'T -> string)
    (out: TextWriter)
    =
    if items.IsEmpty then
        Error none
    else
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath prefix))
        |> ignore

        items |> List.iteri (fun i item -> out.WriteLine(drawOne prefix (i + 1) item))
        Ok items.Length

/// The time-sequence graph of one flow: segments as points at the byte they reach
/// (retransmissions in red, SYNs in black), the ACK line and the window's right edge as
/// steps, SACKed blocks as short bars. Returns what it drew.
let private drawFlow (width: int) (height: int) (prefix: string) (index: int) (flow: TimeSequence.Flow) =
    use plot = new Plot()

    let points (times: float list) (bytes: float list) (color: Color) (size: float32) (label: string) =
        if not times.IsEmpty then
            let p = plot.Add.ScatterPoints(Array.ofList times, Array.ofList bytes)
            p.Color <- color
            p.MarkerSize <- size
            p.LegendText <- $"{label} ({times.Length})"

    let segments (retransmitted: bool) (color: Color) (label: string) =
        let chosen =
            flow.Segments |> List.filter (fun s -> s.Retransmission = retransmitted)

        points (chosen |> List.map (fun s -> s.Time)) (chosen |> List.map (fun s -> float s.End)) color 3.0f label

    steps plot (flow.Acks |> List.map (fun a -> a.Time, float a.WindowEdge)) Colors.GoldenRod "receive window edge"
    steps plot (flow.Acks |> List.map (fun a -> a.Time, float a.Ack)) Colors.Green "ACK"
    points flow.Syns (flow.Syns |> List.map (fun _ -> 0.0)) Colors.Black 6.0f "SYN"
    segments false Colors.Blue "segments"
    segments true Colors.Red "retransmissions"

    for b in flow.Sacks do
        let bar = plot.Add.Line(b.Time, float b.Left, b.Time, float b.Right)
        bar.Color <- Colors.Purple
        bar.LineWidth <- 2.0f

    if not flow.Sacks.IsEmpty then
        legendEntry plot Colors.Purple $"SACK blocks ({flow.Sacks.Length})"

    let clean (s: string) = s.Replace(':', '_')
    let name = $"{prefix}-{index}-{clean flow.Source}-{clean flow.Destination}"
    save plot $"{flow.Source} to {flow.Destination}" "sequence offset (bytes)" name width height

    use rate = new Plot()
    let goodput = TimeSequence.throughput flow

    steps rate (goodput |> List.map (fun (t, bps) -> t, bps / 1e6)) Colors.Blue "acknowledged (goodput)"

    save rate $"{flow.Source} to {flow.Destination}: throughput" "Mbit/s" (name + "-throughput") width height

    let scale =
        if flow.SawHandshake then
            ""
        else
            " (no handshake in the capture: windows unscaled)"

    $"{name}.png, -throughput.png and .svg: {flow.Source} to {flow.Destination}, {flow.Segments.Length} segments, {flow.Retransmissions} retransmitted, {flow.Acks.Length} ACKs, {flow.Sacks.Length} SACK blocks{scale}"

/// Draws every flow with data in the pcap file `pcap` into PREFIX-N-FROM-TO.png and .svg,
/// writing a line per graph to `out`; the number of graphs, or why there are none.
let plotCapture (pcap: string) (prefix: string) (width: int) (height: int) (out: TextWriter) =
    match TimeSequence.ofPcap (File.ReadAllBytes pcap) with
    | Error e -> Error e
    | Ok flows ->
        let withData = flows |> List.filter (fun f -> not f.Segments.IsEmpty)
        drawAll prefix "it holds no TCP data segments to draw" withData (drawFlow width height) out

/// The series of a trace track as steps, leaving out negative values (an unset ssthresh)
/// and scaling each value by `scale`.
let private traceSteps (plot: Plot) (track: TraceFile.Track) (counter: string) (scale: float) (color: Color) =
    match track.Counters.TryFind counter with
    | Some points ->
        // Held to the track's last moment: a value that never changed is one point.
        let last =
            track.Counters |> Seq.collect (fun kv -> kv.Value) |> Seq.map fst |> Seq.max

        let kept =
            points
            |> List.filter (fun (_, v) -> v >= 0.0)
            |> List.map (fun (t, v) -> t, v * scale)
            |> fun kept ->
                match List.tryLast kept with
                | Some(t, v) when t < last -> kept @ [ last, v ]
                | _ -> kept

        steps plot kept color (counter.Replace(" (bytes)", "").Replace(" (us)", ""))
    | None -> ()

/// A trace track's two graphs: its windows (cwnd, ssthresh, flight, pipe; the peer's
/// window, far larger, is in the trace and on the time-sequence graph) with its
/// timeouts as red lines, and its SRTT and RTO. Returns what it drew.
let private drawTrack (width: int) (height: int) (prefix: string) (index: int) (track: TraceFile.Track) =
    let name = $"{prefix}-{index}-{track.Name.Replace(' ', '-').Replace(':', '_')}"

    let timeouts =
        track.Events |> List.filter (fun (_, n) -> n = "retransmission timeout")

    use windows = new Plot()
    traceSteps windows track "ssthresh (bytes)" 1.0 Colors.Orange
    traceSteps windows track "cwnd (bytes)" 1.0 Colors.Blue
    traceSteps windows track "flight (bytes)" 1.0 Colors.Green
    traceSteps windows track "pipe (bytes)" 1.0 Colors.Purple

    for (t, _) in timeouts do
        let line = windows.Add.VerticalLine t
        line.Color <- Colors.Red.WithAlpha 0.4
        line.LineWidth <- 1.0f

    if not timeouts.IsEmpty then
        legendEntry windows (Colors.Red.WithAlpha 0.4) $"retransmission timeouts ({timeouts.Length})"

    // Losses the engine found by other means than a timeout (RACK, SACKs, duplicate ACKs).
    let found =
        track.Details
        |> List.filter (fun (_, n, _) -> n.StartsWith "lost: " && n <> "lost: retransmission timeout")

    if not found.IsEmpty then
        let marks =
            windows.Add.ScatterPoints(xs (fun (t, _, _) -> t) found, xs (fun _ -> 0.0) found)

        marks.Color <- Colors.Magenta
        marks.MarkerShape <- MarkerShape.FilledTriangleUp
        marks.MarkerSize <- 6.0f
        marks.LegendText <- $"losses found without a timeout ({found.Length})"

    save windows $"{track.Name}: congestion window and bytes in flight" "bytes" (name + "-window") width height

    use rtt = new Plot()
    traceSteps rtt track "rto (us)" 0.001 Colors.Red
    traceSteps rtt track "srtt (us)" 0.001 Colors.Blue

    match track.Counters.TryFind "rtt sample (us)" with
    | Some samples when not samples.IsEmpty ->
        let points =
            rtt.Add.ScatterPoints(xs fst samples, xs (fun (_, v) -> v * 0.001) samples)

        points.Color <- Colors.Gray.WithAlpha 0.5
        points.MarkerSize <- 3.0f
        points.LegendText <- $"RTT samples ({samples.Length})"
    | _ -> ()

    save rtt $"{track.Name}: smoothed RTT and retransmission timeout" "milliseconds" (name + "-rtt") width height

    $"{name}-window.png, -rtt.png and .svg: {track.Name}, {track.Counters.Count} counters, {track.Events.Length} events ({timeouts.Length} timeouts)"

/// Draws each connection of a trace file (`sim --trace`); the number of connections drawn,
/// or why there are none.
let plotTrace (path: string) (prefix: string) (width: int) (height: int) (out: TextWriter) =
    match TraceFile.parse (File.ReadAllText path) with
    | Error e -> Error e
    | Ok tracks ->
        let drawn = tracks |> List.filter (fun t -> t.Counters.ContainsKey "cwnd (bytes)")
        drawAll prefix "it holds no connection counters to draw" drawn (drawTrack width height) out

/// A trace file (JSON) rather than a capture: by its name, or by its first character.
let private isTrace (path: string) =
    path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
    || (use s = File.OpenRead path in s.ReadByte() = int '{')

/// Draws every flow with data in the capture; prints each file written. Returns the exit
/// code.
let run (args: ParseResults<PlotArgs>) (out: TextWriter) : int =
    let pcap = args.GetResult Pcap
    let width = args.GetResult(Width, 1200)
    let height = args.GetResult(Height, 800)

    let prefix =
        args.GetResult(
            Out,
            Path.Combine(Path.GetDirectoryName(Path.GetFullPath pcap), Path.GetFileNameWithoutExtension pcap)
        )

    if width < 200 || width > 10000 || height < 200 || height > 10000 then
        eprintfn "plot: --width and --height take 200 to 10000 pixels, not %dx%d" width height
        2
    elif not (File.Exists pcap) then
        eprintfn "plot: %s does not exist (give a pcap file, such as one `sim --pcap` or tcpdump -w wrote)" pcap
        2
    else
        let draw = if isTrace pcap then plotTrace else plotCapture

        match draw pcap prefix width height out with
        | Ok _ -> 0
        | Error e ->
            eprintfn "plot: %s: %s" pcap e
            2
