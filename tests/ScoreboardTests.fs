/// The sender's scoreboard against a model: a flag per byte in flight. Whatever mix of
/// sends, SACKs (honest or odd), losses, retransmissions, ACKs and timeouts, the board's
/// entries stay contiguous and its byte counts agree with the model.
module Stack.Tests.ScoreboardTests

open Expecto
open FsCheck.FSharp
open Stack.Core.Tcp
open Stack.Core.Tcp.Scoreboard
open Stack.Tests.Generators

type private Op =
    | Send of bytes: int
    | Sack of from: int * length: int
    | Lose of index: int
    | Resend of index: int
    | Ack of bytes: int
    | Timeout

let private op =
    Gen.frequency
        [
            4, Gen.map Send (Gen.choose (1, 3000))
            3, Gen.map Sack (Gen.zip (Gen.choose (0, 20000)) (Gen.choose (1, 4000)))
            2, Gen.map Lose (Gen.choose (0, 30))
            2, Gen.map Resend (Gen.choose (0, 30))
            2, Gen.map Ack (Gen.choose (0, 5000))
            1, Gen.constant Timeout
        ]

let private origins =
    Gen.elements [ 0u; 1000u; 0xFFFFF000u; 0xFFFFFFFFu; 0x7FFFFFFFu ]

/// Runs the operations on a board and checks it after each: entries are contiguous from
/// SND.UNA to SND.MAX, never both SACKed and lost, and the SACKed and lost byte counts
/// equal the sums over the entries; SACK marks only bytes the model says were SACKed.
let private consistent (origin: uint32) (ops: Op list) =
    let board = Board()
    let una = SeqNum origin
    let mutable una = una
    let mutable max = una
    let mutable ok = true
    let mutable now = 0L

    for o in ops do
        now <- now + 1L

        match o with
        | Send n ->
            board.Append(max, max + n, now, int now)
            max <- max + n
        | Sack(from, length) ->
            let left = una + from
            let right = left + length

            if SeqNum.le right max then
                board.SplitAt(left, false) |> ignore
                board.SplitAt(right, false) |> ignore

                for i in 0 .. board.Count - 1 do
                    let e = board.At i

                    if SeqNum.ge e.Start left && SeqNum.le e.End right then
                        board.MarkSacked i |> ignore
        | Lose i when i < board.Count -> board.MarkLost i
        | Resend i when i < board.Count -> board.MarkRetransmitted(i, now, int now)
        | Ack n when n <= max - una ->
            board.AckTo(una + n) |> ignore
            una <- una + n
        | Timeout -> board.MarkAllLost()
        | _ -> ()

        let entries = board.ToList()
        let mutable at = una

        for e in entries do
            ok <- ok && e.Start = at && SeqNum.lt e.Start e.End
            ok <- ok && not (e.Has Marks.Sacked && e.Has Marks.Lost)
            at <- e.End

        ok <- ok && (entries.IsEmpty || at = max)

        let sum (m: Marks) =
            entries |> List.filter (fun e -> e.Has m) |> List.sumBy _.Length

        ok <- ok && board.SackedBytes = sum Marks.Sacked && board.LostBytes = sum Marks.Lost
        ok <- ok && board.Count <= MaxEntries + 1

    ok

[<Tests>]
let tests =
    testList
        "Scoreboard"
        [
            propN
                200
                "contiguous entries and byte counts that agree, whatever is sent, SACKed, lost or acknowledged"
                (Gen.zip origins (Gen.listOf op))
                (fun (origin, ops) -> consistent origin ops)

            test "a SACK that covers part of an entry cuts it and marks just that part" {
                let board = Board()
                let s = SeqNum 100u
                board.Append(s, s + 3000, 1L, 1)
                Expect.isTrue (board.SplitAt(s + 1000, false)) "cut at the left edge"
                Expect.isTrue (board.SplitAt(s + 2000, false)) "cut at the right edge"
                Expect.equal (board.MarkSacked 1) 1000 "the middle thousand bytes"
                Expect.equal board.SackedBytes 1000 "counted"
                board.MarkAllLost()
                Expect.equal board.SackedBytes 0 "a timeout forgets SACKs"
                Expect.equal board.LostBytes 3000 "and everything is lost"
                board.AckTo(s + 1500) |> ignore
                Expect.equal board.LostBytes 1500 "what is acknowledged is no longer lost"
                Expect.equal (board.At 0).Start (s + 1500) "the straddling entry is cut at the ACK"
            }

            test "past MaxEntries new data joins the last entry instead of adding one" {
                let board = Board()
                let s = SeqNum 0u

                for i in 0 .. MaxEntries + 9 do
                    board.Append(s + i, s + i + 1, int64 i, i)

                Expect.equal board.Count MaxEntries "bounded"
                Expect.equal (board.At(MaxEntries - 1)).End (s + MaxEntries + 10) "the last entry grew"
            }
        ]
