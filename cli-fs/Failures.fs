/// What the program says when a command stops with an exception: one line on stderr and
/// an exit code, 2 for a bad argument, 1 for a machine that cannot do what was asked or
/// anything unexpected, 130 for an interrupt. People read the line; the stack trace is
/// for TCPSTACK_DEBUG=1.
module Stack.Cli.Failures

open System
open Stack.Shell.Device

/// The line to print and the exit code for `e`.
let describe (e: exn) =
    let e =
        match e with
        | :? AggregateException as a -> a.GetBaseException()
        | e -> e

    let message, code =
        match e with
        | Validate.UsageError message -> message, 2
        | Validate.SetupError message -> message, 1
        | :? StackSetupException as e -> e.Message, 1
        | :? OperationCanceledException -> "stopped", 130
        | e -> e.Message, 1

    let line = message.ReplaceLineEndings(" ").Trim()
    $"tcpstack: {line}", code

/// Prints the line for `e` (and its stack trace when TCPSTACK_DEBUG=1); returns the exit code.
let report (e: exn) =
    let line, code = describe e

    if Environment.GetEnvironmentVariable "TCPSTACK_DEBUG" = "1" then
        eprintfn "%O" e

    eprintfn "%s" line
    code
