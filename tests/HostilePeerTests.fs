/// A peer that lies, forges or misbehaves, scripted segment by segment: each test here is
/// a way an earlier engine could be wedged, slowed down or fooled, and fails on it.
module Stack.Tests.HostilePeerTests

open Expecto
open Stack.Core.Tcp
open Stack.Core.Wire
open Stack.Tests.Scenario

let private o = ConnectionOptions.defaults

let private una (x: Exchange) = x.Connection.SendUnacknowledged

/// A segment from the peer at its own sequence numbers, carrying `tsval` as its
/// timestamp instead of the peer's clock.
let private forged (x: Exchange) (flags: TcpFlags) (ack: SeqNum) (tsval: uint32) =
    incoming flags x.Peer.Seq ack (x.Peer.Window >>> x.Peer.Shift) [ Nop; Nop; Timestamps(tsval, x.Peer.TsEcr) ] 0

let private timestampTests =
    testList
        "Timestamps (RFC 7323 with RFC 5961)"
        [
            test "a blind ACK with a huge TSval that fails the ACK check does not make later segments fail PAWS" {
                let x = established o
                x.PeerAck() |> ignore
                // In the window, but acknowledging data from far before SND.UNA: a challenge ACK.
                let blind =
                    forged x TcpFlags.Ack (una x - 0x4000_0000) (x.Peer.TsVal + 0x7000_0000u)

                let answer = single (x.Deliver blind)
                Expect.equal answer.Flags TcpFlags.Ack "challenge ACK"
                let out = x.PeerData 100
                Expect.equal out.Readable 100 "the genuine segment's data is taken"
            }

            test "an in-window RST not at RCV.NXT with a huge TSval does not poison TS.Recent" {
                let x = established o

                let rst =
                    incoming
                        TcpFlags.Rst
                        (x.Peer.Seq + 10)
                        (SeqNum 0u)
                        0
                        [ Nop; Nop; Timestamps((x.Peer.TsVal + 0x7000_0000u), 0u) ]
                        0

                single (x.Deliver rst) |> ignore
                Expect.equal x.State State.Established "still ESTABLISHED"
                Expect.equal (x.PeerData 100).Readable 100 "the genuine segment's data is taken"
            }

            test "a SYN with a huge TSval in ESTABLISHED draws a challenge ACK and poisons nothing" {
                let x = established o

                let syn =
                    incoming
                        TcpFlags.Syn
                        x.Peer.Seq
                        (SeqNum 0u)
                        1000
                        [ Nop; Nop; Timestamps((x.Peer.TsVal + 0x7000_0000u), 0u) ]
                        0

                single (x.Deliver syn) |> ignore
                Expect.equal (x.PeerData 100).Readable 100 "the genuine segment's data is taken"
            }

            test "a SYN-ACK that echoes our first SYN after we sent it again gives no RTT sample" {
                let x = connect o
                let first = x.Peer.TsEcr
                x.Fire() |> ignore
                Expect.equal x.Connection.RetransmissionCount 1L "the SYN went again"
                // The server answers the second SYN but echoes the first one's timestamp,
                // as Linux does: a second after it, which is the timeout, not the path.
                x.Wait 100L
                x.Peer.TsEcr <- first
                x |> handshake allOptions |> ignore
                Expect.equal x.Connection.SmoothedRtt ValueNone "no sample"
            }

            test "an ACK that echoes our first SYN-ACK after we sent it again gives no RTT sample" {
                let x = listen o
                x.PeerSyn() |> ignore
                let first = x.Peer.TsEcr
                x.Fire() |> ignore
                Expect.equal x.Connection.RetransmissionCount 1L "the SYN-ACK went again"
                x.Wait 100L
                x.Peer.TsEcr <- first
                x.PeerAck() |> ignore
                Expect.equal x.State State.Established "established"
                Expect.equal x.Connection.SmoothedRtt ValueNone "no sample"
            }

            test "a SYN-ACK that echoes our only SYN gives an RTT sample" {
                let x = connect o
                x.Wait 3_000L
                x |> handshake allOptions |> ignore
                Expect.equal x.Connection.SmoothedRtt (ValueSome 3_000L) "three milliseconds"
            }
        ]

