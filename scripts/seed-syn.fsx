// The seed's scapy script in F#: a bare TCP SYN header, as `bytes(TCP(...))` gives.
//
//   sport 12345, dport 9999, seq 1, flags S, window 8192 (scapy's default), no options,
//   no payload: 20 bytes of TCP header and no IP header.
//
// Writes tcp.bin in the current directory, then prints the bytes as hex and the TCP layer.
//
// Build the core first:   dotnet build core-fs -c Release
// Run from the repo root: dotnet fsi scripts/seed-syn.fsx
//
// Checksum: a TCP checksum covers an IPv4 pseudo-header (addresses, protocol, length),
// and a bare TCP layer has no addresses. Scapy leaves the field at zero in that case
// (it warns "No IP underlayer to compute checksum. Leaving null."). This script computes
// it for 127.0.0.1 -> 127.0.0.1 instead, so the bytes check out as loopback traffic; pass
// --scapy to leave the field zero and get scapy's exact bytes.

#r "../core-fs/bin/Release/net10.0/Stack.Core.dll"

open System
open System.IO
open Stack.Core.Wire

let scapyBytes = fsi.CommandLineArgs |> Array.contains "--scapy"
let loopback = Ipv4Address.Parse "127.0.0.1"

let header =
    { Tcp.header 12345us 9999us with
        SequenceNumber = 1u
        Flags = TcpFlags.Syn
        Window = 8192us
    }

let segment = Array.zeroCreate<byte> header.HeaderLength
Tcp.write header (Span segment) |> ignore

if not scapyBytes then
    Tcp.fillChecksum (IpAddress.OfIpv4 loopback) (IpAddress.OfIpv4 loopback) (Span segment)

let path = Path.Combine(Environment.CurrentDirectory, "tcp.bin")
File.WriteAllBytes(path, segment)
printfn "Wrote %d bytes to %s" segment.Length path
printf "%s" (Pretty.hexDump (ReadOnlySpan segment))
printfn ""

match Tcp.tryParseUnchecked (ReadOnlySpan segment) with
| Error e -> eprintfn "cannot read back: %s" (ParseError.describe e)
| Ok seg ->
    let valid =
        Tcp.checksumValid (IpAddress.OfIpv4 loopback) (IpAddress.OfIpv4 loopback) (ReadOnlySpan segment)

    let options =
        match TcpOptions.toList seg.Header.Options with
        | Ok options -> options
        | Error _ -> []

    printf "%s" (Pretty.tcp seg valid options)

    if scapyBytes then
        printfn "(checksum left zero, as scapy does without an IP layer)"
    else
        printfn "(checksum computed for 127.0.0.1 -> 127.0.0.1)"
