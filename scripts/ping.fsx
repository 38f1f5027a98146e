// An ICMP echo request (what `ping` sends) from 10.0.1.7 to 10.0.0.6: identifier 0x1234,
// sequence 1 and 56 data bytes (ping's default size). Prints it layer by layer and as hex.
//
// Build the core first:   dotnet build core-fs -c Release
// Run from the repo root: dotnet fsi scripts/ping.fsx

#r "../core-fs/bin/Release/net10.0/Stack.Core.dll"

open System
open Stack.Core.Wire

let source = Ipv4Address.Parse "10.0.1.7"
let destination = Ipv4Address.Parse "10.0.0.6"

let echo = Icmpv4.echoRequest 0x1234us 1us
let payload = Array.init 56 byte

// Protocol and payload length are filled in by Packet.icmpToArray.
let ip = Ipv4.header IpProtocol.Icmp source destination 0
let packet = Packet.icmpToArray ip echo (ReadOnlySpan payload)

printf "%s" (Pretty.packet (ReadOnlySpan packet))
printfn ""
printfn "%s" (Pretty.summary (ReadOnlySpan packet))
printfn ""
printfn "%d bytes:" packet.Length
printf "%s" (Pretty.hexDump (ReadOnlySpan packet))
