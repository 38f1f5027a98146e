/// IPv4 and IPv6 fragments: the reassembly table on its own (whole datagrams back from
/// fragments in any order, overlaps dropped whole, limits and timeouts held), and a host
/// that answers a fragmented ping with fragments and reads TCP data out of fragments.
module Stack.Tests.FragmentTests

open System
open Expecto
open FsCheck.FSharp
open Stack.Core.Host
open Stack.Core.Tcp
open Stack.Core.Wire
open Stack.Tests.Generators

let private limits =
    {
        MaxBytes = 64 * 1024
        MaxBytesPerSource = 32 * 1024
        MaxPieces = 64
        TimeoutMicros = 30_000_000L
    }

let private key (source: string) (id: uint32) =
    {
        Source = IpAddress.Parse source
        Destination = IpAddress.Parse "10.0.0.1"
        Identification = id
        Protocol = 6uy
    }

let private header = [| 0xAAuy; 0xBBuy |]

/// Cuts `length` bytes into fragments of multiples of 8 (the last one any size).
let private cuts (length: int) =
    gen {
        let! sizes = Gen.listOfLength 40 (Gen.choose (1, 64) |> Gen.map (fun n -> n * 8))
        let mutable at = 0

        return
            [
                for s in sizes do
                    if at < length then
                        let n = min s (length - at)
                        at, n
                        at <- at + n
                if at < length then
                    at, length - at
            ]
    }

/// Offers every fragment of `data` (in `order`) to a table; the outcomes in order.
let private offer (data: byte array) (pieces: (int * int) list) (table: FragmentTable) =
    let mutable t = table

    let outcomes =
        [
            for offset, n in pieces do
                let more = offset + n < data.Length

                let struct (next, outcome) =
                    FragmentTable.add
                        0L
                        limits
                        (key "10.0.0.2" 7u)
                        offset
                        more
                        (ReadOnlySpan header)
                        (ReadOnlySpan(data, offset, n))
                        t

                t <- next
                outcome
        ]

    t, outcomes

/// An IPv4 packet cut into fragments of at most `mtu` bytes, as a router would.
let private fragment4 (mtu: int) (packet: byte array) =
    let headerLength = int (packet[0] &&& 0x0Fuy) * 4
    let chunk = (mtu - headerLength) / 8 * 8

    [
        for offset in headerLength..chunk .. packet.Length - 1 do
            let n = min chunk (packet.Length - offset)
            let f = Array.zeroCreate (headerLength + n)
            Array.blit packet 0 f 0 headerLength
            Array.blit packet offset f headerLength n
            Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(Span(f, 2, 2), uint16 f.Length)
            Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(Span(f, 4, 2), 0x1234us)
            let units = uint16 ((offset - headerLength) / 8)
            let more = if offset + n < packet.Length then 0x2000us else 0us
            Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(Span(f, 6, 2), units ||| more)
            f[10] <- 0uy
            f[11] <- 0uy
            let sum = Checksum.compute (ReadOnlySpan(f, 0, headerLength))
            Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(Span(f, 10, 2), sum)
            f
    ]

/// An IPv6 packet (no extension headers) cut into fragments of at most `mtu` bytes.
let private fragment6 (mtu: int) (id: uint32) (packet: byte array) =
    let chunk = (mtu - 48) / 8 * 8

    [
        for offset in 40..chunk .. packet.Length - 1 do
            let n = min chunk (packet.Length - offset)
            let f = Array.zeroCreate (48 + n)
            Array.blit packet 0 f 0 40
            f[6] <- 44uy
            Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(Span(f, 4, 2), uint16 (8 + n))
            f[40] <- packet[6]
            let more = if offset + n < packet.Length then 1us else 0us
            Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(Span(f, 42, 2), uint16 (offset - 40) ||| more)
            Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(Span(f, 44, 4), id)
            Array.blit packet offset f 48 n
            f
    ]

let private datagrams (out: HostOutput) =
    out.Transmits
    |> List.choose (function
        | Datagram bytes -> Some bytes
        | Segment _ -> None)

let private ours4 = Ipv4Address.Parse "10.0.0.1"
let private peer4 = Ipv4Address.Parse "10.0.0.2"
let private ours6 = IpAddress.Parse "fd00::1"
let private peer6 = IpAddress.Parse "fd00::2"

