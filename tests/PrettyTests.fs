module Stack.Tests.PrettyTests

open System
open Expecto
open Stack.Core.Wire

[<Tests>]
let tests =
    testList
        "Pretty"
        [
            test "hex dump rows carry their offsets" {
                let text = Pretty.hexDump (ReadOnlySpan(Array.init 18 byte))
                Expect.equal text "0000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f\n0010  10 11\n" "two rows"
            }

            test "flags read lowest bit first and options read as words" {
                Expect.equal (Pretty.flags (TcpFlags.Syn ||| TcpFlags.Ack)) "[SYN, ACK]" "SYN-ACK"
                Expect.equal (Pretty.flags TcpFlags.None) "[none]" "no flags"

                Expect.equal
                    (Pretty.options [ Mss 1460us; Sack [ 1u, 2u ]; Unknown(30uy, [| 0xABuy |]) ])
                    "MSS 1460, SACK 1-2, option 30 (ab)"
                    "options"
            }

            test "an unreadable packet says why" {
                Expect.stringContains (Pretty.packet (ReadOnlySpan [| 0x45uy |])) "truncated at fixed header" "block"

                Expect.stringContains
                    (Pretty.packet (ReadOnlySpan [| 0x60uy |]))
                    "IPv6: truncated at header"
                    "IPv6 block"

                Expect.stringContains (Pretty.summary (ReadOnlySpan(Array.create 20 0x75uy))) "bad version 7" "summary"
            }
        ]
