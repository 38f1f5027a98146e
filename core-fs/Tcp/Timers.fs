/// The connection's timers as data (after quinn-proto's timer table): a deadline per kind,
/// set and cleared by the transition functions, the earliest one reported as the
/// connection's next deadline. Nothing fires by itself: the caller passes the time in.
/// A value of seven numbers, so restarting a timer on every segment allocates nothing.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Timers

/// The timers a TCP connection runs.
type Kind =
    /// Retransmission of unacknowledged data, SYN or FIN (RFC 6298).
    | Retransmit
    /// The delayed ACK (RFC 9293 3.8.6.3).
    | DelayedAck
    /// Zero-window probing (RFC 9293 3.8.6.1).
    | Persist
    /// Keepalive probes (RFC 9293 3.8.4).
    | Keepalive
    /// The end of TIME-WAIT, 2 MSL after it began.
    | TimeWait
    /// RACK's reordering timer: a segment becomes lost if nothing arrives by then
    /// (RFC 8985 6.3).
    | Reorder
    /// The tail loss probe (RFC 8985 7).
    | LossProbe

let kinds =
    [ Retransmit; DelayedAck; Persist; Keepalive; TimeWait; Reorder; LossProbe ]

[<Literal>]
let internal Unset = System.Int64.MaxValue

/// A deadline per kind in microseconds; `Unset` (Int64.MaxValue) when off.
[<Struct>]
type Table =
    internal
        {
            mutable Retransmit: int64
            mutable DelayedAck: int64
            mutable Persist: int64
            mutable Keepalive: int64
            mutable TimeWait: int64
            mutable Reorder: int64
            mutable LossProbe: int64
        }

/// No timer set.
let empty =
    {
        Retransmit = Unset
        DelayedAck = Unset
        Persist = Unset
        Keepalive = Unset
        TimeWait = Unset
        Reorder = Unset
        LossProbe = Unset
    }

let private raw (kind: Kind) (t: Table) =
    match kind with
    | Retransmit -> t.Retransmit
    | DelayedAck -> t.DelayedAck
    | Persist -> t.Persist
    | Keepalive -> t.Keepalive
    | TimeWait -> t.TimeWait
    | Reorder -> t.Reorder
    | LossProbe -> t.LossProbe

/// The deadline of one timer, if it is set.
let get (kind: Kind) (t: Table) =
    let d = raw kind t
    if d = Unset then ValueNone else ValueSome d

/// The table with `kind` due at `deadline`.
let set (kind: Kind) (deadline: int64) (t: Table) =
    match kind with
    | Retransmit -> { t with Retransmit = deadline }
    | DelayedAck -> { t with DelayedAck = deadline }
    | Persist -> { t with Persist = deadline }
    | Keepalive -> { t with Keepalive = deadline }
    | TimeWait -> { t with TimeWait = deadline }
    | Reorder -> { t with Reorder = deadline }
    | LossProbe -> { t with LossProbe = deadline }

/// The table with `kind` off.
let clear (kind: Kind) (t: Table) = set kind Unset t

/// `set` on a table the engine keeps in a connection's field, changed in place: inlined,
/// so where the kind is known only its one deadline is stored (timers are restarted on
/// most segments).
let inline internal put (kind: Kind) (deadline: int64) (t: byref<Table>) =
    match kind with
    | Retransmit -> t.Retransmit <- deadline
    | DelayedAck -> t.DelayedAck <- deadline
    | Persist -> t.Persist <- deadline
    | Keepalive -> t.Keepalive <- deadline
    | TimeWait -> t.TimeWait <- deadline
    | Reorder -> t.Reorder <- deadline
    | LossProbe -> t.LossProbe <- deadline

/// `clear` in place (see `put`).
let inline internal stop (kind: Kind) (t: byref<Table>) = put kind Unset &t

/// Whether `kind` is set, read in place (see `put`).
let inline internal isSet (kind: Kind) (t: inref<Table>) =
    match kind with
    | Retransmit -> t.Retransmit <> Unset
    | DelayedAck -> t.DelayedAck <> Unset
    | Persist -> t.Persist <> Unset
    | Keepalive -> t.Keepalive <> Unset
    | TimeWait -> t.TimeWait <> Unset
    | Reorder -> t.Reorder <> Unset
    | LossProbe -> t.LossProbe <> Unset

/// The earliest deadline of any timer, if one is set.
/// The earliest deadline set, or `Unset` (Int64.MaxValue) when none is.
let earliest (t: Table) =
    min (min t.Retransmit (min t.DelayedAck (min t.Persist (min t.Keepalive t.TimeWait)))) (min t.Reorder t.LossProbe)

let next (t: Table) =
    let d = earliest t
    if d = Unset then ValueNone else ValueSome d

let private bit (kind: Kind) =
    match kind with
    | Retransmit -> 1
    | DelayedAck -> 2
    | Persist -> 4
    | Keepalive -> 8
    | TimeWait -> 16
    | Reorder -> 32
    | LossProbe -> 64

/// The earliest timer due at `now`, leaving out the kinds whose bits are in `handled`
/// (a set of kinds as `withKind` builds it), so each runs at most once per call.
let earliestDue (now: int64) (handled: int) (t: Table) : Kind voption =
    let mutable best = ValueNone
    let mutable bestAt = Unset

    for k in kinds do
        let d = raw k t

        if d <> Unset && d <= now && d < bestAt && handled &&& bit k = 0 then
            best <- ValueSome k
            bestAt <- d

    best

/// `handled` with `kind` added.
let withKind (kind: Kind) (handled: int) = handled ||| bit kind

/// The timers due at `now`, earliest first.
let expired (now: int64) (t: Table) : Kind list =
    kinds
    |> List.filter (fun k -> raw k t <> Unset && raw k t <= now)
    |> List.sortBy (fun k -> raw k t)
