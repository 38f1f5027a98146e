/// Network namespaces and veth pairs for the commands that need a kernel peer: each is
/// created by the run that uses it and removed when that run ends, also on failure.
module Stack.Cli.Namespaces

open System
open System.Diagnostics
open System.Net.Sockets
open Stack.Shell.Device

/// Runs `ip` with the arguments; fails with its error text.
let ip (arguments: string list) =
    let psi = ProcessStartInfo("ip", arguments)
    psi.RedirectStandardError <- true
    psi.UseShellExecute <- false
    use p = Process.Start psi
    let error = p.StandardError.ReadToEnd()
    p.WaitForExit()

    if p.ExitCode <> 0 then
        failwith $"""`ip {String.Join(" ", arguments)}` failed: {error.Trim()}"""

/// A name for a namespace this process owns: the prefix, the process id and a suffix.
let uniqueName (prefix: string) (suffix: string) =
    $"{prefix}{Environment.ProcessId}{suffix}"

/// Two new namespaces joined by a veth pair, `a` and `b` on addresses `addressA` and
/// `addressB` (with their prefix). Disposing removes both namespaces (and so the pair).
type VethPair(a: string, b: string, addressA: string, addressB: string, mtu: int) =
    let nsA = NetworkNamespace.Open a
    let nsB = NetworkNamespace.Open b

    do
        try
            ip
                [
                    "link"
                    "add"
                    "veth0"
                    "netns"
                    a
                    "mtu"
                    string mtu
                    "type"
                    "veth"
                    "peer"
                    "name"
                    "veth1"
                    "netns"
                    b
                ]

            ip [ "-n"; a; "addr"; "add"; addressA; "dev"; "veth0" ]
            ip [ "-n"; b; "addr"; "add"; addressB; "dev"; "veth1" ]
            ip [ "-n"; a; "link"; "set"; "veth0"; "up" ]
            ip [ "-n"; b; "link"; "set"; "veth1"; "up" ]
        with _ ->
            nsA.Dispose()
            nsB.Dispose()
            reraise ()

    member _.A = a
    member _.B = b

    interface IDisposable with
        member _.Dispose() =
            nsA.Dispose()
            nsB.Dispose()

/// A kernel TCP socket in namespace `ns`.
let socketIn (ns: string) =
    NetworkNamespace.RunIn(ns, fun () -> new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))

/// Namespaces this process may have made, removed if it is interrupted (Ctrl-C, SIGTERM)
/// before its own cleanup runs.
let private owned = Collections.Concurrent.ConcurrentDictionary<string, unit>()

let private removeOwned () =
    for name in owned.Keys do
        if NetworkNamespace.Exists name then
            try
                ip [ "netns"; "del"; name ]
            with _ ->
                ()

let private signals =
    lazy
        [
            for signal in
                [
                    Runtime.InteropServices.PosixSignal.SIGINT
                    Runtime.InteropServices.PosixSignal.SIGTERM
                ] ->
                Runtime.InteropServices.PosixSignalRegistration.Create(
                    signal,
                    fun context ->
                        eprintfn "tcpstack: interrupted; removing the namespaces this run made"
                        removeOwned ()
                        context.Cancel <- false
                )
        ]

/// Marks namespace names as this run's, to be removed if the run is interrupted.
let removeOnInterrupt (names: string list) =
    signals.Force() |> ignore

    for name in names do
        owned[name] <- ()
