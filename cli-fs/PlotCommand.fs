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

/// The graph of one flow: segments as points at the byte they reach (retransmissions in
/// red), the ACK line and the window's right edge as steps, SACKed blocks as short bars.
let private draw (flow: TimeSequence.Flow) =
    let plot = new Plot()
    let original = flow.Segments |> List.filter (fun s -> not s.Retransmission)
    let again = flow.Segments |> List.filter (fun s -> s.Retransmission)

    let points (segments: TimeSequence.Segment list) (color: Color) (label: string) =
        if not segments.IsEmpty then
            let p =
                plot.Add.ScatterPoints(
                    xs (fun (s: TimeSequence.Segment) -> s.Time) segments,
                    xs (fun (s: TimeSequence.Segment) -> float s.End) segments
                )

            p.Color <- color
            p.MarkerSize <- 3.0f
            p.LegendText <- $"{label} ({segments.Length})"

    let steps (values: (float * float) list) (color: Color) (label: string) =
        if not values.IsEmpty then
            let line = plot.Add.Scatter(xs fst values, xs snd values)
            line.ConnectStyle <- ConnectStyle.StepHorizontal
            line.MarkerSize <- 0.0f
            line.Color <- color
            line.LegendText <- label

    steps (flow.Acks |> List.map (fun a -> a.Time, float a.WindowEdge)) Colors.GoldenRod "receive window edge"
    steps (flow.Acks |> List.map (fun a -> a.Time, float a.Ack)) Colors.Green "ACK"

    if not flow.Syns.IsEmpty then
        let syns =
            plot.Add.ScatterPoints(Array.ofList flow.Syns, Array.create flow.Syns.Length 0.0)

        syns.Color <- Colors.Black
        syns.MarkerSize <- 6.0f
        syns.LegendText <- $"SYN ({flow.Syns.Length})"

    points original Colors.Blue "segments"
    points again Colors.Red "retransmissions"

    for s in flow.Sacks do
        let bar = plot.Add.Line(s.Time, float s.Left, s.Time, float s.Right)
        bar.Color <- Colors.Purple
        bar.LineWidth <- 2.0f

    if not flow.Sacks.IsEmpty then
        let sample = plot.Add.Line(0.0, 0.0, 0.0, 0.0)
        sample.Color <- Colors.Purple
        sample.LegendText <- $"SACK blocks ({flow.Sacks.Length})"

    plot.Title($"{flow.Source} to {flow.Destination}")
    plot.XLabel "time (s)"
    plot.YLabel "sequence offset (bytes)"
    plot.ShowLegend(Alignment.UpperLeft) |> ignore
    plot

/// The graphs' file names without extension: PREFIX-N-FROM-TO, ports and all.
let private nameOf (prefix: string) (index: int) (flow: TimeSequence.Flow) =
    let clean (s: string) = s.Replace(':', '_')
    $"{prefix}-{index}-{clean flow.Source}-{clean flow.Destination}"

/// Draws every flow with data in the pcap file `pcap` into PREFIX-N-FROM-TO.png and .svg,
/// writing a line per graph to `out`; the number of graphs, or why there are none.
let plotCapture (pcap: string) (prefix: string) (width: int) (height: int) (out: TextWriter) =
    match TimeSequence.ofPcap (File.ReadAllBytes pcap) with
    | Error e -> Error e
    | Ok flows ->
        let withData = flows |> List.filter (fun f -> not f.Segments.IsEmpty)

        if withData.IsEmpty then
            Error "it holds no TCP data segments to draw"
        else
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath prefix))
            |> ignore

            withData
            |> List.iteri (fun i flow ->
                let name = nameOf prefix (i + 1) flow
                use plot = draw flow
                plot.SavePng(name + ".png", width, height) |> ignore
                plot.SaveSvg(name + ".svg", width, height) |> ignore

                let scale =
                    if flow.SawHandshake then
                        ""
                    else
                        " (no handshake in the capture: windows unscaled)"

                out.WriteLine(
                    $"{name}.png and .svg: {flow.Source} to {flow.Destination}, {flow.Segments.Length} segments, {flow.Retransmissions} retransmitted, {flow.Acks.Length} ACKs, {flow.Sacks.Length} SACK blocks{scale}"
                ))

            Ok withData.Length