let private mssTests =
    testList
        "MSS floor"
        [
            test "a SYN-ACK with MSS 1 gives 48-byte segments (less the timestamps), not 1-byte ones" {
                let x =
                    connect o
                    |> handshake [ Mss 1us; SackPermitted; Timestamps(0u, 0u); Nop; WindowScale 7uy ]

                Expect.equal x.Connection.MaxSegmentSize (Connection.MinMss - 12) "the floor, less the timestamp option"
                let segments = sent (x.User(Command.Send 1000))

                for s in segments do
                    Expect.isGreaterThanOrEqual s.Length (Connection.MinMss - 12) "no tiny segment"
            }

            test "a SYN-ACK with MSS 0 is read as no MSS at all: 536 bytes" {
                let x =
                    connect { o with Timestamps = false } |> handshake [ Mss 0us; SackPermitted ]

                Expect.equal x.Connection.MaxSegmentSize 536 "RFC 9293's default"
            }

            test "a SYN with MSS 1 in LISTEN also gets the floor" {
                let x = listen o |> acceptFrom [ Mss 1us ]
                Expect.equal x.Connection.MaxSegmentSize Connection.MinMss "the floor (no timestamps offered)"
            }
        ]

let private icmpTests =
    testList
        "ICMP fragmentation needed (RFC 1191, RFC 5927)"
        [
            let tooBig (x: Exchange) (mtu: int) =
                let struct (c, out) =
                    Connection.handleIcmpError x.Now (Connection.IcmpProblem.PacketTooBig mtu) (una x) x.Connection

                x.Connection <- c
                out

            test "an error that does not lower the path MTU resends nothing and keeps the MSS" {
                let x, mss = inFlightWith o 5
                let out = tooBig x 1500
                Expect.isEmpty out.Segments "nothing resent"
                Expect.equal x.Connection.MaxSegmentSize mss "the MSS is kept"
                Expect.isEmpty (tooBig x 9000).Segments "a larger MTU changes nothing either"
                Expect.equal x.Connection.MaxSegmentSize mss "still kept"
            }

            test "a forged tiny MTU is raised to 552: the MSS never drops below 500 bytes" {
                let x, _ = inFlightWith o 5
                tooBig x 68 |> ignore
                Expect.equal x.Connection.MaxSegmentSize (Connection.MinPathMtu - 40 - 12) "552 less the headers"
                tooBig x 10 |> ignore
                Expect.equal x.Connection.MaxSegmentSize (Connection.MinPathMtu - 40 - 12) "never lower"
            }
        ]

let private simultaneousOpenTests =
    testList
        "Simultaneous open (RFC 9293 Figure 7)"
        [
            test "the peer's SYN-ACK in SYN-RECEIVED establishes the connection, with no further segment" {
                let x = connect o
                x.PeerSyn() |> ignore
                Expect.equal x.State State.SynReceived "SYN-RECEIVED after the crossing SYN"
                let out = x.PeerSends(synAck, seq = SeqNum peerIss, options = allOptions)
                Expect.equal x.State State.Established "ESTABLISHED on the SYN-ACK alone"
                Expect.equal out.Events [ Event.Connected ] "Connected"
                Expect.isFalse (sent out |> List.exists _.Has(TcpFlags.Rst)) "no reset"
                Expect.equal (una x) (x.Connection.InitialSendSequence + 1) "our SYN acknowledged"
                Expect.equal x.Connection.ReceiveNext (SeqNum peerIss + 1) "the peer's SYN taken once"
                Expect.equal (Timers.get Timers.Retransmit x.Connection.Deadlines) ValueNone "no retransmission pending"
            }

            test "a SYN-ACK in SYN-RECEIVED that acknowledges something else is not taken" {
                let x = connect o
                x.PeerSyn() |> ignore

                x.PeerSends(synAck, seq = SeqNum peerIss, ack = una x + 1000, options = allOptions)
                |> ignore

                Expect.equal x.State State.SynReceived "still SYN-RECEIVED"
            }
        ]

