/// Building the segments a connection sends: headers, the options they carry, the window
/// they advertise, and the output that collects them during one step.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module internal Stack.Core.Tcp.Emit

#nowarn "9" // stackalloc for the option bytes of one header

open System
open System.Buffers.Binary
open Microsoft.FSharp.NativeInterop
open System.Runtime.CompilerServices
open Stack.Core.Wire

/// Our timestamp clock as `c` sends it: milliseconds (RFC 7323 asks for a tick between
/// 1 ms and 1 s) plus the connection's own offset (RFC 7323 5.4).
let tsClock (c: Connection) (now: int64) = uint32 (now / 1000L) + c.TsOffset

/// The shift that lets a window of `bufferSize` bytes fit the 16-bit field (at most 14).
let shiftFor (bufferSize: int) =
    let mutable s = 0

    while s < 14 && (bufferSize >>> s) > 65535 do
        s <- s + 1

    s

/// The options of a SYN or SYN-ACK: MSS always; SACK-permitted, timestamps and window
/// scale as offered (Linux's layout).
let synOptions (mss: int) (sack: bool) (timestamps: struct (uint32 * uint32) voption) (shift: int voption) =
    let area = Span<byte>(NativePtr.toVoidPtr (NativePtr.stackalloc<byte> 40), 40)
    area.Clear()
    area[0] <- TcpOptionKind.Mss
    area[1] <- 4uy
    BinaryPrimitives.WriteUInt16BigEndian(area.Slice(2, 2), uint16 (min mss 65535))
    let mutable n = 4

    match timestamps with
    | ValueSome(struct (tsval, tsecr)) ->
        if sack then
            area[n] <- TcpOptionKind.SackPermitted
            area[n + 1] <- 2uy
        else
            area[n] <- TcpOptionKind.Nop
            area[n + 1] <- TcpOptionKind.Nop

        area[n + 2] <- TcpOptionKind.Timestamps
        area[n + 3] <- 10uy
        BinaryPrimitives.WriteUInt32BigEndian(area.Slice(n + 4, 4), tsval)
        BinaryPrimitives.WriteUInt32BigEndian(area.Slice(n + 8, 4), tsecr)
        n <- n + 12
    | ValueNone when sack ->
        area[n] <- TcpOptionKind.Nop
        area[n + 1] <- TcpOptionKind.Nop
        area[n + 2] <- TcpOptionKind.SackPermitted
        area[n + 3] <- 2uy
        n <- n + 4
    | ValueNone -> ()

    match shift with
    | ValueSome s ->
        area[n] <- TcpOptionKind.Nop
        area[n + 1] <- TcpOptionKind.WindowScale
        area[n + 2] <- 3uy
        area[n + 3] <- byte s
        n <- n + 4
    | ValueNone -> ()

    OptionBytes.Create(Span<byte>.op_Implicit(area.Slice(0, n)))

/// The options of a segment that reports SACK blocks (and timestamps when on).
let private optionsWithSack (c: Connection) (now: int64) =
    let area = Span<byte>(NativePtr.toVoidPtr (NativePtr.stackalloc<byte> 40), 40)
    let mutable n = 0

    if c.TimestampsOn then
        area[0] <- TcpOptionKind.Nop
        area[1] <- TcpOptionKind.Nop
        area[2] <- TcpOptionKind.Timestamps
        area[3] <- 10uy
        BinaryPrimitives.WriteUInt32BigEndian(area.Slice(4, 4), tsClock c now)
        BinaryPrimitives.WriteUInt32BigEndian(area.Slice(8, 4), c.TsRecent)
        n <- 12

    let room = (40 - n - 4) / 8

    let blocks =
        Span<Reassembly.Block>(NativePtr.toVoidPtr (NativePtr.stackalloc<Reassembly.Block> 4), 4)

    // A D-SACK block goes first, once (RFC 2883), then the ranges held out of order.
    let mutable count = 0

    match c.Dsack with
    | ValueSome d ->
        blocks[0] <- d
        count <- 1
        c.Dsack <- ValueNone
    | ValueNone -> ()

    count <- count + c.OutOfOrder.WriteSackBlocks(room - count, blocks.Slice count)
    area[n] <- TcpOptionKind.Nop
    area[n + 1] <- TcpOptionKind.Nop
    area[n + 2] <- TcpOptionKind.Sack
    area[n + 3] <- byte (2 + 8 * count)
    n <- n + 4

    for i in 0 .. count - 1 do
        BinaryPrimitives.WriteUInt32BigEndian(area.Slice(n, 4), blocks[i].Start.Value)
        BinaryPrimitives.WriteUInt32BigEndian(area.Slice(n + 4, 4), blocks[i].End.Value)
        n <- n + 8

    OptionBytes.Create(Span<byte>.op_Implicit(area.Slice(0, n)))

/// Writes the options of a synchronized segment into `destination`: timestamps when on,
/// then SACK blocks when the receiver holds out-of-order data (as many as fit: 3 with
/// timestamps, 4 without).
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let private writeSegmentOptions (h: inref<TcpHeader>) (c: Connection) (now: int64) =
    if (c.OutOfOrder.IsEmpty && c.Dsack.IsNone) || not c.SackOn then
        if c.TimestampsOn then
            HeaderWriter.writeTimestamps &h (tsClock c now) c.TsRecent
        else
            HeaderWriter.writeOptions &h OptionBytes.Empty
    else
        HeaderWriter.writeOptions &h (optionsWithSack c now)