/// The series of a trace track as steps, leaving out negative values (an unset ssthresh)
/// and scaling each value by `scale`.
let private traceSteps (plot: Plot) (track: TraceFile.Track) (counter: string) (scale: float) (color: Color) =
    match track.Counters.TryFind counter with
    | Some points ->
        let kept = points |> List.filter (fun (_, v) -> v >= 0.0)

        if not kept.IsEmpty then
            let line = plot.Add.Scatter(xs fst kept, xs (fun (_, v) -> v * scale) kept)
            line.ConnectStyle <- ConnectStyle.StepHorizontal
            line.MarkerSize <- 0.0f
            line.Color <- color
            line.LegendText <- counter.Replace(" (bytes)", "").Replace(" (us)", "")
    | None -> ()

/// Red lines where the track's retransmission timer fired.
let private timeoutLines (plot: Plot) (track: TraceFile.Track) =
    let timeouts =
        track.Events |> List.filter (fun (_, name) -> name = "retransmission timeout")

    for (t, _) in timeouts do
        let line = plot.Add.VerticalLine t
        line.Color <- Colors.Red.WithAlpha 0.4
        line.LineWidth <- 1.0f

    if not timeouts.IsEmpty then
        let sample = plot.Add.Line(0.0, 0.0, 0.0, 0.0)
        sample.Color <- Colors.Red.WithAlpha 0.4
        sample.LegendText <- $"retransmission timeouts ({timeouts.Length})"

/// Draws each connection of a trace file (`sim --trace`): its windows (cwnd, ssthresh,
/// flight, pipe; the peer's window, far larger, is in the trace and on the
/// time-sequence graph) and its RTT (SRTT, RTO) against time, timeouts marked.
let plotTrace (path: string) (prefix: string) (width: int) (height: int) (out: TextWriter) =
    match TraceFile.parse (File.ReadAllText path) with
    | Error e -> Error e
    | Ok tracks ->
        let drawn = tracks |> List.filter (fun t -> not t.Counters.IsEmpty)

        if drawn.IsEmpty then
            Error "it holds no connection counters to draw"
        else
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath prefix))
            |> ignore

            drawn
            |> List.iteri (fun i track ->
                let name = $"{prefix}-{i + 1}-{track.Name.Replace(' ', '-').Replace(':', '_')}"

                use windows = new Plot()
                traceSteps windows track "ssthresh (bytes)" 1.0 Colors.Orange
                traceSteps windows track "cwnd (bytes)" 1.0 Colors.Blue
                traceSteps windows track "flight (bytes)" 1.0 Colors.Green
                traceSteps windows track "pipe (bytes)" 1.0 Colors.Purple
                timeoutLines windows track
                windows.Title $"{track.Name}: congestion window and bytes in flight"
                windows.XLabel "time (s)"
                windows.YLabel "bytes"
                windows.ShowLegend(Alignment.UpperRight) |> ignore
                windows.SavePng(name + "-window.png", width, height) |> ignore
                windows.SaveSvg(name + "-window.svg", width, height) |> ignore

                use rtt = new Plot()
                traceSteps rtt track "rto (us)" 0.001 Colors.Red
                traceSteps rtt track "srtt (us)" 0.001 Colors.Blue
                rtt.Title $"{track.Name}: smoothed RTT and retransmission timeout"
                rtt.XLabel "time (s)"
                rtt.YLabel "milliseconds"
                rtt.ShowLegend(Alignment.UpperRight) |> ignore
                rtt.SavePng(name + "-rtt.png", width, height) |> ignore
                rtt.SaveSvg(name + "-rtt.svg", width, height) |> ignore

                let timeouts =
                    track.Events
                    |> List.filter (fun (_, n) -> n = "retransmission timeout")
                    |> List.length

                out.WriteLine(
                    $"{name}-window.png, -rtt.png and .svg: {track.Name}, {track.Counters.Count} counters, {track.Events.Length} events ({timeouts} timeouts)"
                ))

            Ok drawn.Length

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