let private timeoutTests =
    testList
        "Retransmission timeouts"
        [
            test "a second timeout in a row keeps ssthresh (RFC 5681 3.1)" {
                let x, _ = inFlightWith o 10
                x.FireRetransmit() |> ignore
                let first = x.Connection.SlowStartThreshold
                x.Fire() |> ignore
                Expect.equal x.Connection.SlowStartThreshold first "ssthresh unchanged by the repeated timeout"
            }

            test "new data acknowledged after timeouts ends the backoff" {
                let x, _ = inFlightWith { o with Timestamps = false } 10
                let rto = x.Connection.RetransmissionTimeout

                for _ in 1..3 do
                    x.FireRetransmit() |> ignore

                Expect.equal x.Connection.RetransmissionTimeout (8L * rto) "backed off three times"
                // The resent first segment is acknowledged: no sample (Karn), but progress.
                x.PeerAck(ack = una x + 1) |> ignore
                Expect.equal x.Connection.RetransmissionTimeout rto "back to the base timeout"
            }
        ]

/// The peer's ACK of `ack` reporting that it holds [from, until).
let private sackAck (x: Exchange) (ack: SeqNum) (from: SeqNum) (until: SeqNum) =
    x.PeerAck(ack = ack, options = [ Nop; Nop; Sack [ from.Value, until.Value ] ])

let private reassemblyTests =
    testList
        "Out-of-order arrivals"
        [
            test "a peer that leaves a hole between every segment costs no allocation per segment" {
                let x = established o
                let c = Connection.Owned.copy x.Connection
                let box = Outbox()
                let start = c.ReceiveNext
                let size = 1000

                // Rounds of 64 segments: the odd ones first, each past a hole, then the even
                // ones that fill the holes. Built before the clock starts.
                let round (r: int) =
                    [|
                        for i in [ 1..2..63 ] @ [ 0..2..62 ] ->
                            x.Peer.Segment(TcpFlags.Ack, size, seq = start + (r * 64 + i) * size)
                    |]

                let rounds = Array.init 200 round

                let play (segments: Incoming array) =
                    for s in segments do
                        Connection.Owned.handleSegment x.Now s c box

                    Connection.Owned.handleUser x.Now (Command.Consumed(64 * size)) c box

                let playRounds (first: int) (last: int) =
                    for r in first..last do
                        play rounds[r]

                // Warm up (the JIT's tiers, the arrays' sizes), then count.
                playRounds 0 149
                let before = System.GC.GetAllocatedBytesForCurrentThread()
                playRounds 150 199

                let allocated = System.GC.GetAllocatedBytesForCurrentThread() - before
                Expect.equal c.ReceiveNext (start + 200 * 64 * size) "every hole filled"
                Expect.equal allocated 0L "bytes allocated by 3,200 segments, half of them out of order"
            }
        ]

