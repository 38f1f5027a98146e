/// FsCheck generators for the wire formats: valid headers of every shape, and the
/// helpers the properties share.
module Stack.Tests.Generators

open System
open FsCheck
open FsCheck.FSharp
open Expecto
open Stack.Core.Wire

let address = Gen.choose64 (0L, 0xFFFFFFFFL) |> Gen.map (uint32 >> Ipv4Address)

let bytesOf (minLength: int) (maxLength: int) =
    gen {
        let! n = Gen.choose (minLength, maxLength)
        let! a = Gen.arrayOfLength n (Gen.choose (0, 255) |> Gen.map byte)
        return a
    }

let private uint16Gen = Gen.choose (0, 65535) |> Gen.map uint16
let uint32Gen = Gen.choose64 (0L, 0xFFFFFFFFL) |> Gen.map uint32
let private byteGen = Gen.choose (0, 255) |> Gen.map byte

/// IPv4 options are kept as bytes; any multiple of 4 up to 40 is a valid header.
let ipv4Options =
    gen {
        let! words = Gen.choose (0, 10)
        let! bytes = Gen.arrayOfLength (words * 4) byteGen
        return OptionBytes.Create bytes
    }

let ipv4Header (maxPayload: int) =
    gen {
        let! tos = byteGen
        let! id = uint16Gen
        let! reserved = Gen.elements [ false; false; false; true ]
        let! df = Gen.elements [ true; false ]
        let! mf = Gen.elements [ true; false ]
        let! offset = Gen.choose (0, 0x1FFF)
        let! ttl = byteGen
        let! protocol = byteGen
        let! src = address
        let! dst = address
        let! options = Gen.frequency [ 3, Gen.constant OptionBytes.Empty; 1, ipv4Options ]
        let! payload = Gen.choose (0, maxPayload)

        return
            {
                Tos = tos
                Identification = id
                ReservedFlag = reserved
                DontFragment = df
                MoreFragments = mf
                FragmentOffset = uint16 offset
                Ttl = ttl
                Protocol = protocol
                Source = src
                Destination = dst
                Options = options
                PayloadLength = payload
            }
    }

let private knownKinds = set [ 0uy; 1uy; 2uy; 3uy; 4uy; 5uy; 8uy ]

let tcpOption =
    Gen.frequency
        [
            3, Gen.constant Nop
            2, uint16Gen |> Gen.map Mss
            2, byteGen |> Gen.map WindowScale
            2, Gen.constant SackPermitted
            2, Gen.map2 (fun a b -> Timestamps(a, b)) uint32Gen uint32Gen
            2,
            gen {
                let! n = Gen.choose (1, TcpOptions.MaxSackBlocks)
                let! blocks = Gen.listOfLength n (Gen.zip uint32Gen uint32Gen)
                return Sack blocks
            }
            1,
            gen {
                let! kind = byteGen |> Gen.filter (knownKinds.Contains >> not)
                let! data = bytesOf 0 8
                return Unknown(kind, data)
            }
        ]

/// An option list as a header holds it: at most 40 bytes, EOL only at the end, and ending
/// with EOL when the options do not fill a multiple of 4 (the padding reads back as EOL).
let tcpOptionList =
    gen {
        let! candidates = Gen.listOf tcpOption

        let fitting =
            candidates
            |> List.scan (fun (total, _) o -> total + TcpOptions.encodedLength o, Some o) (0, None)
            |> List.takeWhile (fun (total, _) -> total <= OptionBytes.Capacity)
            |> List.choose snd

        let total = fitting |> List.sumBy TcpOptions.encodedLength
        let! explicitEol = Gen.elements [ false; false; false; true ]

        return
            if total % 4 <> 0 || (explicitEol && total < OptionBytes.Capacity) then
                fitting @ [ Eol ]
            else
                fitting
    }

