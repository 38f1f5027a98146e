module Stack.Tests.IsnTests

open System
open Expecto
open Stack.Core.Tcp
open Stack.Core.Wire

let private key =
    {
        Isn.K0 = 0x0706050403020100UL
        Isn.K1 = 0x0F0E0D0C0B0A0908UL
    }

let private a = IpAddress.Parse "10.0.0.1"
let private b = IpAddress.Parse "10.0.0.2"

[<Tests>]
let tests =
    testList
        "ISN"
        [
            test "SipHash-2-4 matches the reference vectors" {
                // Key 00 01 .. 0f; messages 00 01 .. (n-1): the paper's test vectors.
                let hash n =
                    Isn.sipHash24 key.K0 key.K1 (ReadOnlySpan(Array.init n byte))

                Expect.equal (hash 0) 0x726fdb47dd0e0e31UL "empty message"
                Expect.equal (hash 15) 0xa129ca6149be45e5UL "15 bytes"
            }

            test "the ISN advances with the clock, one per 4 microseconds" {
                let at t = Isn.generate key t a 40000us b 80us
                Expect.equal ((at 4000L) - (at 0L)) 1000 "1000 ticks in 4 ms"
                Expect.equal (at 3L) (at 0L) "the same tick"
            }

            test "different 4-tuples and keys give unrelated ISNs" {
                let isn k lp rp = Isn.generate k 0L a lp b rp
                let other = { key with K1 = key.K1 + 1UL }

                let values =
                    [
                        isn key 40000us 80us
                        isn key 40001us 80us
                        isn key 40000us 81us
                        isn other 40000us 80us
                    ]

                Expect.equal (List.distinct values).Length 4 "all different"
                let swapped = Isn.generate key 0L b 80us a 40000us
                Expect.notEqual swapped (isn key 40000us 80us) "direction matters"
            }

            testProperty "a SYN cookie is taken back for two ticks with its MSS index, then refused"
            <| fun (peerIsn: uint32) (port: uint16) (index: byte) (start: uint32) (age: byte) ->
                let index = int index % Isn.SynCookie.mssTable.Length
                let made = int64 start * 1000L
                let cookie = Isn.SynCookie.make key made (struct (a, 80us, b, port)) peerIsn index
                let later = made + int64 age * (1L <<< 26)
                let back = Isn.SynCookie.check key later (struct (a, 80us, b, port)) peerIsn cookie

                if age <= 2uy then
                    back = ValueSome index
                else
                    back = ValueNone

            test "cookies for another tuple or another key are refused, and guesses fail" {
                let cookie = Isn.SynCookie.make key 0L (struct (a, 80us, b, 5000us)) 1000u 3

                Expect.equal
                    (Isn.SynCookie.check key 0L (struct (a, 80us, b, 5000us)) 1000u cookie)
                    (ValueSome 3)
                    "its own"

                Expect.equal
                    (Isn.SynCookie.check key 0L (struct (a, 80us, b, 5001us)) 1000u cookie)
                    ValueNone
                    "another port"

                Expect.equal
                    (Isn.SynCookie.check key 0L (struct (b, 80us, a, 5000us)) 1000u cookie)
                    ValueNone
                    "other addresses"

                let other = { key with K0 = key.K0 + 1UL }

                Expect.equal
                    (Isn.SynCookie.check other 0L (struct (a, 80us, b, 5000us)) 1000u cookie)
                    ValueNone
                    "another key"
                // Guessing: of 100,000 numbers near it, hardly any pass.
                let passing =
                    [ 1u .. 100_000u ]
                    |> List.filter (fun d ->
                        (Isn.SynCookie.check key 0L (struct (a, 80us, b, 5000us)) 1000u (cookie + d)).IsSome)

                Expect.isLessThan passing.Length 100 "guesses fail"
            }
        ]
