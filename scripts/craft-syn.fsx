// A whole IPv4 + TCP SYN as Linux sends it: options MSS 1460, SACK permitted, timestamps,
// NOP, window scale 7 (the order and the 40-byte TCP header of a Linux SYN), from
// 10.0.1.7:12345 to 10.0.0.6:9999.
//
// Prints the packet layer by layer and as hex, then appends it to craft.pcap in the
// current directory (a raw-IP pcap, LINKTYPE_RAW; the file header is written when the
// file is new or empty). Open it with `tcpdump -r craft.pcap -v` or Wireshark.
//
// Build the core first:   dotnet build core-fs -c Release
// Run from the repo root: dotnet fsi scripts/craft-syn.fsx

#r "../core-fs/bin/Release/net10.0/Stack.Core.dll"

open System
open System.Buffers.Binary
open System.IO
open Stack.Core.Wire

let source = Ipv4Address.Parse "10.0.1.7"
let destination = Ipv4Address.Parse "10.0.0.6"

let tcp =
    { Tcp.header 12345us 9999us with
        // Fixed values so every run prints the same bytes; Linux picks a random ISN and a
        // clock-based timestamp.
        SequenceNumber = 0x12345678u
        Flags = TcpFlags.Syn
        Window = 64240us
        Options =
            TcpOptions.ofList
                [
                    Mss 1460us
                    SackPermitted
                    Timestamps(tsval = 1000000u, tsecr = 0u)
                    Nop
                    WindowScale 7uy
                ]
    }

// Protocol and payload length are filled in by Packet.tcpToArray.
let ip = Ipv4.header IpProtocol.Tcp source destination 0
let packet = Packet.tcpToArray ip tcp ReadOnlySpan<byte>.Empty

printf "%s" (Pretty.packet (ReadOnlySpan packet))
printfn ""
printfn "%s" (Pretty.summary (ReadOnlySpan packet))
printfn ""
printfn "%d bytes:" packet.Length
printf "%s" (Pretty.hexDump (ReadOnlySpan packet))

let path = Path.Combine(Environment.CurrentDirectory, "craft.pcap")
let existing = if File.Exists path then FileInfo(path).Length else 0L

if existing > 0L then
    // Appending only makes sense to a classic little-endian pcap of raw IP packets.
    let head = Array.zeroCreate<byte> Pcap.FileHeaderLength

    use f = File.OpenRead path
    let n = f.Read(head, 0, head.Length)

    if
        n < Pcap.FileHeaderLength
        || BinaryPrimitives.ReadUInt32LittleEndian(ReadOnlySpan(head, 0, 4)) <> 0xA1B2C3D4u
        || BinaryPrimitives.ReadUInt32LittleEndian(ReadOnlySpan(head, 20, 4))
           <> Pcap.LinkType.Raw
    then
        failwith $"{path} is not a little-endian raw-IP pcap file; move it away or delete it"

let micros = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000L

do
    use out = new FileStream(path, FileMode.Append, FileAccess.Write)

    if existing = 0L then
        out.Write(Pcap.fileHeader Pcap.LinkType.Raw Pcap.DefaultSnapLength)

    out.Write(Pcap.record micros (ReadOnlySpan packet))

printfn ""
printfn "Appended to %s (%d bytes now)" path (FileInfo(path).Length)