let private renegingTests =
    testList
        "SACK reneging (RFC 2018 8)"
        [
            test "a peer that drops what it SACKed gets it again after the timeout, and the transfer completes" {
                let x, mss = inFlightWith o 10
                let start = una x
                let top = x.Connection.SendNext
                // It holds segments 1 to 9, not 0.
                sackAck x start (start + mss) top |> ignore
                // Then, short of memory, it drops them: it acknowledges segment 0 alone.
                x.Peer.Ack <- start + mss
                x.PeerAck() |> ignore
                let again = sent (x.FireRetransmit())
                Expect.isNonEmpty again "the timeout sends again"
                Expect.equal again.Head.Seq (start + mss) "from the first dropped segment"
                let mutable rounds = 0

                while SeqNum.lt (una x) top && rounds < 100 do
                    rounds <- rounds + 1

                    if (x.PeerAck()).Segments.IsEmpty && SeqNum.lt (una x) top then
                        x.Fire() |> ignore

                Expect.equal (una x) top "everything acknowledged in the end"
            }

            test "an ACK that stops at a segment the peer SACKed shows it reneged: the timer fires within 10 ms" {
                let x, mss = inFlightWith o 10
                let start = una x
                let top = x.Connection.SendNext
                x.Wait 1_000L
                sackAck x start (start + mss) top |> ignore
                x.Wait 1_000L
                // Segment 0 arrives late and is acknowledged alone: 1 to 9 are gone.
                x.Peer.Ack <- start + mss
                x.PeerAck() |> ignore
                let timer = (Timers.get Timers.Retransmit x.Connection.Deadlines).Value
                Expect.isLessThanOrEqual timer (x.Now + 10_000L) "the timer is shortened"
                let again = sent (x.Fire())
                Expect.equal again.Head.Seq (start + mss) "from the first dropped segment"
            }
        ]

let private dsackTests =
    testList
        "D-SACK (RFC 2883)"
        [
            test "data received twice is reported once in a D-SACK block below the ACK" {
                let x = established o
                let start = x.Connection.ReceiveNext
                x.PeerData 1000 |> ignore
                let answer = single (x.PeerData(1000, seq = start))
                Expect.equal answer.Ack (start + 1000) "the ACK stays"
                Expect.equal answer.SackBlocks [ (start, start + 1000) ] "the duplicate, as the first block"
                x.PeerData 1000 |> ignore
                let next = single (x.PeerData 1000)
                Expect.isEmpty next.SackBlocks "reported once"
            }

            test "a duplicate of data held out of order comes first, then the range that holds it" {
                let x = established o
                let hole = x.Connection.ReceiveNext
                x.PeerData(100, seq = hole + 500) |> ignore
                let answer = single (x.PeerData(100, seq = hole + 500))

                Expect.equal
                    answer.SackBlocks
                    [ (hole + 500, hole + 600); (hole + 500, hole + 600) ]
                    "D-SACK, then the block that contains it"
            }

            test "a D-SACK widens RACK's reordering window, once per round trip" {
                let mutable rack = Rack.create (SeqNum 0u)
                rack.MinRtt <- 40_000L
                let before = Rack.reorderWindow &rack 100_000L false false
                Rack.onAck &rack (SeqNum 0u) (SeqNum 10_000u) true
                let after = Rack.reorderWindow &rack 100_000L false false
                Rack.onAck &rack (SeqNum 100u) (SeqNum 10_000u) true
                let same = Rack.reorderWindow &rack 100_000L false false
                Expect.equal before 10_000L "a quarter of the minimum RTT"
                Expect.equal after 20_000L "two quarters after a D-SACK"
                Expect.equal same after "a second D-SACK in the same round changes nothing"
            }
        ]

