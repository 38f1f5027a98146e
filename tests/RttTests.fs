module Stack.Tests.RttTests

open Expecto
open FsCheck.FSharp
open Stack.Core.Tcp
open Stack.Tests.Generators

let private wide =
    {
        Rtt.InitialRto = 1_000_000L
        Rtt.MinRto = 1L
        Rtt.MaxRto = 1_000_000_000L
    }

[<Tests>]
let tests =
    testList
        "RTT (RFC 6298)"
        [
            test "before any sample the timeout is the initial one" {
                Expect.equal (Rtt.rto (Rtt.create Rtt.defaults)) 1_000_000L "1 s"
            }

            test "the first sample sets SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR" {
                let e = Rtt.create wide |> Rtt.sample 100_000L
                Expect.equal e.Srtt (ValueSome 100_000L) "SRTT"
                Expect.equal e.RttVar 50_000L "RTTVAR"
                Expect.equal (Rtt.rto e) 300_000L "RTO"
            }

            test "later samples smooth with alpha 1/8 and beta 1/4" {
                let e = Rtt.create wide |> Rtt.sample 100_000L |> Rtt.sample 200_000L
                // RTTVAR = 3/4 * 50 000 + 1/4 * |100 000 - 200 000| = 62 500
                // SRTT = 7/8 * 100 000 + 1/8 * 200 000 = 112 500
                Expect.equal e.RttVar 62_500L "RTTVAR"
                Expect.equal e.Srtt (ValueSome 112_500L) "SRTT"
                Expect.equal (Rtt.rto e) 362_500L "RTO"
            }

            test "the timeout stays within its floor and ceiling" {
                let small = Rtt.create Rtt.defaults |> Rtt.sample 1_000L
                Expect.equal (Rtt.rto small) 200_000L "floor"
                let huge = Rtt.create Rtt.defaults |> Rtt.sample 100_000_000L
                Expect.equal (Rtt.rto huge) 120_000_000L "ceiling"
            }

            test "each timeout doubles the next one up to the ceiling; a sample ends the backoff" {
                let e = Rtt.create Rtt.defaults |> Rtt.sample 100_000L
                let backed = [ 1..3 ] |> List.fold (fun e _ -> Rtt.backoff e) e
                Expect.equal (Rtt.rto backed) (8L * Rtt.rto e) "three doublings"
                let far = [ 1..40 ] |> List.fold (fun e _ -> Rtt.backoff e) e
                Expect.equal (Rtt.rto far) Rtt.defaults.MaxRto "ceiling"
                Expect.equal (Rtt.rto (Rtt.sample 100_000L backed)) (Rtt.rto (Rtt.sample 100_000L e)) "reset"
            }

            prop
                "a steady round-trip time converges to it, with the timeout above it"
                (Gen.choose (1_000, 5_000_000))
                (fun r ->
                    let e = [ 1..60 ] |> List.fold (fun e _ -> Rtt.sample (int64 r) e) (Rtt.create wide)
                    let srtt = e.Srtt.Value
                    abs (srtt - int64 r) <= 8L && Rtt.rto e >= int64 r)
        ]
