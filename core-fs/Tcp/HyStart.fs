/// HyStart++ (RFC 9406), the delay test only: slow start ends when the smallest RTT of a
/// round of ACKs has grown clearly above the previous round's, that is when a queue has
/// started to build, instead of when the queue overflows and drops a window's worth.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.HyStart

/// RTT samples a round needs before it is compared (N_RTT_SAMPLE).
[<Literal>]
let SamplesPerRound = 8

[<Struct>]
type State =
    {
        /// The round ends when this sequence number is acknowledged.
        RoundEnd: SeqNum
        LastRoundMinRtt: int64
        CurrentRoundMinRtt: int64
        Samples: int
    }

let create (sndNxt: SeqNum) =
    {
        RoundEnd = sndNxt
        LastRoundMinRtt = System.Int64.MaxValue
        CurrentRoundMinRtt = System.Int64.MaxValue
        Samples = 0
    }

/// The test's threshold: an eighth of the last round's RTT, within 4 and 16 ms.
let private threshold (lastRoundMinRtt: int64) =
    max 4_000L (min 16_000L (lastRoundMinRtt / 8L))

/// One RTT sample in slow start, from an ACK of `ack` when SND.NXT is `sndNxt`. True
/// when slow start should end.
[<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)>]
let onSample (rtt: int64) (ack: SeqNum) (sndNxt: SeqNum) (s: State) : struct (bool * State) =
    let s =
        if SeqNum.ge ack s.RoundEnd then
            {
                RoundEnd = sndNxt
                LastRoundMinRtt = s.CurrentRoundMinRtt
                CurrentRoundMinRtt = System.Int64.MaxValue
                Samples = 0
            }
        else
            s

    let s =
        { s with
            CurrentRoundMinRtt = min s.CurrentRoundMinRtt rtt
            Samples = s.Samples + 1
        }

    let exit =
        s.Samples >= SamplesPerRound
        && s.LastRoundMinRtt <> System.Int64.MaxValue
        && s.CurrentRoundMinRtt >= s.LastRoundMinRtt + threshold s.LastRoundMinRtt

    struct (exit, s)
