/// Micro-benchmarks of the wire layer: the Internet checksum and the TCP/IPv4 header
/// parse and write paths that every packet takes.
module Stack.Bench.WireBenchmarks

open System
open BenchmarkDotNet.Attributes
open BenchmarkDotNet.Columns
open BenchmarkDotNet.Reports
open BenchmarkDotNet.Running
open Stack.Core.Wire

/// Throughput of a benchmark whose `Size` parameter is the bytes it processes per call:
/// Size / mean-ns is bytes per nanosecond, which is GB/s (10^9 bytes per second).
type ThroughputColumn() =
    interface IColumn with
        member _.Id = "GB/s"
        member _.ColumnName = "GB/s"
        member _.AlwaysShow = true
        member _.Category = ColumnCategory.Custom
        member _.PriorityInCategory = 0
        member _.IsNumeric = true
        member _.UnitType = UnitType.Dimensionless
        member _.Legend = "Throughput: Size bytes / Mean ns = GB/s (10^9 bytes per second)"
        member _.IsAvailable(_summary: Summary) = true
        member _.IsDefault(_summary: Summary, _case: BenchmarkCase) = false

        member this.GetValue(summary: Summary, case: BenchmarkCase) =
            (this :> IColumn).GetValue(summary, case, SummaryStyle.Default)

        member _.GetValue(summary: Summary, case: BenchmarkCase, _style: SummaryStyle) =
            let report = summary[case]

            match case.Parameters["Size"], report with
            | :? int as size, r when not (isNull r) && not (isNull r.ResultStatistics) ->
                (float size / r.ResultStatistics.Mean).ToString("0.00")
            | _ -> "-"

/// `Checksum.compute` over buffers the size of a small packet, an Ethernet MTU and the
/// largest IPv4 datagram. Read GB/s from the extra column (Size / Mean).
[<MemoryDiagnoser>]
type ChecksumBenchmarks() =
    let mutable data: byte array = [||]

    /// Bytes summed per call.
    [<Params(64, 1500, 65536)>]
    member val Size = 0 with get, set

    [<GlobalSetup>]
    member this.Setup() =
        data <- Array.zeroCreate this.Size
        Random(42).NextBytes data

    [<Benchmark>]
    member _.Checksum() = Checksum.compute (ReadOnlySpan data)

/// The 60-byte SYN Linux sends: IPv4 (20 bytes) and TCP with MSS, SACK permitted,
/// timestamps, NOP, window scale (40 bytes), no payload.
module LinuxSyn =
    let source = Ipv4Address.Parse "10.0.1.7"
    let destination = Ipv4Address.Parse "10.0.0.6"

    let tcp =
        { Tcp.header 12345us 9999us with
            SequenceNumber = 0x1A2B3C4Du
            Flags = TcpFlags.Syn
            Window = 64240us
            Options = TcpOptions.ofList [ Mss 1460us; SackPermitted; Timestamps(3000000000u, 0u); Nop; WindowScale 7uy ]
        }

    let ip =
        { Ipv4.header IpProtocol.Tcp source destination tcp.HeaderLength with
            Identification = 0x4242us
        }

    let bytes () =
        Packet.tcpToArray ip tcp ReadOnlySpan<byte>.Empty

    /// `Ipv4.tryParse` then `Tcp.tryParse` on its payload; returns the sequence number so
    /// the work cannot be dropped.
    let parse (packet: byte array) : uint32 =
        let span = ReadOnlySpan packet

        match Ipv4.tryParse span with
        | Ok ipPacket ->
            let h = ipPacket.Header

            match
                Tcp.tryParse
                    (IpAddress.OfIpv4 h.Source)
                    (IpAddress.OfIpv4 h.Destination)
                    (span.Slice(ipPacket.PayloadOffset, ipPacket.PayloadLength))
            with
            | Ok seg -> seg.Header.SequenceNumber
            | Error _ -> 0u
        | Error _ -> 0u

/// Header parse (both checksums verified) and write (both checksums computed) of a
/// Linux-style SYN. Targets: <= 30 ns each, zero bytes allocated.
[<MemoryDiagnoser>]
type HeaderBenchmarks() =
    let packet = LinuxSyn.bytes ()
    let buffer = Array.zeroCreate<byte> 1500
    let ip = LinuxSyn.ip
    let tcp = LinuxSyn.tcp

    [<GlobalSetup>]
    member _.Setup() =
        if packet.Length <> 60 then
            failwith $"the SYN is {packet.Length} bytes, expected 60"

    /// `Ipv4.tryParse` then `Tcp.tryParse` on its payload.
    [<Benchmark>]
    member _.ParseTcpIpv4() : uint32 = LinuxSyn.parse packet

    /// `Packet.writeTcp` into a preallocated buffer.
    [<Benchmark>]
    member _.WriteTcpIpv4() : int =
        Packet.writeTcp ip tcp ReadOnlySpan<byte>.Empty (Span buffer)

    /// 100 packets per invocation: the cost per packet in a loop, as a stack thread
    /// handling a batch pays it, without the per-call harness overhead.
    [<Benchmark(OperationsPerInvoke = 100)>]
    member _.ParseTcpIpv4Batch() : uint32 =
        let mutable acc = 0u

        for _ in 1..100 do
            acc <- acc + LinuxSyn.parse packet

        acc

    [<Benchmark(OperationsPerInvoke = 100)>]
    member _.WriteTcpIpv4Batch() : int =
        let mutable acc = 0

        for _ in 1..100 do
            acc <- acc + Packet.writeTcp ip tcp ReadOnlySpan<byte>.Empty (Span buffer)

        acc

    /// The layers one at a time, to see where the time goes.
    [<Benchmark>]
    member _.ParseIpv4() : int =
        match Ipv4.tryParse (ReadOnlySpan packet) with
        | Ok p -> p.PayloadOffset
        | Error _ -> 0

    [<Benchmark>]
    member _.ParseTcp() : uint32 =
        match
            Tcp.tryParse
                (IpAddress.OfIpv4 LinuxSyn.source)
                (IpAddress.OfIpv4 LinuxSyn.destination)
                (ReadOnlySpan(packet, 20, 40))
        with
        | Ok seg -> seg.Header.SequenceNumber
        | Error _ -> 0u

    [<Benchmark>]
    member _.WriteIpv4() : int = Ipv4.write ip (Span buffer)

    [<Benchmark>]
    member _.WriteTcp() : int =
        Tcp.writeSegment
            (IpAddress.OfIpv4 LinuxSyn.source)
            (IpAddress.OfIpv4 LinuxSyn.destination)
            tcp
            ReadOnlySpan<byte>.Empty
            (Span buffer)

/// `TcpOptions.summarize`, which the engine runs on every segment: the data-segment layout
/// (NOP, NOP, timestamps) and the SYN's.
[<MemoryDiagnoser>]
type OptionBenchmarks() =
    let dataSegment = TcpOptions.ofList [ Nop; Nop; Timestamps(1u, 2u) ]
    let syn = LinuxSyn.tcp.Options

    [<Benchmark>]
    member _.SummarizeDataSegment() =
        (TcpOptions.summarize dataSegment).SackBlockCount

    [<Benchmark>]
    member _.SummarizeSyn() =
        (TcpOptions.summarize syn).SackBlockCount
