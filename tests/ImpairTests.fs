module Stack.Tests.ImpairTests

open Expecto
open FsCheck.FSharp
open Stack.Core
open Stack.Tests.Generators

/// Offers `count` packets of `length` bytes, `gap` microseconds apart; returns the fates.
let private run (options: Impair.Options) (seed: uint64) (count: int) (length: int) (gap: int64) =
    let mutable link = Impair.create options seed

    [
        for i in 0 .. count - 1 do
            let struct (fate, next) = Impair.offer (int64 i * gap) length link
            link <- next
            fate
    ]

let private delivered fates =
    fates
    |> List.sumBy (function
        | Impair.Delivered _ as f -> f.Copies.Length
        | Impair.Dropped _ -> 0)

[<Tests>]
let tests =
    testList
        "Impair"
        [
            test "SplitMix64 gives the reference sequence" {
                let struct (a, rng) = Rng.next (Rng.create 0UL)
                let struct (b, rng) = Rng.next rng
                let struct (c, _) = Rng.next rng
                Expect.equal [ a; b; c ] [ 0xe220a8397b1dcdafUL; 0x6e789e6aa1b965f4UL; 0x06c45d188009454fUL ] "seed 0"
            }

            prop "a perfect link delivers every packet once, at once, intact" (Gen.choose (0, 1000)) (fun seed ->
                run Impair.none (uint64 seed) 50 100 10L
                |> List.mapi (fun i fate ->
                    match fate with
                    | Impair.Delivered(d, ValueNone) -> d.At = int64 i * 10L && d.CorruptOffset.IsNone
                    | _ -> false)
                |> List.forall id)

            prop "the same seed gives the same fates" (Gen.choose (0, 100000)) (fun seed ->
                let options =
                    { Impair.none with
                        Loss = 0.1
                        Duplicate = 0.1
                        Reorder = 0.2
                        ReorderDelayMicros = 500L
                        Corrupt = 0.05
                        DelayMicros = 1000L
                        JitterMicros = 300L
                    }

                run options (uint64 seed) 200 1500 100L = run options (uint64 seed) 200 1500 100L)

            test "loss and duplication happen at about their rates" {
                let lossy = run { Impair.none with Loss = 0.1 } 7UL 20000 100 10L
                let lost = lossy |> List.filter ((=) (Impair.Dropped Impair.Lost)) |> List.length
                Expect.isTrue (lost > 1700 && lost < 2300) $"lost {lost} of 20000 at 10%%"
                let dup = run { Impair.none with Duplicate = 0.2 } 7UL 20000 100 10L
                let copies = delivered dup
                Expect.isTrue (copies > 23500 && copies < 24500) $"{copies} copies of 20000 at 20%% duplication"
            }

            test "delay, jitter and reordering hold packets back within their bounds" {
                let options =
                    { Impair.none with
                        DelayMicros = 1000L
                        JitterMicros = 200L
                        Reorder = 0.3
                        ReorderDelayMicros = 5000L
                    }

                let times =
                    run options 3UL 2000 100 10L
                    |> List.mapi (fun i fate ->
                        match fate with
                        | Impair.Delivered(d, ValueNone) -> d.At - int64 i * 10L
                        | other -> failtest $"%A{other}")

                Expect.isTrue
                    (times |> List.forall (fun t -> t >= 1000L && t < 6200L))
                    "within delay + jitter + reorder"

                let heldBack = times |> List.filter (fun t -> t >= 6000L) |> List.length
                Expect.isTrue (heldBack > 450 && heldBack < 750) $"{heldBack} of 2000 reordered at 30%%"
            }

            test "corruption names a byte inside the packet and one bit" {
                let fates = run { Impair.none with Corrupt = 1.0 } 5UL 500 40 10L

                for fate in fates do
                    match fate with
                    | Impair.Delivered({
                                           CorruptOffset = ValueSome offset
                                           CorruptMask = mask
                                       },
                                       ValueNone) ->
                        Expect.isTrue (offset >= 0 && offset < 40) "offset inside"
                        Expect.equal (System.Numerics.BitOperations.PopCount(uint32 mask)) 1 "one bit"
                    | other -> failtest $"%A{other}"
            }

            test "the rate limit spaces packets by their serialisation time and drops past the queue" {
                // 8 Mbit/s: a 1000-byte packet takes 1000 microseconds. Offered every 100.
                let options =
                    { Impair.none with
                        RateBitsPerSecond = 8_000_000L
                        QueueLimitBytes = 5000L
                    }

                let fates = run options 1UL 100 1000 100L

                let arrivals =
                    fates
                    |> List.choose (function
                        | Impair.Delivered(d, ValueNone) -> Some d.At
                        | _ -> None)

                Expect.equal (List.head arrivals) 1000L "first after its own serialisation"

                Expect.isTrue
                    (arrivals |> List.pairwise |> List.forall (fun (a, b) -> b - a = 1000L))
                    "one packet per millisecond"

                let full =
                    fates |> List.filter ((=) (Impair.Dropped Impair.QueueFull)) |> List.length

                Expect.isGreaterThan full 50 "a queue of 5 packets cannot absorb 10x the rate"
            }
        ]
