/// A live view of a running stack's connections, like `ss -ti` refreshed in place:
/// `serve --top` and `echo --top`.
module Stack.Cli.TopView

open System
open System.Threading
open Spectre.Console
open Stack.Shell

let private megabits (bytes: int64) (seconds: float) =
    if seconds <= 0.0 then
        0.0
    else
        float bytes * 8.0 / seconds / 1e6

let private size (bytes: int64) =
    if bytes >= (10L <<< 20) then $"{bytes >>> 20} MiB"
    elif bytes >= (10L <<< 10) then $"{bytes >>> 10} KiB"
    else $"{bytes} B"

let private milliseconds (t: TimeSpan) = $"{t.TotalMilliseconds:F1} ms"

/// The table of `infos`, with each connection's rates since `before` (the previous
/// snapshot, `seconds` ago).
let table (infos: TcpConnectionInfo seq) (before: Map<string, TcpConnectionInfo>) (seconds: float) =
    let t = Table()

    for column in
        [
            "local"
            "remote"
            "state"
            "acked"
            "recv"
            "out Mb/s"
            "in Mb/s"
            "cwnd"
            "flight"
            "srtt"
            "rto"
            "rtx"
            "RTOs"
        ] do
        t.AddColumn(column) |> ignore

    for i in infos do
        let key = $"{i.LocalEndPoint}-{i.RemoteEndPoint}"

        let previous = before |> Map.tryFind key |> Option.defaultValue i

        t.AddRow(
            string i.LocalEndPoint,
            string i.RemoteEndPoint,
            string i.State,
            size i.BytesAcknowledged,
            size i.BytesReceived,
            $"{megabits (i.BytesAcknowledged - previous.BytesAcknowledged) seconds:F1}",
            $"{megabits (i.BytesReceived - previous.BytesReceived) seconds:F1}",
            size i.CongestionWindow,
            size i.BytesInFlight,
            (i.SmoothedRtt
             |> Option.ofNullable
             |> Option.map milliseconds
             |> Option.defaultValue "-"),
            milliseconds i.RetransmissionTimeout,
            string i.Retransmissions,
            string i.Timeouts
        )
        |> ignore

    t.Caption <- TableTitle($"{Seq.length infos} connections; refreshed every second; Ctrl-C stops")
    t

let private keyed (infos: TcpConnectionInfo seq) =
    infos
    |> Seq.map (fun i -> $"{i.LocalEndPoint}-{i.RemoteEndPoint}", i)
    |> Map.ofSeq

/// Shows `stack`'s connections on the console, refreshed every second, until `stop`.
let show (stack: TcpStack) (stop: CancellationToken) =
    let mutable before = Map.empty
    let mutable last = DateTime.UtcNow
    let first = stack.GetConnectionsAsync().Result

    AnsiConsole
        .Live(table first before 1.0)
        .Start(fun ctx ->
            while not stop.IsCancellationRequested do
                stop.WaitHandle.WaitOne(TimeSpan.FromSeconds 1.) |> ignore

                if not stop.IsCancellationRequested then
                    let now = DateTime.UtcNow
                    let infos = stack.GetConnectionsAsync().Result
                    ctx.UpdateTarget(table infos before (now - last).TotalSeconds)
                    ctx.Refresh()
                    before <- keyed infos
                    last <- now)
