/// HyStart++ (RFC 9406): slow start watches the smallest RTT of each round of ACKs. When
/// it grows clearly above the previous round's, a queue has started to build: instead of
/// doubling on until the queue overflows and drops a window's worth, the window grows at a
/// quarter of the rate (Conservative Slow Start) for up to five rounds, then slow start
/// ends. If the RTT falls back below where CSS began, the rise was noise and slow start
/// resumes. Used only in the initial slow start (the caller's choice).
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.HyStart

/// RTT samples a round needs before it is compared (N_RTT_SAMPLE).
[<Literal>]
val SamplesPerRound: int = 8

/// Rounds of Conservative Slow Start before slow start ends (CSS_ROUNDS).
[<Literal>]
val CssRounds: int = 5

/// In CSS the window grows by a quarter of what slow start would add (CSS_GROWTH_DIVISOR).
[<Literal>]
val CssGrowthDivisor: int = 4

[<NoComparison; Struct>]
type State =
    {

        /// The round ends when this sequence number is acknowledged.
        RoundEnd: Stack.Core.Tcp.SeqNum
        LastRoundMinRtt: int64
        CurrentRoundMinRtt: int64
        Samples: int

        /// The round's minimum RTT when CSS began (cssBaselineMinRtt); NoRtt outside CSS.
        CssBaseline: int64

        /// Rounds completed in CSS.
        CssRoundsDone: int
    }

    /// In Conservative Slow Start: the window grows at a quarter of the rate.
    member Conservative: bool

/// What a sample says.
[<RequireQualifiedAccess; Struct>]
type Verdict =

    /// Go on as before (slow start, or CSS while in it).
    | Continue

    /// CSS has run its rounds: slow start ends at the current window.
    | Exit

val create: sndNxt: Stack.Core.Tcp.SeqNum -> State

/// One RTT sample in slow start, from an ACK of `ack` when SND.NXT is `sndNxt`
/// (RFC 9406 4.2 and 4.3).
val onSample:
    rtt: int64 -> ack: Stack.Core.Tcp.SeqNum -> sndNxt: Stack.Core.Tcp.SeqNum -> s: State -> struct (Verdict * State)
