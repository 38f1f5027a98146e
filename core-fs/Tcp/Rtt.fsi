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
val defaults: Options

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

val create: options: Options -> Estimator

/// The timeout to arm now: the base timeout doubled once per backoff, within the bounds.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val rto: e: Estimator -> int64

/// Learns from one round-trip measurement (RFC 6298 2.2 and 2.3, alpha 1/8, beta 1/4,
/// K 4, clock granularity 1 microsecond). A new sample ends any backoff.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val sample: measured: int64 -> e: Estimator -> Estimator

/// The timer expired: the next timeout is twice as long (RFC 6298 5.5).
val backoff: e: Estimator -> Estimator

/// New data was acknowledged: the timeout returns to its base value.
val endBackoff: e: Estimator -> Estimator
