module Stack.Tests.Icmpv4Tests

open System
open Expecto
open FsCheck.FSharp
open Stack.Core.Wire
open Stack.Tests.Generators

[<Tests>]
let tests =
    testList
        "ICMPv4"
        [
            prop "parse (write r) = r" icmpMessage (fun (h, payload) ->
                let bytes = icmpBytes h payload

                match Icmpv4.tryParse (ReadOnlySpan bytes) with
                | Ok m ->
                    m.Header = h
                    && m.ChecksumValid
                    && bytes.AsSpan(m.PayloadOffset, m.PayloadLength).SequenceEqual(ReadOnlySpan payload)
                    && m.Original.IsSome = h.IsError
                | Error _ -> false)

            prop "write (parse b) = b" icmpMessage (fun (h, payload) ->
                let bytes = icmpBytes h payload

                match Icmpv4.tryParse (ReadOnlySpan bytes) with
                | Ok m -> icmpBytes m.Header (Array.sub bytes m.PayloadOffset m.PayloadLength) = bytes
                | Error _ -> false)

            prop "truncations never throw; below the 8-byte header they are errors" icmpMessage (fun (h, payload) ->
                let bytes = icmpBytes h payload

                [ 0 .. bytes.Length - 1 ]
                |> List.forall (fun n ->
                    let result = Icmpv4.tryParse (ReadOnlySpan(bytes, 0, n))
                    n >= Icmpv4.HeaderLength || isError result))

            propN 2000 "arbitrary bytes never throw" anyBytes (fun bytes ->
                Icmpv4.tryParse (ReadOnlySpan bytes) |> ignore
                Icmpv4.tryParseUnchecked (ReadOnlySpan bytes) |> ignore
                true)

            prop
                "any single flipped bit is caught"
                (Gen.zip icmpMessage (Gen.choose (0, Int32.MaxValue)))
                (fun ((h, payload), bit) -> isError (Icmpv4.tryParse (ReadOnlySpan(flipBit (icmpBytes h payload) bit))))

            test "a port unreachable quotes the original header and ports" {
                let original =
                    Packet.tcpToArray
                        (Ipv4.header IpProtocol.Tcp (Ipv4Address.Parse "10.0.0.1") (Ipv4Address.Parse "10.0.0.2") 0)
                        { Tcp.header 40000us 9us with
                            SequenceNumber = 77u
                        }
                        ReadOnlySpan.Empty

                let bytes = icmpBytes (Icmpv4.destinationUnreachable 3uy 0us) original

                match Icmpv4.tryParse (ReadOnlySpan bytes) with
                | Ok { Original = ValueSome q } ->
                    Expect.equal q.Header.Destination (Ipv4Address.Parse "10.0.0.2") "quoted destination"
                    Expect.equal q.SourcePort (ValueSome 40000us) "source port"
                    Expect.equal q.DestinationPort (ValueSome 9us) "destination port"
                    Expect.equal q.TcpSequenceNumber (ValueSome 77u) "sequence number"
                | other -> failtest $"%A{other}"
            }

            test "an error whose quote is unreadable says so" {
                let bytes = icmpBytes (Icmpv4.timeExceeded 0uy) [| 1uy; 2uy; 3uy |]

                match Icmpv4.tryParse (ReadOnlySpan bytes) with
                | Error(BadQuote _ as e) -> Expect.stringContains (ParseError.describe e) "quoted original" "message"
                | other -> failtest $"%A{other}"
            }

            test "echo identifier and sequence number" {
                let bytes = icmpBytes (Icmpv4.echoRequest 0x1234us 7us) [| 1uy; 2uy |]

                match Icmpv4.tryParse (ReadOnlySpan bytes) with
                | Ok m ->
                    Expect.equal m.Header.Identifier 0x1234us "identifier"
                    Expect.equal m.Header.SequenceNumber 7us "sequence"
                    Expect.equal m.Header.Type IcmpType.EchoRequest "type"
                | Error e -> failtest (ParseError.describe e)
            }
        ]