/// The window to advertise now, as the header field, moving the advertised right edge.
/// Receiver silly-window avoidance (RFC 9293 3.8.6.2.2): the edge moves right only by at
/// least min(half the buffer, one MSS), and never moves left.
let advertiseWindow (c: Connection) =
    let available = max 0 (c.RcvBuffer - c.RcvUnread)
    let candidate = c.RcvNxt + available
    let current = SeqNum.max c.RcvEdge c.RcvNxt
    let threshold = min (c.RcvBuffer / 2) c.LocalMss

    if candidate - current >= max 1 threshold then
        c.RcvEdge <- candidate
    else
        c.RcvEdge <- current

    let field = min 65535 ((c.RcvEdge - c.RcvNxt) >>> c.RcvShift)
    // What the field says is the edge the peer will use (the shift rounds down), but an
    // edge advertised before stays: the peer may already have sent up to it.
    c.RcvEdge <- SeqNum.max current (c.RcvNxt + (field <<< c.RcvShift))
    uint16 field

/// A header from this connection with the given sequence number and flags.
let baseHeader (c: Connection) (seq: SeqNum) (flags: TcpFlags) =
    { Tcp.header c.LocalPort c.RemotePort with
        SequenceNumber = seq.Value
        Flags = flags
    }

/// Sends a synchronized segment: ACK set, the current window and options. Every such
/// segment acknowledges everything received, so a pending delayed ACK is done.
let send (c: Connection) (now: int64) (box: Outbox) (seq: SeqNum) (flags: TcpFlags) (payloadLength: int) =
    // Filled in place, not built as a record and copied (see `HeaderWriter`).
    let slot = &box.NextSegment()
    let h = &slot.Header

    HeaderWriter.writeFields
        &h
        c.LocalPort
        c.RemotePort
        seq.Value
        c.RcvNxt.Value
        (flags ||| TcpFlags.Ack)
        (advertiseWindow c)

    writeSegmentOptions &h c now
    slot.PayloadLength <- payloadLength

    c.LastAckSent <- c.RcvNxt
    c.UnackedSegments <- 0
    Timers.stop Timers.DelayedAck &c.Timers
    c.SegmentsSent <- c.SegmentsSent + 1L

/// A bare ACK of everything received. It carries the highest sequence number sent, not
/// SND.NXT, which goes back after a timeout: the peer has seen numbers up to there, and an
/// older one would fall outside its window and draw an ACK back.
let ack (c: Connection) (now: int64) (box: Outbox) = send c now box c.SndMax TcpFlags.None 0

/// The least time between one connection's answers to segments it will not take (Linux's
/// tcp_invalid_ratelimit).
let outOfWindowAckInterval = 500_000L

/// A challenge ACK (RFC 5961: for a reset or SYN in the window but not exact, or an ACK
/// too old to believe), at most one per connection per 500 ms and within the stack's
/// budget (RFC 5961 7), so forged segments cannot make us a flood of ACKs.
let challengeAck (c: Connection) (now: int64) (box: Outbox) =
    if
        now - c.LastOutOfWindowAck >= outOfWindowAckInterval
        && box.ChallengeAcksLeft > 0
    then
        c.LastOutOfWindowAck <- now
        box.ChallengeAcksLeft <- box.ChallengeAcksLeft - 1
        ack c now box

/// Our SYN (active open) or SYN-ACK (passive or simultaneous open), first or again.
let syn (c: Connection) (now: int64) (box: Outbox) =
    let o = c.Options
    c.SynSentAt <- now
    let shift = if o.WindowScaling then ValueSome c.RcvShift else ValueNone
    let isSynAck = c.State.IsSynReceived

    let timestamps =
        if o.Timestamps && (not isSynAck || c.TimestampsOn) then
            ValueSome(struct (tsClock c now, (if isSynAck then c.TsRecent else 0u)))
        else
            ValueNone

    let shift = if isSynAck && not c.ScalingOn then ValueNone else shift
    let sack = o.Sack && (not isSynAck || c.SackOn)
    // A SYN carries the unscaled window (RFC 7323 2.2).
    let window = uint16 (min 65535 (max 0 (c.RcvBuffer - c.RcvUnread)))

    let header =
        { baseHeader
              c
              c.Iss
              (if isSynAck then
                   TcpFlags.Syn ||| TcpFlags.Ack
               else
                   TcpFlags.Syn) with
            AcknowledgmentNumber = (if isSynAck then c.RcvNxt.Value else 0u)
            Window = window
            Options = synOptions c.LocalMss sack timestamps shift
        }

    if isSynAck then
        c.LastAckSent <- c.RcvNxt

    c.SegmentsSent <- c.SegmentsSent + 1L

    box.Send { Header = header; PayloadLength = 0 }

/// The reset RFC 9293 3.10.7.1 answers a segment with when nothing owns it (or it is
/// unacceptable in SYN-SENT): none for a reset.
let resetFor (h: TcpHeader) (payloadLength: int) : TcpHeader voption =
    if h.Has TcpFlags.Rst then
        ValueNone
    elif h.Has TcpFlags.Ack then
        ValueSome
            { Tcp.header h.DestinationPort h.SourcePort with
                SequenceNumber = h.AcknowledgmentNumber
                Flags = TcpFlags.Rst
            }
    else
        let length =
            payloadLength
            + (if h.Has TcpFlags.Syn then 1 else 0)
            + (if h.Has TcpFlags.Fin then 1 else 0)

        ValueSome
            { Tcp.header h.DestinationPort h.SourcePort with
                AcknowledgmentNumber = h.SequenceNumber + uint32 length
                Flags = TcpFlags.Rst ||| TcpFlags.Ack
            }