let private dualHost () =
    Host.create
        { HostOptions.create ours4 with
            Address6 = ValueSome ours6.Ipv6
        }

[<Tests>]
let tests =
    testList
        "Fragments"
        [
            testList
                "reassembly"
                [
                    prop
                        "fragments in any order, with duplicates, give the datagram back at the one that completes it"
                        (gen {
                            let! data = bytesOf 1 5000
                            let! pieces = cuts data.Length
                            let! duplicates = Gen.subListOf pieces
                            let! order = Gen.shuffle (pieces @ duplicates)
                            return data, List.ofArray order
                        })
                        (fun (data, order) ->
                            let _, outcomes = offer data order FragmentTable.empty

                            let first =
                                outcomes
                                |> List.findIndex (function
                                    | Whole _ -> true
                                    | _ -> false)

                            let distinct = order |> List.take (first + 1) |> List.distinct

                            let complete (pieces: (int * int) list) = pieces |> List.sumBy snd = data.Length

                            match outcomes[first] with
                            | Whole(h, d) ->
                                h = header
                                && d = data
                                // At the fragment that completed it, and not before.
                                && complete distinct
                                && not (complete (order |> List.take first |> List.distinct))
                            | _ -> false)

                    test "a fragment that overlaps another drops the whole datagram" {
                        let data = Array.init 64 byte
                        let table, outcomes = offer data [ 0, 16; 8, 16 ] FragmentTable.empty
                        Expect.equal outcomes [ Waiting; Dropped Overlap ] "the overlap is refused"
                        Expect.equal table.Held 0 "and what was held is gone"
                        Expect.isTrue table.Partials.IsEmpty "no partial datagram"
                    }

                    test "malformed fragments are dropped: not a multiple of 8 with more to come, or past 65,535" {
                        let data = Array.zeroCreate 100

                        let add offset more n =
                            let struct (_, o) =
                                FragmentTable.add
                                    0L
                                    limits
                                    (key "10.0.0.2" 1u)
                                    offset
                                    more
                                    ReadOnlySpan.Empty
                                    (ReadOnlySpan(data, 0, n))
                                    FragmentTable.empty

                            o

                        Expect.equal (add 0 true 12) (Dropped Malformed) "12 bytes with more to come"
                        Expect.equal (add 65528 false 16) (Dropped Malformed) "ends past 65,535"
                    }

                    propN
                        300
                        "a flood of fragments that never complete stays within the limits"
                        (Gen.listOfLength 400 (Gen.zip3 (Gen.choose (1, 6)) (Gen.choose (0, 50)) (Gen.choose (1, 180))))
                        (fun flood ->
                            let mutable t = FragmentTable.empty
                            let mutable within = true

                            for source, id, units in flood do
                                let data = Array.zeroCreate (units * 8)

                                let struct (next, _) =
                                    FragmentTable.add
                                        0L
                                        limits
                                        (key $"10.0.0.{source + 1}" (uint32 id))
                                        (units * 64)
                                        true
                                        ReadOnlySpan.Empty
                                        (ReadOnlySpan data)
                                        t

                                t <- next

                                within <-
                                    within
                                    && t.Held <= limits.MaxBytes
                                    && t.HeldBySource.Values |> Seq.forall (fun n -> n <= limits.MaxBytesPerSource)
                                    && t.Held = (t.HeldBySource.Values |> Seq.sum)

                            within)

                    test "tiny fragments are charged what holding them costs, so the limit holds few of them" {
                        let mutable t = FragmentTable.empty
                        let mutable held = 0

                        for id in 0..999 do
                            let struct (next, outcome) =
                                FragmentTable.add
                                    0L
                                    limits
                                    (key $"10.0.{id % 8}.2" (uint32 id))
                                    8
                                    true
                                    ReadOnlySpan.Empty
                                    (ReadOnlySpan(Array.zeroCreate 8))
                                    t

                            t <- next

                            if outcome = Waiting then
                                held <- held + 1

                        Expect.equal held (limits.MaxBytes / (8 + FragmentTable.PieceOverhead)) "pieces held"
                        Expect.isLessThanOrEqual t.Held limits.MaxBytes "within the limit"
                    }

                    test "a datagram cut into more pieces than the limit is dropped whole" {
                        let data = Array.zeroCreate (8 * (limits.MaxPieces + 1))
                        let pieces = [ for i in 0 .. limits.MaxPieces -> 8 * i, 8 ]
                        let table, outcomes = offer data pieces FragmentTable.empty

                        Expect.equal
                            (List.last outcomes)
                            (Dropped OverLimit)
                            "the piece past the limit drops the datagram"

                        Expect.isTrue
                            (outcomes |> List.take limits.MaxPieces |> List.forall ((=) Waiting))
                            "held before it"

                        Expect.equal (table.Held, table.Partials.Count) (0, 0) "nothing held after"
                    }

                    test "sweep gives up datagrams out of time, looking at most once per interval" {
                        let addAt (now: int64) (id: uint32) (t: FragmentTable) =
                            let struct (next, _) =
                                FragmentTable.add
                                    now
                                    limits
                                    (key "10.0.0.2" id)
                                    8
                                    true
                                    ReadOnlySpan.Empty
                                    (ReadOnlySpan(Array.zeroCreate 8))
                                    t

                            next

                        let t = FragmentTable.empty |> addAt 0L 1u |> addAt 10L 2u
                        let struct (t, first) = FragmentTable.sweep limits.TimeoutMicros limits t
                        Expect.equal (first, t.Partials.Count) (1, 1) "the first one's time ran out"

                        let struct (t, soon) = FragmentTable.sweep (limits.TimeoutMicros + 10L) limits t
                        Expect.equal (soon, t.Partials.Count) (0, 1) "no second look within the interval"

                        let struct (t, later) =
                            FragmentTable.sweep (limits.TimeoutMicros + FragmentTable.SweepIntervalMicros) limits t

                        Expect.equal (later, t.Partials.Count) (1, 0) "the second one at the next look"
                    }

                    test "a datagram not whole in time is given up, and its memory with it" {
                        let data = Array.zeroCreate 64
                        let table, _ = offer data [ 0, 16 ] FragmentTable.empty

                        Expect.equal
                            (FragmentTable.nextDeadline limits table)
                            (ValueSome limits.TimeoutMicros)
                            "due at the timeout"

                        let struct (early, none) =
                            FragmentTable.expire (limits.TimeoutMicros - 1L) limits table

                        Expect.equal
                            (none, early.Held)
                            (0, 16 + header.Length + FragmentTable.PieceOverhead)
                            "kept before the timeout, charged its data, header and overhead"

                        let struct (late, dropped) = FragmentTable.expire limits.TimeoutMicros limits table
                        Expect.equal (dropped, late.Held) (1, 0) "dropped at it"
                        Expect.isTrue late.Partials.IsEmpty "gone"
                    }
                ]

            testList
                "host"
                [
                    test "a fragmented IPv4 ping of 4000 bytes is answered, in fragments that fit the link" {
                        let payload = Array.init 4000 byte

                        let request =
                            Packet.icmpToArray
                                (Ipv4.header IpProtocol.Icmp peer4 ours4 0)
                                (Icmpv4.echoRequest 3us 4us)
                                (ReadOnlySpan payload)

                        let mutable host = dualHost ()
                        let mutable replies = []

                        for f in fragment4 1500 request do
                            let struct (h, out) = Host.receive 0L (ReadOnlySpan f) host
                            host <- h
                            replies <- replies @ datagrams out

                        Expect.equal host.Counters.Reassembled 1L "one datagram reassembled"
                        Expect.isGreaterThan replies.Length 1 "the reply is fragmented"
                        Expect.all replies (fun r -> r.Length <= 1500) "every fragment fits the link"

                        // The reply's fragments, put back together by a second host's table.
                        let mutable table = FragmentTable.empty
                        let mutable whole = None

                        for r in replies do
                            match Ipv4.tryParse (ReadOnlySpan r) with
                            | Ok ip ->
                                let struct (next, outcome) =
                                    FragmentTable.add
                                        0L
                                        limits
                                        (key "10.0.0.1" (uint32 ip.Header.Identification))
                                        (int ip.Header.FragmentOffset * 8)
                                        ip.Header.MoreFragments
                                        (ReadOnlySpan(r, 0, ip.HeaderLength))
                                        (ReadOnlySpan(r, ip.PayloadOffset, ip.PayloadLength))
                                        table

                                table <- next

                                match outcome with
                                | Whole(_, data) -> whole <- Some data
                                | _ -> ()
                            | Error e -> failtestf "reply fragment unreadable: %A" e

                        match whole with
                        | Some icmp ->
                            match Icmpv4.tryParse (ReadOnlySpan icmp) with
                            | Ok m ->
                                Expect.equal m.Header.Type IcmpType.EchoReply "an echo reply"
                                Expect.equal icmp[8..] payload "with the request's 4000 bytes"
                            | Error e -> failtestf "reply unreadable: %A" e
                        | None -> failtest "the reply's fragments never made a whole datagram"
                    }

                    test "a fragmented IPv6 ping of 4000 bytes is answered, in fragments that fit the link" {
                        let payload = Array.init 4000 (fun i -> byte (i * 7))

                        let request =
                            Packet.icmpv6ToArray peer6 ours6 64uy (Icmpv6.echoRequest 5us 6us) (ReadOnlySpan payload)

                        let mutable host = dualHost ()
                        let mutable replies = []

                        for f in fragment6 1500 0xBEEFu request do
                            let struct (h, out) = Host.receive 0L (ReadOnlySpan f) host
                            host <- h
                            replies <- replies @ datagrams out

                        Expect.equal host.Counters.Reassembled 1L "one datagram reassembled"
                        Expect.isGreaterThan replies.Length 1 "the reply is fragmented"
                        Expect.all replies (fun r -> r.Length <= 1500) "every fragment fits the link"

                        let data =
                            replies
                            |> List.map (fun r ->
                                match Ipv6.tryParse (ReadOnlySpan r) with
                                | Ok ip when ip.Fragment.IsSome ->
                                    ip.Fragment.Value.Offset, r[ip.Fragment.Value.DataStart ..]
                                | other -> failtestf "not an IPv6 fragment: %A" other)
                            |> List.sortBy fst
                            |> List.collect (snd >> List.ofArray)
                            |> Array.ofList

                        match Icmpv6.tryParse ours6 peer6 (ReadOnlySpan data) with
                        | Ok m ->
                            Expect.equal m.Header.Type Icmpv6Type.EchoReply "an echo reply, checksum valid"
                            Expect.equal data[8..] payload "with the request's 4000 bytes"
                        | Error e -> failtestf "reply unreadable: %A" e
                    }

                    test "TCP data in IPv4 fragments reaches its connection, read from the reassembled datagram" {
                        let host =
                            match Host.listen 80us 4 (dualHost ()) with
                            | Ok h -> h
                            | Error e -> failtestf "listen: %A" e

                        let tcpPacket (flags: TcpFlags) (seq: uint32) (ack: uint32) (payload: byte array) =
                            let h =
                                { Tcp.header 5000us 80us with
                                    SequenceNumber = seq
                                    AcknowledgmentNumber = ack
                                    Flags = flags
                                    Window = 65535us
                                }

                            Packet.tcpToArray (Ipv4.header IpProtocol.Tcp peer4 ours4 0) h (ReadOnlySpan payload)

                        let struct (host, out) =
                            Host.receive 0L (ReadOnlySpan(tcpPacket TcpFlags.Syn 1000u 0u [||])) host

                        let iss =
                            match out.Transmits with
                            | [ Segment(_, o) ] -> o.Header.SequenceNumber
                            | other -> failtestf "expected a SYN-ACK: %A" other

                        let struct (host, _) =
                            Host.receive 0L (ReadOnlySpan(tcpPacket TcpFlags.Ack 1001u (iss + 1u) [||])) host

                        let payload = Array.init 3000 (fun i -> byte (i % 251))
                        let mutable host = host
                        let mutable arrived = None

                        for f in fragment4 1500 (tcpPacket (TcpFlags.Ack ||| TcpFlags.Psh) 1001u (iss + 1u) payload) do
                            let struct (h, out) = Host.receive 0L (ReadOnlySpan f) host
                            host <- h

                            for struct (_, c) in out.Connections do
                                match c.Arrived with
                                | ValueSome a ->
                                    Expect.isNotNull out.Reassembled "the step names the datagram it read"
                                    arrived <- Some out.Reassembled[a.PayloadOffset .. a.PayloadOffset + a.Length - 1]
                                | ValueNone -> ()

                        Expect.equal arrived (Some payload) "all 3000 bytes, from the reassembled datagram"
                    }
                ]
        ]
