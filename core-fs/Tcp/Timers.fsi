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

val kinds: Kind list

[<Literal>]
val internal Unset: int64 = 9223372036854775807L

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
val empty: Table

/// The deadline of one timer, if it is set.
val get: kind: Kind -> t: Table -> int64 voption

/// The table with `kind` due at `deadline`.
val set: kind: Kind -> deadline: int64 -> t: Table -> Table

/// The table with `kind` off.
val clear: kind: Kind -> t: Table -> Table

/// `set` on a table the engine keeps in a connection's field, changed in place: inlined,
/// so where the kind is known only its one deadline is stored (timers are restarted on
/// most segments).
val inline internal put: kind: Kind -> deadline: int64 -> t: byref<Table> -> unit

/// `clear` in place (see `put`).
val inline internal stop: kind: Kind -> t: byref<Table> -> unit

/// Whether `kind` is set, read in place (see `put`).
val inline internal isSet: kind: Kind -> t: inref<Table> -> bool

/// The earliest deadline of any timer, if one is set.
/// The earliest deadline set, or `Unset` (Int64.MaxValue) when none is.
val earliest: t: Table -> int64

val next: t: Table -> int64 voption

/// The earliest timer due at `now`, leaving out the kinds whose bits are in `handled`
/// (a set of kinds as `withKind` builds it), so each runs at most once per call.
val earliestDue: now: int64 -> handled: int -> t: Table -> Kind voption

/// `handled` with `kind` added.
val withKind: kind: Kind -> handled: int -> int

/// The timers due at `now`, earliest first.
val expired: now: int64 -> t: Table -> Kind list