let private undoTests =
    testList
        "Undo of spurious reductions (RFC 3522, RFC 3708, RFC 4015)"
        [
            test "a timeout whose ACK echoes the original's timestamp was spurious: the window comes back" {
                let x, _ = inFlightWith o 10
                let before = x.Connection.CongestionWindow
                // The timestamp the peer echoes for the original segments.
                let original = x.Peer.TsEcr
                x.FireRetransmit() |> ignore
                Expect.isLessThan x.Connection.CongestionWindow before "the timeout shrank the window"
                // The ACK was only late: it covers everything and answers the originals.
                x.Peer.TsEcr <- original
                x.PeerAck() |> ignore
                Expect.isGreaterThanOrEqual x.Connection.CongestionWindow before "the window is back"
                Expect.equal x.Connection.UndoneCount 1L "one reduction undone"
            }

            test "a fast retransmit that a D-SACK shows needless was spurious: the window comes back" {
                let x, mss = inFlightWith o 10
                let start = una x
                let before = x.Connection.CongestionWindow
                let threshold = x.Connection.SlowStartThreshold
                // Segment 0 is late, not lost: the peer SACKs 1 to 3 first.
                let resent = sent (sackAck x start (start + mss) (start + 4 * mss))
                Expect.exists resent (fun s -> s.Seq = start) "segment 0 sent again"
                Expect.isLessThan x.Connection.SlowStartThreshold threshold "recovery cut the threshold"
                // Then the original arrives, and the copy after it, reported as a duplicate.
                x.PeerAck(ack = start + 4 * mss) |> ignore
                sackAck x (start + 4 * mss) start (start + mss) |> ignore
                Expect.isGreaterThanOrEqual x.Connection.CongestionWindow before "the window is back"
                Expect.equal x.Connection.SlowStartThreshold threshold "and the threshold"
                Expect.equal x.Connection.UndoneCount 1L "one reduction undone"
            }

            test "a D-SACK of a probe sent before a timeout proves nothing about the timeout; a timer keeps running" {
                let x, mss = inFlightWith o 10
                let start = una x
                // The peer shuts its window: the timeout can send nothing and leaves the flight
                // to the persist timer.
                x.PeerAck(ack = start, window = 0) |> ignore
                x.FireRetransmit() |> ignore
                Expect.equal x.Connection.TimeoutCount 1L "one timeout"
                // Then it reports the probe's copy of the last segment as a duplicate.
                let top = x.Connection.SendNext
                let last = (top - mss).Value, top.Value

                x.PeerAck(ack = start, window = 0, options = [ Nop; Nop; Sack [ last; last ] ])
                |> ignore

                Expect.equal x.Connection.UndoneCount 0L "nothing undone"
                Expect.isTrue (Connection.nextDeadline x.Connection).IsSome "a timer runs"
            }

            test "F-RTO without timestamps: after a timeout, ACKs for data never resent prove it spurious" {
                let x, mss = inFlightWith { o with Timestamps = false } 10
                let start = una x
                x.User(Command.Send(10 * mss)) |> ignore
                let before = x.Connection.CongestionWindow
                let resent = sent (x.FireRetransmit())
                Expect.exists resent (fun s -> s.Seq = start) "the timeout resends SND.UNA"
                // The late ACK of the first original segment: F-RTO sends new data, not old.
                let highest = x.Connection.SendNext
                let next = sent (x.PeerAck(ack = start + mss))
                Expect.isNonEmpty next "something goes"
                Expect.all next (fun s -> SeqNum.ge s.Seq highest) "new data only"
                Expect.isLessThanOrEqual next.Length 2 "at most two segments"
                // More originals arrive: the timeout was spurious.
                x.PeerAck(ack = start + 3 * mss) |> ignore
                Expect.equal x.Connection.UndoneCount 1L "undone"
                Expect.isGreaterThanOrEqual x.Connection.CongestionWindow before "the window is back"
            }

            test "F-RTO: a duplicate ACK after the new data shows the timeout was real; what was lost goes again" {
                let x, mss = inFlightWith { o with Timestamps = false } 10
                let start = una x
                x.User(Command.Send(10 * mss)) |> ignore
                x.FireRetransmit() |> ignore
                x.PeerAck(ack = start + mss) |> ignore
                let top = x.Connection.SendNext
                // The new segments arrive, the rest of the old flight does not.
                let again = sent (sackAck x (start + mss) (top - 2 * mss) top)
                Expect.equal x.Connection.UndoneCount 0L "nothing undone"
                Expect.exists again (fun s -> s.Seq = start + mss) "the old flight goes again from SND.UNA"
            }

            test "a real loss is not undone: the ACK of the retransmission echoes its own timestamp" {
                let x, _ = inFlightWith o 10
                x.FireRetransmit() |> ignore
                let after = x.Connection.CongestionWindow
                x.PeerAck() |> ignore
                Expect.equal x.Connection.UndoneCount 0L "nothing undone"
                Expect.isLessThan x.Connection.CongestionWindow (4 * after) "the window grows from one segment"
            }
        ]

