module Stack.Tests.TimersTests

open Expecto
open FsCheck.FSharp
open Stack.Core.Tcp
open Stack.Tests.Generators

let private setting =
    Gen.zip (Gen.elements Timers.kinds) (Gen.choose64 (0L, 1_000_000L))

[<Tests>]
let tests =
    testList
        "Timers"
        [
            test "an empty table has no deadline and nothing due" {
                Expect.equal (Timers.next Timers.empty) ValueNone "no deadline"
                Expect.isEmpty (Timers.expired System.Int64.MaxValue Timers.empty) "nothing due"
            }

            prop
                "the next deadline is the earliest set, and exactly the due timers expire"
                (Gen.zip (Gen.listOf setting) (Gen.choose64 (0L, 1_000_000L)))
                (fun (settings, now) ->
                    let table = settings |> List.fold (fun t (k, d) -> Timers.set k d t) Timers.empty
                    // The last setting of each kind wins.
                    let effective = settings |> List.rev |> List.distinctBy fst

                    let expectedNext =
                        if effective.IsEmpty then
                            ValueNone
                        else
                            ValueSome(effective |> List.map snd |> List.min)

                    let expectedDue =
                        effective |> List.filter (fun (_, d) -> d <= now) |> List.map fst |> set

                    Timers.next table = expectedNext
                    && set (Timers.expired now table) = expectedDue
                    && (Timers.expired now table
                        |> List.map (fun k -> (Timers.get k table).Value)
                        |> List.pairwise
                        |> List.forall (fun (a, b) -> a <= b)))

            prop
                "taking the earliest due timer, one kind at a time, gives the expired timers in order"
                (Gen.zip (Gen.listOf setting) (Gen.choose64 (0L, 1_000_000L)))
                (fun (settings, now) ->
                    let table = settings |> List.fold (fun t (k, d) -> Timers.set k d t) Timers.empty

                    let rec takeAll handled taken =
                        match Timers.earliestDue now handled table with
                        | ValueSome k -> takeAll (Timers.withKind k handled) (k :: taken)
                        | ValueNone -> List.rev taken

                    takeAll 0 [] = Timers.expired now table)

            test "clearing a timer takes it out" {
                let t =
                    Timers.empty
                    |> Timers.set Timers.Retransmit 100L
                    |> Timers.set Timers.DelayedAck 50L

                let cleared = Timers.clear Timers.DelayedAck t
                Expect.equal (Timers.next cleared) (ValueSome 100L) "the other one remains"
                Expect.equal (Timers.get Timers.DelayedAck cleared) ValueNone "cleared"
                Expect.equal (Timers.expired 100L cleared) [ Timers.Retransmit ] "only the retransmission is due"
            }
        ]