let tcpHeaderWith (options: TcpOption list) =
    gen {
        let! sport = uint16Gen
        let! dport = uint16Gen
        let! seq = uint32Gen
        let! ack = uint32Gen

        let! reserved =
            Gen.frequency [ 5, Gen.constant 0uy; 1, Gen.choose (0, 15) |> Gen.map byte ]

        let! flags = byteGen
        let! window = uint16Gen
        let! urgent = uint16Gen

        return
            {
                SourcePort = sport
                DestinationPort = dport
                SequenceNumber = seq
                AcknowledgmentNumber = ack
                Reserved = reserved
                Flags = LanguagePrimitives.EnumOfValue flags
                Window = window
                UrgentPointer = urgent
                Options = TcpOptions.ofList options
            }
    }

let tcpHeader = tcpOptionList |> Gen.bind tcpHeaderWith

/// A whole, valid TCP/IPv4 packet: its IP and TCP headers, payload and bytes.
type TcpPacketCase =
    {
        Ip: Ipv4Header
        Tcp: TcpHeader
        Options: TcpOption list
        Payload: byte array
        Bytes: byte array
    }

    override c.ToString() = Convert.ToHexString c.Bytes

let tcpPacket =
    gen {
        let! ip = ipv4Header 0
        let! options = tcpOptionList
        let! tcp = tcpHeaderWith options
        let! payload = bytesOf 0 1600

        let ip =
            { ip with
                MoreFragments = false
                FragmentOffset = 0us
                Protocol = IpProtocol.Tcp
                PayloadLength = tcp.HeaderLength + payload.Length
            }

        return
            {
                Ip = ip
                Tcp = tcp
                Options = options
                Payload = payload
                Bytes = Packet.tcpToArray ip tcp (ReadOnlySpan payload)
            }
    }

/// An ICMP message with a payload that fits its type: errors quote an IPv4 header and 8
/// bytes of its payload.
let icmpMessage =
    gen {
        let! kind = Gen.elements [ 0uy; 3uy; 8uy; 11uy; 5uy; 13uy ]
        let! code = Gen.frequency [ 3, Gen.choose (0, 15) |> Gen.map byte; 1, byteGen ]
        let! rest = uint32Gen

        let header =
            {
                Type = kind
                Code = code
                RestOfHeader = rest
            }

        let! payload =
            if header.IsError then
                gen {
                    let! quoted = ipv4Header 1400
                    let! transport = bytesOf 0 8
                    let buf = Array.zeroCreate (quoted.HeaderLength + transport.Length)
                    Ipv4.write quoted (Span buf) |> ignore
                    transport.CopyTo(buf, quoted.HeaderLength)
                    return buf
                }
            else
                bytesOf 0 200

        return header, payload
    }

let icmpBytes (header: IcmpHeader) (payload: byte array) =
    let buf = Array.zeroCreate (Icmpv4.HeaderLength + payload.Length)
    Icmpv4.write header (ReadOnlySpan payload) (Span buf) |> ignore
    buf

/// Flips bit `bit` (taken modulo the bit count) of a copy of `bytes`.
let flipBit (bytes: byte array) (bit: int) =
    let copy = Array.copy bytes
    let i = (abs (bit % (bytes.Length * 8)))
    copy[i / 8] <- copy[i / 8] ^^^ (1uy <<< (i % 8))
    copy

let isError =
    function
    | Error _ -> true
    | Ok _ -> false

/// How many times more cases every property runs: 1 normally, more in the soak target
/// (`dotnet fsi build.fsx -- property-soak` sets STACK_SOAK).
let soakFactor =
    match Int32.TryParse(Environment.GetEnvironmentVariable "STACK_SOAK") with
    | true, n when n > 1 -> n
    | _ -> 1

/// Property-test settings: enough cases to mean something on a 2-core machine.
let config =
    { FsCheckConfig.defaultConfig with
        maxTest = 500 * soakFactor
    }

let prop name (g: Gen<'a>) (body: 'a -> bool) =
    testPropertyWithConfig config name (Prop.forAll (Arb.fromGen g) body)

let propN n name (g: Gen<'a>) (body: 'a -> bool) =
    testPropertyWithConfig { config with maxTest = n * soakFactor } name (Prop.forAll (Arb.fromGen g) body)

/// A generator of arbitrary byte arrays for "never throws" properties.
let anyBytes = bytesOf 0 120

/// The golden capture of the Linux kernel shipped with the tests.
let capturePath =
    IO.Path.Combine(AppContext.BaseDirectory, "data", "linux-kernel.pcap")
