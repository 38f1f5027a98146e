/// The shell's deadline queue against a model: what it hands out, when, and that stale
/// entries stay bounded.
module Stack.Tests.DeadlineQueueTests

open Expecto
open FsCheck.FSharp
open Stack.Shell
open Stack.Tests.Generators

type private Op =
    | Ask of key: int * at: int64
    | Forget of key: int
    | Take of now: int64

let private op =
    Gen.frequency
        [
            5, Gen.map2 (fun k at -> Ask(k, int64 at)) (Gen.choose (0, 20)) (Gen.choose (0, 1000))
            1, Gen.map Forget (Gen.choose (0, 20))
            3, Gen.map (int64 >> Take) (Gen.choose (0, 1000))
        ]

/// Runs the operations on a queue and on a map of each key's earliest deadline; false at
/// the first disagreement.
let private agrees (ops: Op list) =
    let queue = DeadlineQueue<int>()
    let mutable model = Map.empty<int, int64>
    let mutable ok = true

    for o in ops do
        match o with
        | Ask(k, at) ->
            queue.Request(k, at)

            match model.TryFind k with
            | Some earlier when earlier <= at -> ()
            | _ -> model <- model.Add(k, at)
        | Forget k ->
            queue.Forget k
            model <- model.Remove k
        | Take now ->
            let earliest =
                if model.IsEmpty then
                    None
                else
                    Some(model |> Map.toSeq |> Seq.map snd |> Seq.min)

            match queue.TryTakeDue now with
            | true, key ->
                let due = model.TryFind key
                ok <- ok && earliest.IsSome && due = earliest && due.Value <= now
                model <- model.Remove key
            | false, _ -> ok <- ok && (earliest.IsNone || earliest.Value > now)

        ok <- ok && queue.Count = model.Count && queue.HeapCount <= 2 * model.Count + 65

    ok

[<Tests>]
let tests =
    testList
        "Deadline queue"
        [
            prop "hands out the earliest live deadline once due, and keeps stale entries bounded" (Gen.listOf op) agrees

            test "a deadline moved later keeps the earlier wake-up; moved earlier, the earlier one counts" {
                let queue = DeadlineQueue<string>()
                queue.Request("a", 100L)
                queue.Request("a", 500L)
                Expect.equal (queue.TryPeekNext()) (true, 100L) "the earlier stays"
                queue.Request("a", 50L)
                Expect.equal (queue.TryTakeDue 60L) (true, "a") "due at 50"
                Expect.equal (queue.TryTakeDue 1_000L |> fst) false "taken once"
            }

            test "a connection that moves its deadline earlier again and again leaves a bounded heap" {
                let queue = DeadlineQueue<int>()

                for i in 1..100_000 do
                    queue.Request(i % 10, 1_000_000L - int64 i)

                Expect.isLessThanOrEqual queue.HeapCount (2 * 10 + 65) "stale entries dropped"
                Expect.equal queue.Count 10 "ten keys"
            }
        ]
