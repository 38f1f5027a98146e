module Stack.Tests.Main

open System
open Expecto
open Expecto.Impl

/// Runs every test, then prints the plain `N passed, N failed, N skipped` line CI reads,
/// alone on the last line of standard output.
[<EntryPoint>]
let main argv =
    let mutable counts = None
    let basePrinter = defaultConfig.printer

    let printer =
        { basePrinter with
            summary =
                fun config summary ->
                    counts <-
                        Some(
                            summary.passed.Length,
                            summary.failed.Length + summary.errored.Length,
                            summary.ignored.Length
                        )

                    basePrinter.summary config summary
        }

    let code = runTestsInAssemblyWithCLIArgs [ Printer printer ] argv

    match counts with
    | Some(passed, failed, skipped) ->
        use out = new IO.StreamWriter(Console.OpenStandardOutput())
        // Expecto leaves a colour reset without a newline: start a fresh line first.
        out.WriteLine()
        out.WriteLine $"{passed} passed, {failed} failed, {skipped} skipped"
    | None -> ()

    code
