module Stack.Tests.CongestionTests

open Expecto
open FsCheck.FSharp
open Stack.Core.Tcp
open Stack.Core.Tcp.Congestion
open Stack.Tests.Generators

let private mss = 1000

/// One round trip in which every segment of the window is acknowledged, one ACK per segment.
let private roundTrip (cc: Controller) =
    let segments = cc.Window / mss
    [ 1..segments ] |> List.fold (fun (c: Controller) _ -> c.OnAck mss) cc

[<Tests>]
let tests =
    testList
        "Congestion (NewReno)"
        [
            test "the initial window is 10 segments, or 14600 bytes for large segments (RFC 6928)" {
                Expect.equal (initialWindow 1460) 14600 "1460"
                Expect.equal (initialWindow 1000) 10000 "1000"
                Expect.equal (initialWindow 9000) 18000 "jumbo: 2 MSS"
            }

            test "slow start doubles the window each round trip" {
                let cc = newReno mss
                Expect.equal (roundTrip cc).Window (2 * cc.Window) "doubled"
                Expect.equal (roundTrip (roundTrip cc)).Window (4 * cc.Window) "doubled again"
            }

            test
                "a stretch ACK counts up to 8 segments in the initial slow start (RFC 9406), 2 after a timeout (RFC 3465)" {
                for cc in [ newReno mss; cubic mss ] do
                    Expect.equal (cc.OnAck(20 * mss)).Window (cc.Window + 8 * mss) "initial slow start: L = 8"
                    let afterTimeout = cc.OnTimeout(20 * mss)

                    Expect.equal
                        (afterTimeout.OnAck(20 * mss)).Window
                        (afterTimeout.Window + 2 * mss)
                        "after a timeout: L = 2"
            }

            test "the window stops at 2^30 bytes however many ACKs arrive without loss" {
                let mutable cc = newReno mss

                for _ in 1..800_000 do
                    cc <- cc.OnAck(64 * mss)

                Expect.equal cc.Window MaxWindow "capped in slow start"
                Expect.equal (cc.OnDuplicateAck()).Window MaxWindow "and on duplicate ACKs"
            }

            test "congestion avoidance adds one segment per round trip" {
                let cc = (newReno mss).OnLoss(20 * mss).OnRecoveryEnd(20 * mss)
                Expect.equal cc.Window (10 * mss) "half the flight after recovery"
                Expect.equal (roundTrip cc).Window (11 * mss) "one more segment"
                Expect.equal (roundTrip (roundTrip cc)).Window (12 * mss) "and another"
            }

            test "fast recovery: half the flight plus three, inflate per duplicate, deflate on partial ACKs" {
                let cc = (newReno mss).OnLoss(40 * mss)
                Expect.equal cc.SlowStartThreshold (20 * mss) "ssthresh"
                Expect.equal cc.Window (23 * mss) "cwnd = ssthresh + 3 MSS"
                let inflated = cc.OnDuplicateAck().OnDuplicateAck()
                Expect.equal inflated.Window (25 * mss) "inflated"
                Expect.equal (inflated.OnPartialAck(5 * mss)).Window (21 * mss) "deflated by the new data, plus one MSS"
                Expect.equal (inflated.OnRecoveryEnd(10 * mss)).Window (11 * mss) "min(ssthresh, flight + MSS)"
            }

            test "a timeout drops to one segment and halves the threshold" {
                let cc = (newReno mss).OnTimeout(30 * mss)
                Expect.equal cc.Window mss "loss window"
                Expect.equal cc.SlowStartThreshold (15 * mss) "ssthresh"
            }

            prop "the threshold never falls below two segments" (Gen.choose (0, 100000)) (fun flight ->
                let cc = newReno mss

                (cc.OnLoss flight).SlowStartThreshold >= 2 * mss
                && (cc.OnTimeout flight).SlowStartThreshold >= 2 * mss)

            prop "the window never shrinks on ACKs outside recovery" (Gen.listOf (Gen.choose (1, 3000))) (fun acks ->
                acks
                |> List.scan (fun (c: Controller) a -> c.OnAck a) ((newReno mss).OnTimeout(8 * mss))
                |> List.pairwise
                |> List.forall (fun (a, b) -> b.Window >= a.Window))
        ]

/// CUBIC's window after `seconds` of ACKs, one window per `rtt` microseconds, from `cc`.
let private cubicAfter (seconds: float) (rtt: int64) (start: int64) (cc: Controller) =
    let mutable c = cc
    let mutable now = start

    while float (now - start) < seconds * 1e6 do
        now <- now + rtt
        let segments = max 1 (c.Window / mss)

        for _ in 1..segments do
            c <- c.OnAck(mss, now, rtt)

    c

[<Tests>]
let cubicTests =
    testList
        "Congestion (CUBIC, RFC 9438)"
        [
            test "a loss keeps 0.7 of the flight as ssthresh (beta), not half" {
                let cc = (cubic mss).OnLoss(100 * mss)
                Expect.equal cc.SlowStartThreshold (70 * mss) "beta_cubic = 0.7"
            }

            test "after a loss the window climbs back to where it was in about K seconds, then probes beyond" {
                // A window of 1000 segments loses a packet: ssthresh 700, W_max 1000, and
                // K = cbrt(300 / 0.4) = 9.09 s. With a 100 ms RTT Reno would add only about
                // five segments a second, so the curve is CUBIC's own.
                let big =
                    { cubic mss with
                        State =
                            { (cubic mss).State with
                                Cwnd = 1000 * mss
                            }
                    }

                let lost = (big.OnLoss(1000 * mss)).OnRecoveryEnd(700 * mss)
                Expect.equal lost.Window (700 * mss) "down to beta of the window"
                let rtt = 100_000L
                let early = cubicAfter 3.0 rtt 1_000_000L lost
                let plateau = cubicAfter 9.1 rtt 1_000_000L lost
                let beyond = cubicAfter 14.0 rtt 1_000_000L lost
                Expect.isGreaterThan early.Window (850 * mss) "fast while far below W_max (concave)"
                Expect.isLessThan early.Window (1000 * mss) "but not there yet"

                Expect.isTrue (abs (plateau.Window - 1000 * mss) < 20 * mss) $"near W_max at K: {plateau.Window / mss}"

                Expect.isGreaterThan beyond.Window (1030 * mss) "and beyond it after K (convex)"
            }

            test "never slower than Reno: with a long RTT the window grows by at least alpha segments per round trip" {
                let start = (cubic mss).OnTimeout(20 * mss)
                // Out of slow start at 14 segments, then 10 round trips of 100 ms.
                let ca =
                    { start with
                        State =
                            { start.State with
                                Cwnd = 14 * mss
                                Ssthresh = 14 * mss
                            }
                    }

                let after = cubicAfter 1.0 100_000L 1_000_000L ca
                Expect.isGreaterThanOrEqual after.Window (14 * mss + 5 * mss) "Reno-friendly"
            }
        ]