let private rackTests =
    testList
        "RACK-TLP (RFC 8985)"
        [
            test "a lost retransmission is found by time, before the retransmission timer" {
                let x, mss = inFlightWith o 10
                let start = una x
                x.User(Command.Send(20 * mss)) |> ignore
                let mutable copies = 0
                let mutable highest = x.Connection.SendNext
                let rto = (Timers.get Timers.Retransmit x.Connection.Deadlines).Value

                let count (out: Output) =
                    for s in sent out do
                        if s.Seq = start then
                            copies <- copies + 1

                        if SeqNum.gt s.End highest then
                            highest <- s.End

                // Segment 0 and its copies never arrive; everything else does, one
                // millisecond apart. The reordering timer runs when RACK asks for it.
                for _ in 1..30 do
                    x.Wait 1_000L
                    count (sackAck x start (start + mss) highest)

                    match Timers.get Timers.Reorder x.Connection.Deadlines with
                    | ValueSome d when d <= x.Now + 1_000L -> count (x.Fire())
                    | _ -> ()

                Expect.isLessThan x.Now rto "all before the retransmission timer"
                Expect.isGreaterThanOrEqual copies 2 "segment 0 sent again, and again when that copy was lost"
            }

            test "in recovery, what the reordering timer finds lost goes at once, with no ACK to clock it" {
                let x = established o
                let mss = x.Connection.MaxSegmentSize
                // Round trips of a millisecond grow the window to 20 segments.
                for n in [ 2; 4; 6 ] do
                    x.User(Command.Send(n * mss)) |> ignore
                    x.Wait 1_000L
                    x.PeerAck() |> ignore

                let start = una x
                x.User(Command.Send(40 * mss)) |> ignore
                x.Wait 1_000L
                // Segment 3 arrives before 2: the path reorders, so RACK waits a little
                // before it calls anything lost.
                sackAck x start (start + 3 * mss) (start + 4 * mss) |> ignore
                x.Wait 100L
                sackAck x start (start + 2 * mss) (start + 4 * mss) |> ignore
                Expect.isTrue x.Connection.Rack.ReorderingSeen "reordering seen"
                // 4 to 7 arrive; 0 and 1 never do.
                x.Wait 100L
                sackAck x start (start + 2 * mss) (start + 8 * mss) |> ignore
                let mutable copies = 0

                let count (out: Output) =
                    copies <- copies + (sent out |> List.filter (fun s -> s.Seq = start) |> List.length)

                // The timer finds 0 and 1 lost; recovery sends both again.
                count (x.Fire())
                Expect.equal copies 1 "segment 0 sent again"
                // The copy of 1 arrives, the copy of 0 does not, and then nothing more.
                x.Wait 1_000L
                count (sackAck x start (start + mss) (start + 8 * mss))

                while copies < 2 && x.Connection.TimeoutCount = 0L do
                    count (x.Fire())

                Expect.equal x.Connection.TimeoutCount 0L "no timeout"
            }

            test "when SACK recovery ends the window is ssthresh (RFC 6937), not what happens to be in flight" {
                let x, mss = inFlightWith o 10
                let start = una x
                sackAck x start (start + mss) (start + 4 * mss) |> ignore
                Expect.isTrue x.Connection.InRecovery "in recovery"
                let ssthresh = x.Connection.SlowStartThreshold
                // Everything arrives: the ACK leaves nothing in flight.
                x.PeerAck(ack = x.Connection.SendNext) |> ignore
                Expect.isFalse x.Connection.InRecovery "recovery is over"
                Expect.equal x.Connection.CongestionWindow ssthresh "cwnd = ssthresh"
            }

            test "a loss at the tail is probed: the last segment goes again after about two RTTs" {
                let x, mss = inFlightWith o 4
                let probe = (Timers.get Timers.LossProbe x.Connection.Deadlines).Value
                let rto = (Timers.get Timers.Retransmit x.Connection.Deadlines).Value
                Expect.isLessThan probe rto "the probe comes first"
                let s = single (x.Fire())
                Expect.equal s.End x.Connection.SendNext "the last segment"
                Expect.equal x.Connection.RetransmissionCount 1L "one retransmission"
                // One probe per tail: nothing more until the retransmission timer.
                Expect.equal
                    (Connection.nextDeadline x.Connection)
                    (Timers.get Timers.Retransmit x.Connection.Deadlines)
                    "then the timer"
            }
        ]

