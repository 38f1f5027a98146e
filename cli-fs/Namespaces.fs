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
/// `addressB` (with their prefix), and on fd00:8::1 and fd00:8::2. Disposing removes
/// both namespaces (and so the pair).
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
            // IPv6 as well, without duplicate address detection (one peer on the link).
            ip [ "-n"; a; "-6"; "addr"; "add"; "fd00:8::1/64"; "dev"; "veth0"; "nodad" ]
            ip [ "-n"; b; "-6"; "addr"; "add"; "fd00:8::2/64"; "dev"; "veth1"; "nodad" ]
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

/// A benchmark's stack: 10.9.0.2 and fd00:9::2 on a TUN device in namespace `ns` (made
/// for the run), the kernel at 10.9.0.1 and fd00:9::1 on the device's other side, Nagle
/// off, buffers of `buffer` bytes.
let benchStack (ns: string) (mtu: int) (buffer: int) =
    Stack.Shell.TcpStack.StartAsync(
        Stack.Shell.TcpStackOptions(
            Address = Net.IPAddress.Parse "10.9.0.2",
            Namespace = ns,
            KernelAddress = "10.9.0.1/24",
            Address6 = Net.IPAddress.Parse "fd00:9::2",
            KernelAddress6 = "fd00:9::1/64",
            Mtu = mtu,
            NoDelay = true,
            ReceiveBufferSize = buffer,
            SendBufferSize = buffer,
            CloseTimeout = TimeSpan.FromSeconds 2.
        )
    )

/// A kernel TCP socket in namespace `ns`.
let socketIn (ns: string) =
    NetworkNamespace.RunIn(ns, fun () -> new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))

/// A kernel TCP/IPv6 socket in namespace `ns`.
let socketIn6 (ns: string) =
    NetworkNamespace.RunIn(ns, fun () -> new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp))

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

/// The kernel's TCP counters in namespace `ns` (the `TcpExt` and `Tcp` lines of
/// /proc/net/netstat and /proc/net/snmp), by name.
let kernelCounters (ns: string) =
    let read (file: string) =
        let psi = ProcessStartInfo("ip", [ "netns"; "exec"; ns; "cat"; file ])
        psi.RedirectStandardOutput <- true
        psi.UseShellExecute <- false
        use p = Process.Start psi
        let text = p.StandardOutput.ReadToEnd()
        p.WaitForExit()
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries)

    // Each table is a line of names followed by a line of values, both led by "Prefix:".
    [ "/proc/net/netstat"; "/proc/net/snmp" ]
    |> Seq.collect (fun file ->
        read file
        |> Array.chunkBySize 2
        |> Seq.filter (fun pair -> pair.Length = 2)
        |> Seq.collect (fun pair ->
            let names = pair[0].Split(' ', StringSplitOptions.RemoveEmptyEntries)
            let values = pair[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)
            let prefix = names[0].TrimEnd(':')

            Seq.zip (Seq.skip 1 names) (Seq.skip 1 values)
            |> Seq.choose (fun (name, value) ->
                match Int64.TryParse value with
                | true, v -> Some($"{prefix}.{name}", v)
                | _ -> None)))
    |> Map.ofSeq

/// The congestion control algorithms the kernel offers, and its default, in namespace
/// `ns` (from /proc/sys/net/ipv4).
let kernelCongestionControl (ns: string) =
    let read (name: string) =
        let psi =
            ProcessStartInfo("ip", [ "netns"; "exec"; ns; "cat"; $"/proc/sys/net/ipv4/{name}" ])

        psi.RedirectStandardOutput <- true
        psi.UseShellExecute <- false
        use p = Process.Start psi
        let text = p.StandardOutput.ReadToEnd()
        p.WaitForExit()
        text.Trim()

    let available =
        read "tcp_available_congestion_control"
        |> _.Split(' ', StringSplitOptions.RemoveEmptyEntries)
        |> List.ofArray

    available, read "tcp_congestion_control"

/// Sets a kernel socket's congestion control algorithm (TCP_CONGESTION).
let setCongestionControl (socket: Socket) (name: string) =
    let tcpCongestion = 13
    socket.SetRawSocketOption(int SocketOptionLevel.Tcp, tcpCongestion, Text.Encoding.ASCII.GetBytes name)
