/// The options every command that runs a stack shares, and starting the stack from them:
/// its device in a namespace of its own, impairment, capture and packet printing, and a
/// clean stop on Ctrl-C or SIGTERM.
module Stack.Cli.StackArgs

open System
open System.Net
open System.Runtime.InteropServices
open System.Threading
open Argu
open Stack.Core
open Stack.Core.Wire
open Stack.Shell

type StackArgs =
    | Netns of name: string
    | Tun of name: string
    | Addr of address: string
    | Kernel_Addr of address: string
    | Addr6 of address: string
    | Kernel_Addr6 of address: string
    | No_Ipv6
    | Mtu of bytes: int
    | Loss of probability: string
    | Dup of probability: string
    | Reorder of probability: string
    | Delay of ms: float
    | Jitter of ms: float
    | Corrupt of probability: string
    | Rate of mbit: float
    | Seed of seed: uint64
    | Pcap of file: string
    | Trace of file: string
    | Log_Packets
    | No_Offload

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Netns _ ->
                "network namespace of the stack's TUN device: created if missing, removed at exit if created here (default tcpstack)."
            | Tun _ -> "name of the TUN device (default: the kernel picks)."
            | Addr _ -> "the stack's own address, a host address in the kernel side's subnet (default 10.7.0.2)."
            | Kernel_Addr _ -> "the kernel side's address on the device, with its prefix 1 to 31 (default 10.7.0.1/24)."
            | Addr6 _ -> "the stack's own IPv6 address, in the kernel side's IPv6 prefix (default fd00:7::2)."
            | Kernel_Addr6 _ -> "the kernel side's IPv6 address on the device, with its prefix (default fd00:7::1/64)."
            | No_Ipv6 -> "IPv4 only: no IPv6 address on the stack or the device."
            | Mtu _ -> "MTU of the device, 576 to 65535 (default 1500)."
            | Loss _ -> "impairment: chance a packet is lost, each way, as 0.05 or 5%."
            | Dup _ -> "impairment: chance a packet is duplicated."
            | Reorder _ -> "impairment: chance a packet is held back 3 ms so later ones overtake it."
            | Delay _ -> "impairment: one-way delay in milliseconds, 0 to 60000."
            | Jitter _ -> "impairment: extra random delay, up to this many milliseconds (0 to 60000)."
            | Corrupt _ -> "impairment: chance one bit of a packet is flipped."
            | Rate _ -> "impairment: link rate in Mbit/s, 0.001 to 1000000."
            | Seed _ -> "seed of the impairment (default 1)."
            | Pcap _ -> "write every packet in and out to this pcap file (its directory must exist)."
            | Trace _ ->
                "write a trace of every connection to this file when the stack stops (Chrome trace-event JSON: ui.perfetto.dev, or tcpstack plot)."
            | Log_Packets -> "print every packet in and out."
            | No_Offload -> "no segmentation or checksum offload on the TUN device."

/// The impairment the options ask for, if any.
let impairment (args: ParseResults<StackArgs>) =
    let probability (case: Quotations.Expr<string -> StackArgs>) (name: string) =
        args.TryGetResult case
        |> Option.map (Validate.probability name)
        |> Option.defaultValue 0.0

    // Up to a minute: more holds every packet so long that nothing works.
    let millis (case: Quotations.Expr<float -> StackArgs>) (name: string) =
        args.TryGetResult case
        |> Option.map (Validate.inRange name 0.0 60_000.0)
        |> Option.defaultValue 0.0

    let options =
        { Impair.none with
            Loss = probability <@ Loss @> "--loss"
            Duplicate = probability <@ Dup @> "--dup"
            Reorder = probability <@ Reorder @> "--reorder"
            ReorderDelayMicros = 3_000L
            Corrupt = probability <@ Corrupt @> "--corrupt"
            DelayMicros = int64 (millis <@ Delay @> "--delay" * 1000.0)
            JitterMicros = int64 (millis <@ Jitter @> "--jitter" * 1000.0)
            RateBitsPerSecond =
                args.TryGetResult Rate
                |> Option.map (Validate.inRange "--rate" 0.001 1_000_000.0)
                |> Option.map (fun mbit -> int64 (mbit * 1e6))
                |> Option.defaultValue 0L
            QueueLimitBytes = 1_000_000L
        }

    if
        options =
            { Impair.none with
                ReorderDelayMicros = 3_000L
                QueueLimitBytes = 1_000_000L
            }
    then
        None
    else
        Some options

/// The stack's address and the kernel side's subnet, checked against each other: the
/// kernel reaches the stack only through a route to the subnet, so the stack's address
/// must be another host address in it.
let addresses (args: ParseResults<StackArgs>) =
    let kernel =
        Validate.subnet "--kernel-addr" (args.GetResult(Kernel_Addr, "10.7.0.1/24"))

    let own = Validate.ipv4 "--addr" (args.GetResult(Addr, "10.7.0.2"))

    if own = kernel.Address then
        Validate.usage
            $"--addr {own} and --kernel-addr {kernel.Address}/{kernel.Prefix}: the stack and the kernel side need different addresses in {kernel}"

    if not (kernel.IsHost own) then
        Validate.usage $"--addr {own}: use a host address in the kernel side's subnet {kernel} (--kernel-addr)"

    Validate.toIPAddress own, kernel

