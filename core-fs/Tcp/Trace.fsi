/// A trace of a run in the Chrome trace-event format (JSON), which Perfetto
/// (ui.perfetto.dev) and chrome://tracing open: per connection, counter tracks for the
/// congestion window, slow-start threshold, bytes in flight, RFC 6675's pipe, the peer's
/// window and ours, the smoothed RTT, the RTO, retransmissions and each RTT sample, and
/// instant events for state changes, recovery episodes, timeouts, loss probes, undone
/// reductions, timers armed, fired and stopped, and the engine's notes (segments judged
/// lost and why, D-SACKs). A driver (the simulator, the shell's stack thread) records a
/// connection after each step that touched it; a counter is written only when its value
/// changed. Times are microseconds of the driver's clock (virtual in the simulator). The
/// driver decides when to write the text out: the core does no I/O.
module Stack.Core.Tcp.Trace

/// What a connection looked like after a step.
[<Struct>]
type Sample =
    {
        Cwnd: int

        /// Int32.MaxValue until the first loss.
        Ssthresh: int
        Flight: int
        Pipe: int
        PeerWindow: int

        /// Microseconds; 0 before the first RTT sample.
        Srtt: int64
        Rto: int64
        State: Stack.Core.Tcp.State
        Timeouts: int64
        LossProbes: int64
        Undone: int64

        /// Bytes we offer the peer.
        OurWindow: int
        Retransmissions: int64

        /// 0 open, 1 fast recovery, 2 recovery after a timeout.
        Recovery: int
        Timers: Stack.Core.Tcp.Timers.Table
    }

val sample: c: Stack.Core.Tcp.Connection -> Sample

/// Collects samples and events of named connections (tracks) and writes the JSON.
type Recorder =

    new: unit -> Recorder

    /// The connection `track` after a step at `time`: counters that changed, and an event
    /// for a new state, a recovery episode, a timer, or another timeout, loss probe or
    /// undone reduction.
    member Add: time: int64 * track: string * s: Sample -> unit

    /// An event of the run as a whole (a drop on the link, say) on the track `track`.
    member Event: time: int64 * track: string * name: string -> unit

    /// `Add` for the connection `c`, and its notes (`ConnectionOptions.Trace`), which
    /// are then cleared: RTT samples on their own counter track, losses and D-SACKs as
    /// events, each at its own time.
    member Record: time: int64 * track: string * c: Stack.Core.Tcp.Connection -> unit

    /// Something that took `duration` microseconds from `time` on the track `track` (a
    /// complete event: a batch of packets read, a wait for the device).
    member Span: time: int64 * duration: int64 * track: string * name: string -> unit

    /// The trace as Chrome trace-event JSON.
    member ToJson: processName: string -> string

    /// Events written so far.
    member Count: int
