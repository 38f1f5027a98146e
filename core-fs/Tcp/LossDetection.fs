/// Deciding which segments in flight are lost, behind one seam: each detector marks
/// entries of the scoreboard lost, and the sender retransmits what is marked. RACK
/// (RFC 8985) judges by time, RFC 6675 by how much was SACKed above a hole, and without
/// SACK, NewReno (RFC 6582) by three duplicate ACKs.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module internal Stack.Core.Tcp.LossDetection

open Stack.Core.Tcp.Scoreboard

/// Duplicate ACKs, or segments' worth SACKed above a hole, that mean a loss (DupThresh).
[<Literal>]
let DupThresh = 3

/// RFC 6675's IsLost for every hole: lost when more than DupThresh - 1 segments' worth
/// above it is SACKed; and the segment at SND.UNA once DupThresh duplicate ACKs came
/// (section 5, step 4). A segment sent again is left to the timer: this detector cannot
/// tell a lost retransmission from one on its way.
let private byThreshold (c: Connection) =
    let board = c.Board

    if board.SackedBytes > 0 then
        let mutable above = 0

        for i = board.Count - 1 downto 0 do
            let e = &board.At i

            if e.Has Marks.Sacked then
                above <- above + e.Length
            elif above > (DupThresh - 1) * c.SndMss && not (e.Has Marks.Retransmitted) then
                board.MarkLost i

    if
        c.DuplicateAcks >= DupThresh
        && board.Count > 0
        && not (board.At(0).Has Marks.Retransmitted)
    then
        board.MarkLost 0

/// RACK: marks what is lost by now and arms the reordering timer for what may become
/// lost later (RFC 8985 6.2 and 6.3).
let private byTime (c: Connection) (now: int64) =
    let srtt = c.Rtt.Srtt |> ValueOption.defaultValue c.Rack.Rtt

    let window =
        Rack.reorderWindow &c.Rack srtt (not c.Recovery.IsOpen) (c.Board.SackedBytes >= DupThresh * c.SndMss)

    let wait = Rack.detectLoss &c.Rack c.Board now window

    if wait > 0L then
        Timers.put Timers.Reorder (now + wait) &c.Timers
    else
        Timers.stop Timers.Reorder &c.Timers

/// Marks the segments the connection now knows to be lost, after an ACK (whose D-SACK,
/// if any, is `dsack`) or when the reordering timer fires.
let detect (c: Connection) (now: int64) (dsack: bool) =
    if not c.SackOn then
        // NewReno (RFC 6582 3.2): the third duplicate ACK, outside a recovery whose
        // data is still being acknowledged.
        if
            c.DuplicateAcks >= DupThresh
            && c.Recovery.IsOpen
            && SeqNum.ge c.SndUna c.Recover
            && c.Board.Count > 0
        then
            c.Board.MarkLost 0
    else
        match c.Options.LossDetection with
        | LossDetector.Rack ->
            Rack.onAck &c.Rack c.SndUna c.SndMax dsack
            byTime c now
        | LossDetector.DupThresh -> byThreshold c
