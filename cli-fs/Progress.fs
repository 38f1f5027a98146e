/// Progress of a long transfer: a bar redrawn in place on a terminal, a plain line every
/// tenth (or every second, when the total is unknown) otherwise. Written to stderr, so
/// stdout keeps only results.
module Stack.Cli.Progress

open System
open System.Diagnostics

type Progress(label: string, total: int64 option) =
    let clock = Stopwatch.StartNew()
    let onTerminal = not Console.IsErrorRedirected
    let mutable lastDraw = TimeSpan.Zero
    let mutable lastTenth = -1L
    let mutable lastSecond = 0L

    let rate (bytes: int64) =
        let seconds = max 1e-6 clock.Elapsed.TotalSeconds
        float bytes * 8.0 / seconds / 1e6

    member _.Elapsed = clock.Elapsed

    /// Megabits per second over the whole transfer so far.
    member _.Rate(bytes: int64) = rate bytes

    member _.Update(bytes: int64) =
        if onTerminal then
            if clock.Elapsed - lastDraw > TimeSpan.FromMilliseconds 100. then
                lastDraw <- clock.Elapsed

                match total with
                | Some t when t > 0L ->
                    let width = 30
                    let filled = int (int64 width * bytes / t)
                    let bar = String('#', filled) + String('.', width - filled)

                    eprintf
                        "\r%s [%s] %3d%% %d bytes %.1f Mbit/s "
                        label
                        bar
                        (int (100L * bytes / t))
                        bytes
                        (rate bytes)
                | _ -> eprintf "\r%s %d bytes %.1f Mbit/s " label bytes (rate bytes)
        else
            match total with
            | Some t when t > 0L ->
                let tenth = 10L * bytes / t

                if tenth > lastTenth then
                    lastTenth <- tenth
                    eprintfn "%s %d%% (%d bytes)" label (tenth * 10L) bytes
            | _ ->
                let second = int64 clock.Elapsed.TotalSeconds

                if second > lastSecond then
                    lastSecond <- second
                    eprintfn "%s %d bytes" label bytes

    member _.Done(bytes: int64) =
        if onTerminal then
            eprintfn
                "\r%s done: %d bytes in %.2f s, %.1f Mbit/s%s"
                label
                bytes
                clock.Elapsed.TotalSeconds
                (rate bytes)
                (String(' ', 20))