/// The engine's notes for a trace (`ConnectionOptions.Trace`).
let private noteTests =
    let traced = { o with Trace = true }

    let notesOf (x: Exchange) = List.ofSeq x.Connection.Notes

    testList
        "Trace notes"
        [
            test "off by default: no notes kept" {
                let x, mss = inFlightWith o 10
                let start = una x
                sackAck x start (start + mss) (start + 4 * mss) |> ignore
                x.FireRetransmit() |> ignore
                Expect.isNull x.Connection.Notes "no notes"
            }

            test "an RTT sample, and a loss with its reason, where it begins and its bytes" {
                let x, mss = inFlightWith traced 10
                let start = una x

                Expect.exists
                    (notesOf x)
                    (fun n -> n.Kind = NoteKind.RttSample && n.Seq = start)
                    "the sample of the ACK that brought SND.UNA here"

                x.Connection.Notes.Clear()
                // Segment 0 is missing while 1 to 3 arrived: RACK judges it lost.
                let resent = sent (sackAck x start (start + mss) (start + 4 * mss))
                Expect.exists resent (fun s -> s.Seq = start) "segment 0 sent again"

                let losses = notesOf x |> List.filter (fun n -> n.Kind = NoteKind.LostByRack)

                Expect.equal
                    (losses |> List.map (fun n -> n.Seq, n.Value))
                    [ start, int64 mss ]
                    "one segment, at SND.UNA, lost by RACK"

                Expect.equal losses.Head.Time x.Now "at the ACK's time"
            }

            test "a timeout judges what was still in flight lost, once" {
                let x, mss = inFlightWith traced 10
                let start = una x
                x.Connection.Notes.Clear()
                x.FireRetransmit() |> ignore

                let losses = notesOf x |> List.filter (fun n -> n.Kind = NoteKind.LostByTimeout)

                Expect.equal (losses |> List.map (fun n -> n.Seq, n.Value)) [ start, int64 (10 * mss) ] "all ten"
            }

            test "a D-SACK is noted with its size" {
                let x = established traced
                let mss = x.Connection.MaxSegmentSize
                x.User(Command.Send(2 * mss)) |> ignore
                let start = una x
                // The first segment arrived twice: the peer reports the copy below its ACK.
                x.PeerAck(ack = start + mss, options = [ Nop; Nop; Sack [ start.Value, (start + mss).Value ] ])
                |> ignore

                let duplicate =
                    notesOf x |> List.filter (fun n -> n.Kind = NoteKind.DuplicateReported)

                Expect.equal
                    (duplicate |> List.map (fun n -> n.Seq, n.Value))
                    [ start, int64 mss ]
                    "the block below the ACK"
            }
        ]

[<Tests>]
let tests =
    testList
        "Hostile peer"
        [
            timestampTests
            mssTests
            icmpTests
            simultaneousOpenTests
            timeoutTests
            reassemblyTests
            renegingTests
            dsackTests
            undoTests
            rackTests
            noteTests
        ]
