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
let SamplesPerRound = 8

/// Rounds of Conservative Slow Start before slow start ends (CSS_ROUNDS).
[<Literal>]
let CssRounds = 5

/// In CSS the window grows by a quarter of what slow start would add (CSS_GROWTH_DIVISOR).
[<Literal>]
let CssGrowthDivisor = 4

[<Literal>]
let private NoRtt = System.Int64.MaxValue

[<Struct>]
type State =
    {
        /// The round ends when this sequence number is acknowledged.
        RoundEnd: SeqNum
        LastRoundMinRtt: int64
        CurrentRoundMinRtt: int64
        Samples: int
        /// The round's minimum RTT when CSS began (cssBaselineMinRtt); NoRtt outside CSS.
        CssBaseline: int64
        /// Rounds completed in CSS.
        CssRoundsDone: int
    }

    /// In Conservative Slow Start: the window grows at a quarter of the rate.
    member s.Conservative = s.CssBaseline <> NoRtt

/// What a sample says.
[<RequireQualifiedAccess; Struct>]
type Verdict =
    /// Go on as before (slow start, or CSS while in it).
    | Continue
    /// CSS has run its rounds: slow start ends at the current window.
    | Exit

let create (sndNxt: SeqNum) =
    {
        RoundEnd = sndNxt
        LastRoundMinRtt = NoRtt
        CurrentRoundMinRtt = NoRtt
        Samples = 0
        CssBaseline = NoRtt
        CssRoundsDone = 0
    }

/// The test's threshold: an eighth of the last round's RTT, within 4 and 16 ms.
let private threshold (lastRoundMinRtt: int64) =
    max 4_000L (min 16_000L (lastRoundMinRtt / 8L))

/// One RTT sample in slow start, from an ACK of `ack` when SND.NXT is `sndNxt`
/// (RFC 9406 4.2 and 4.3).
let onSample (rtt: int64) (ack: SeqNum) (sndNxt: SeqNum) (s: State) : struct (Verdict * State) =
    let newRound = SeqNum.ge ack s.RoundEnd

    let s =
        if newRound then
            {
                RoundEnd = sndNxt
                LastRoundMinRtt = s.CurrentRoundMinRtt
                CurrentRoundMinRtt = NoRtt
                Samples = 0
                CssBaseline = s.CssBaseline
                CssRoundsDone = if s.Conservative then s.CssRoundsDone + 1 else 0
            }
        else
            s

    let s =
        { s with
            CurrentRoundMinRtt = min s.CurrentRoundMinRtt rtt
            Samples = s.Samples + 1
        }

    if s.Conservative && s.CssRoundsDone >= CssRounds then
        struct (Verdict.Exit, s)
    elif s.Samples < SamplesPerRound then
        struct (Verdict.Continue, s)
    elif s.Conservative then
        // The RTT fell back below where CSS began: the rise was noise.
        if s.CurrentRoundMinRtt < s.CssBaseline then
            struct (Verdict.Continue,
                    { s with
                        CssBaseline = NoRtt
                        CssRoundsDone = 0
                    })
        else
            struct (Verdict.Continue, s)
    elif
        s.LastRoundMinRtt <> NoRtt
        && s.CurrentRoundMinRtt >= s.LastRoundMinRtt + threshold s.LastRoundMinRtt
    then
        struct (Verdict.Continue,
                { s with
                    CssBaseline = s.CurrentRoundMinRtt
                    CssRoundsDone = 0
                })
    else
        struct (Verdict.Continue, s)
