/// The retransmission timer's arithmetic (RFC 6298): a smoothed round-trip time, its
/// variation, and the timeout they give, with exponential backoff. Times are microseconds.
/// Which segments may be timed (Karn's algorithm: none that was retransmitted) is the
/// sender's business; this only learns from the samples it is given.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Rtt

/// Bounds of the retransmission timeout.
type Options =
    {
        /// Before any sample (RFC 6298 2.1 says 1 s).
        InitialRto: int64
        /// The floor (RFC 6298 2.4 says 1 s; Linux uses 200 ms).
        MinRto: int64
        /// The ceiling (RFC 6298 2.5: at least 60 s).
        MaxRto: int64
    }

/// Linux's choices: 1 s before a sample, 200 ms floor, 120 s ceiling.
let defaults =
    {
        InitialRto = 1_000_000L
        MinRto = 200_000L
        MaxRto = 120_000_000L
    }

/// A value with no references in it, so that storing it in a connection is a plain copy.
[<Struct>]
type Estimator =
    {
        /// The bounds of `Options` (the record itself would be a reference to copy).
        MinRto: int64
        MaxRto: int64
        /// None until the first sample.
        Srtt: int64 voption
        RttVar: int64
        /// The timeout from the last sample, before backoff.
        BaseRto: int64
        /// Timeouts since the last sample: each doubles the timeout (RFC 6298 5.5).
        Backoffs: int
    }

let private clamp (e: Estimator) (rto: int64) = max e.MinRto (min e.MaxRto rto)

let create (options: Options) =
    let unclamped =
        {
            MinRto = options.MinRto
            MaxRto = options.MaxRto
            Srtt = ValueNone
            RttVar = 0L
            BaseRto = options.InitialRto
            Backoffs = 0
        }

    { unclamped with
        BaseRto = clamp unclamped options.InitialRto
    }

/// The timeout to arm now: the base timeout doubled once per backoff, within the bounds.
[<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)>]
let rto (e: Estimator) =
    let mutable r = e.BaseRto
    let mutable i = 0

    while i < e.Backoffs && r < e.MaxRto do
        r <- r * 2L
        i <- i + 1

    clamp e r

/// Learns from one round-trip measurement (RFC 6298 2.2 and 2.3, alpha 1/8, beta 1/4,
/// K 4, clock granularity 1 microsecond). A new sample ends any backoff.
[<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)>]
let sample (measured: int64) (e: Estimator) =
    let r = max 1L measured

    let srtt, rttVar =
        match e.Srtt with
        | ValueNone -> r, r / 2L
        | ValueSome srtt -> srtt + (r - srtt) / 8L, e.RttVar + (abs (srtt - r) - e.RttVar) / 4L

    { e with
        Srtt = ValueSome srtt
        RttVar = rttVar
        BaseRto = clamp e (srtt + max 1L (4L * rttVar))
        Backoffs = 0
    }

/// The timer expired: the next timeout is twice as long (RFC 6298 5.5).
let backoff (e: Estimator) = { e with Backoffs = e.Backoffs + 1 }

/// New data was acknowledged: the timeout returns to its base value.
let endBackoff (e: Estimator) =
    if e.Backoffs = 0 then e else { e with Backoffs = 0 }