/// The stack's IPv6 address and the kernel side's, with its prefix, checked against each
/// other as `addresses` does for IPv4; None with --no-ipv6.
let addresses6 (args: ParseResults<StackArgs>) =
    if args.Contains No_Ipv6 then
        if args.Contains Addr6 || args.Contains Kernel_Addr6 then
            Validate.usage "--no-ipv6 with --addr6 or --kernel-addr6: choose one"

        None
    else
        let kernelText = args.GetResult(Kernel_Addr6, "fd00:7::1/64")
        let kernel, prefix = Validate.subnet6 "--kernel-addr6" kernelText
        let own = Validate.ipv6 "--addr6" (args.GetResult(Addr6, "fd00:7::2"))

        if own = kernel then
            Validate.usage
                $"--addr6 {own} and --kernel-addr6 {kernelText}: the stack and the kernel side need different addresses"

        if not (Validate.sameIpv6Prefix own kernel prefix) then
            Validate.usage $"--addr6 {own}: use an address in the kernel side's prefix {kernelText} (--kernel-addr6)"

        Some(own.ToIPAddress(), kernelText)

/// Refuses any value the stack could not start with, before anything is set up.
let check (args: ParseResults<StackArgs>) =
    addresses args |> ignore
    addresses6 args |> ignore
    impairment args |> ignore

    args.TryGetResult Netns
    |> Option.iter (Validate.namespaceName "--netns" >> ignore)

    args.TryGetResult Tun |> Option.iter (Validate.deviceName "--tun" >> ignore)

    args.TryGetResult Mtu
    |> Option.iter (Validate.inRange "--mtu" 576 65535 >> ignore)

    args.TryGetResult Pcap |> Option.iter (Validate.writableFile "--pcap" >> ignore)

    args.TryGetResult Trace
    |> Option.iter (Validate.writableFile "--trace" >> ignore)

    args

/// The stack options, from arguments the command itself did not recognise, checked.
let parse (command: string) (arguments: string list) =
    let parser = ArgumentParser.Create<StackArgs>(programName = $"tcpstack {command}")
    parser.ParseCommandLine(List.toArray arguments, raiseOnUsage = true) |> check

/// The help text of the stack options, for a command's own help.
let usage () =
    ArgumentParser.Create<StackArgs>(programName = "tcpstack <command>").PrintUsage()

/// Prints a packet as one line, the way the seed's programs did, with its direction.
let printPacket (direction: PacketDirection) (packet: ReadOnlySpan<byte>) =
    let arrow = if direction = PacketDirection.In then "in " else "out"
    Console.Out.WriteLine $"{arrow} {Pretty.summary packet}"

/// The namespace the options name.
let namespaceOf (args: ParseResults<StackArgs>) = args.GetResult(Netns, "tcpstack")

/// Starts a stack as the options say.
let start (args: ParseResults<StackArgs>) =
    let impaired = impairment args

    let options =
        TcpStackOptions(
            Address = fst (addresses args),
            Namespace = namespaceOf args,
            TunName = Option.toObj (args.TryGetResult Tun),
            KernelAddress = args.GetResult(Kernel_Addr, "10.7.0.1/24"),
            Address6 = (addresses6 args |> Option.map fst |> Option.toObj),
            KernelAddress6 = (addresses6 args |> Option.map snd |> Option.toObj),
            Mtu = args.GetResult(Mtu, 1500),
            Offload = not (args.Contains No_Offload),
            CapturePath = Option.toObj (args.TryGetResult Pcap),
            TracePath = Option.toObj (args.TryGetResult Trace),
            OnPacket =
                (if args.Contains Log_Packets then
                     PacketObserver printPacket
                 else
                     null),
            InboundImpairment = (impaired |> Option.map LinkOptions.toShell |> Option.toObj),
            OutboundImpairment = (impaired |> Option.map LinkOptions.toShell |> Option.toObj),
            ImpairmentSeed = args.GetResult(Seed, 1UL)
        )

    TcpStack.StartAsync(options).Result

/// A token that fires on Ctrl-C or SIGTERM, so a command can stop cleanly: close its
/// connections, remove its device and namespace, flush its capture.
let interrupted () =
    let cancel = new CancellationTokenSource()

    let registrations =
        [
            for signal in [ PosixSignal.SIGINT; PosixSignal.SIGTERM ] ->
                PosixSignalRegistration.Create(
                    signal,
                    fun context ->
                        context.Cancel <- true
                        eprintfn "tcpstack: stopping"
                        cancel.Cancel()
                )
        ]

    GC.KeepAlive registrations
    cancel, registrations

/// Starts the stack the options describe, runs `body` with it and a token that fires on
/// Ctrl-C or SIGTERM, and disposes the stack afterwards, whatever happened.
let run (args: ParseResults<StackArgs>) (body: TcpStack -> CancellationToken -> int) =
    let cancel, signals = interrupted ()
    let stack = start args

    try
        body stack cancel.Token
    finally
        stack.DisposeAsync().AsTask().Wait()
        GC.KeepAlive signals
