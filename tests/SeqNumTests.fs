module Stack.Tests.SeqNumTests

open Expecto
open FsCheck.FSharp
open Stack.Core.Tcp
open Stack.Tests.Generators

let private seqNum = Gen.choose64 (0L, 0xFFFFFFFFL) |> Gen.map (uint32 >> SeqNum)

/// A distance within the half circle where "before" and "after" are defined.
let private distance = Gen.choose (1, System.Int32.MaxValue)

[<Tests>]
let tests =
    testList
        "SeqNum"
        [
            prop "a number n ahead is after, and n is the distance" (Gen.zip seqNum distance) (fun (a, n) ->
                let b = a + n

                SeqNum.lt a b
                && SeqNum.gt b a
                && SeqNum.le a b
                && not (SeqNum.ge a b)
                && b - a = n
                && a - b = -n)

            prop "order is reflexive where it should be" seqNum (fun a ->
                SeqNum.le a a
                && SeqNum.ge a a
                && not (SeqNum.lt a a)
                && not (SeqNum.gt a a)
                && a - a = 0)

            prop "max and min pick by wrap-safe order" (Gen.zip seqNum distance) (fun (a, n) ->
                let b = a + n
                SeqNum.max a b = b && SeqNum.min a b = a && SeqNum.max b a = b)

            prop
                "windows hold exactly their length of numbers, across the wrap"
                (Gen.zip3 seqNum (Gen.choose (0, 70000)) (Gen.choose (-10, 70010)))
                (fun (start, length, offset) ->
                    let inside = offset >= 0 && offset < length
                    SeqNum.inWindow start (uint32 length) (start + offset) = inside)

            prop
                "low < x <= high matches the distances"
                (Gen.zip3 seqNum (Gen.choose (0, 1000)) (Gen.choose (-5, 1005)))
                (fun (low, span, offset) ->
                    let high = low + span
                    let x = low + offset
                    SeqNum.betweenExclusiveInclusive low x high = (offset > 0 && offset <= span))

            test "arithmetic wraps at 2^32" {
                let nearTop = SeqNum 0xFFFFFFF0u
                let wrapped = nearTop + 0x20
                Expect.equal wrapped.Value 0x10u "wraps to the bottom"
                Expect.isTrue (SeqNum.lt nearTop wrapped) "still after"
                Expect.equal (wrapped - nearTop) 0x20 "distance across the wrap"
                Expect.equal (wrapped - 0x20) nearTop "back again"
                Expect.isTrue (SeqNum.inWindow nearTop 0x100u wrapped) "window across the wrap"
            }
        ]
