/// HyStart++ (RFC 9406) round by round: a rising minimum RTT starts Conservative Slow
/// Start, which ends slow start after five rounds, or gives way to slow start again when
/// the RTT falls back.
module Stack.Tests.HyStartTests

open Expecto
open Stack.Core.Tcp

/// Feeds `rounds`, each a list of RTT samples; a round ends when its ACK reaches the
/// SND.NXT of the round before. Returns every verdict and the state after.
let private run (rounds: int64 list list) =
    let mutable s = HyStart.create (SeqNum 100u)
    let mutable sndNxt = SeqNum 100u
    let verdicts = ResizeArray()

    for round in rounds do
        let roundEnd = sndNxt
        sndNxt <- sndNxt + 100_000

        for i, rtt in List.indexed round do
            // The first ACK of a round covers the end of the last one.
            let ack = if i = 0 then roundEnd else roundEnd - 1
            let struct (v, next) = HyStart.onSample rtt ack sndNxt s
            s <- next
            verdicts.Add v

    List.ofSeq verdicts, s

let private flat (rtt: int64) = List.replicate 8 rtt

[<Tests>]
let tests =
    testList
        "HyStart++ (RFC 9406)"
        [
            test "a steady RTT keeps slow start going" {
                let verdicts, s = run (List.replicate 10 (flat 20_000L))
                Expect.isFalse s.Conservative "not conservative"
                Expect.allEqual verdicts HyStart.Verdict.Continue "slow start goes on"
            }

            test "an RTT that rises by more than the threshold starts CSS, and five rounds later slow start ends" {
                let verdicts, s = run ([ flat 20_000L; flat 20_000L; flat 30_000L ])
                Expect.isTrue s.Conservative "CSS began"
                Expect.allEqual verdicts HyStart.Verdict.Continue "no exit yet"

                let verdicts, _ =
                    run ([ flat 20_000L; flat 20_000L ] @ List.replicate 7 (flat 30_000L))

                Expect.contains verdicts HyStart.Verdict.Exit "slow start ends after CSS's rounds"
            }

            test "an RTT that falls back below CSS's baseline resumes slow start" {
                let _, s = run ([ flat 20_000L; flat 20_000L; flat 30_000L; flat 21_000L ])
                Expect.isFalse s.Conservative "back to slow start"
            }

            test "a rise under the threshold (4 ms at least) is not a queue" {
                let _, s = run ([ flat 20_000L; flat 20_000L; flat 23_000L ])
                Expect.isFalse s.Conservative "still slow start"
            }
        ]
