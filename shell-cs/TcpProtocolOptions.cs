using Stack.Core.Host;

namespace Stack.Shell;

/// <summary>Which congestion controller a connection's sender runs.</summary>
public enum TcpCongestionControl
{
    /// <summary>CUBIC (RFC 9438) with HyStart++ (RFC 9406), as Linux by default.</summary>
    Cubic,

    /// <summary>NewReno (RFC 5681, RFC 6582).</summary>
    NewReno,
}

/// <summary>How a sender with selective acknowledgments decides a segment was lost.</summary>
public enum TcpLossDetection
{
    /// <summary>RACK-TLP (RFC 8985): by time, with tail loss probes, as Linux by default.</summary>
    Rack,

    /// <summary>RFC 6675: three segments' worth acknowledged above a hole.</summary>
    DuplicateThreshold,
}

/// <summary>
/// The TCP protocol's tunables, for every connection of a stack. The defaults are Linux's
/// (its sysctl names are given where it has one); a test checks they are the core's.
/// </summary>
public sealed record TcpProtocolOptions
{
    /// <summary>Offer window scaling (RFC 7323; tcp_window_scaling).</summary>
    public bool WindowScaling { get; init; } = true;

    /// <summary>Offer timestamps (RFC 7323; tcp_timestamps).</summary>
    public bool Timestamps { get; init; } = true;

    /// <summary>Offer selective acknowledgments (RFC 2018; tcp_sack).</summary>
    public bool SelectiveAcknowledgments { get; init; } = true;

    /// <summary>The congestion controller (tcp_congestion_control).</summary>
    public TcpCongestionControl CongestionControl { get; init; } = TcpCongestionControl.Cubic;

    /// <summary>The loss detector when selective acknowledgments are on (tcp_recovery).</summary>
    public TcpLossDetection LossDetection { get; init; } = TcpLossDetection.Rack;

    /// <summary>How long an ACK may wait for more data to ride on (RFC 9293 asks under 500 ms).</summary>
    public TimeSpan DelayedAck { get; init; } = TimeSpan.FromMilliseconds(40);

    /// <summary>How long a connection stays in TIME-WAIT (twice the maximum segment lifetime).</summary>
    public TimeSpan TimeWait { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long a closed connection waits in FIN-WAIT-2 for a silent peer's FIN
    /// (tcp_fin_timeout); <see cref="Timeout.InfiniteTimeSpan"/> waits for ever. A
    /// half-closed connection that still reads always waits.
    /// </summary>
    public TimeSpan FinWait2Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The retransmission timeout before any round-trip sample (RFC 6298: 1 s).</summary>
    public TimeSpan InitialRetransmitTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The retransmission timeout's floor (Linux: 200 ms).</summary>
    public TimeSpan MinRetransmitTimeout { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The retransmission timeout's ceiling (Linux: 120 s).</summary>
    public TimeSpan MaxRetransmitTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Retransmissions of data before the connection fails with TimedOut (tcp_retries2).</summary>
    public int MaxRetries { get; init; } = 15;

    /// <summary>Retransmissions of a SYN before a connect fails with TimedOut (tcp_syn_retries).</summary>
    public int MaxSynRetries { get; init; } = 6;

    /// <summary>Retransmissions of a SYN-ACK before a half-open connection is dropped (tcp_synack_retries).</summary>
    public int MaxSynAckRetries { get; init; } = 5;

    /// <summary>Half-open connections per listener (tcp_max_syn_backlog).</summary>
    public int SynBacklog { get; init; } = 256;

    /// <summary>Answer SYNs with SYN cookies (RFC 4987) when a listener's SYN queue is full (tcp_syncookies).</summary>
    public bool SynCookies { get; init; } = true;

    /// <summary>Connections the stack holds at most, in any state: beyond it SYNs are dropped and connects fail.</summary>
    public int MaxConnections { get; init; } = 1_000_000;

    /// <summary>Answer ICMP echo requests (ping).</summary>
    public bool AnswerPings { get; init; } = true;

    /// <summary>Keepalive for every connection from the start; null (the default) leaves it off, as Linux does.</summary>
    public TcpKeepalive? Keepalive { get; init; }

    /// <summary>Throws an <see cref="ArgumentException"/> that names the first setting out of range.</summary>
    internal void Validate(string name)
    {
        void Require(bool ok, string setting, string rule, object value)
        {
            if (!ok)
            {
                throw new ArgumentException($"{name}.{setting} must be {rule}, not {value}", name);
            }
        }

        Require(DelayedAck >= TimeSpan.Zero && DelayedAck < TimeSpan.FromMilliseconds(500), nameof(DelayedAck), "from 0 to under 500 ms (RFC 9293)", DelayedAck);
        Require(TimeWait >= TimeSpan.Zero, nameof(TimeWait), "zero or more", TimeWait);
        Require(FinWait2Timeout > TimeSpan.Zero || FinWait2Timeout == Timeout.InfiniteTimeSpan, nameof(FinWait2Timeout), "positive or Timeout.InfiniteTimeSpan", FinWait2Timeout);
        Require(MinRetransmitTimeout >= TimeSpan.FromMilliseconds(1), nameof(MinRetransmitTimeout), "at least 1 ms", MinRetransmitTimeout);
        Require(MaxRetransmitTimeout >= MinRetransmitTimeout, nameof(MaxRetransmitTimeout), $"at least {nameof(MinRetransmitTimeout)} ({MinRetransmitTimeout})", MaxRetransmitTimeout);
        Require(InitialRetransmitTimeout >= MinRetransmitTimeout && InitialRetransmitTimeout <= MaxRetransmitTimeout, nameof(InitialRetransmitTimeout), "within the minimum and maximum", InitialRetransmitTimeout);
        Require(MaxRetries >= 1, nameof(MaxRetries), "at least 1", MaxRetries);
        Require(MaxSynRetries >= 0, nameof(MaxSynRetries), "zero or more", MaxSynRetries);
        Require(MaxSynAckRetries >= 0, nameof(MaxSynAckRetries), "zero or more", MaxSynAckRetries);
        Require(SynBacklog >= 1, nameof(SynBacklog), "at least 1", SynBacklog);
        Require(MaxConnections >= 1, nameof(MaxConnections), "at least 1", MaxConnections);
        Keepalive?.Validate($"{name}.{nameof(Keepalive)}");
    }

    /// <summary>These settings applied to the core's host options.</summary>
    internal HostOptions ApplyTo(HostOptions host)
    {
        var configured = Configure.withProtocol(
            windowScaling: WindowScaling,
            timestamps: Timestamps,
            selectiveAcknowledgments: SelectiveAcknowledgments,
            newReno: CongestionControl == TcpCongestionControl.NewReno,
            duplicateThreshold: LossDetection == TcpLossDetection.DuplicateThreshold,
            delayedAckMicros: Micros(DelayedAck),
            timeWaitMicros: Micros(TimeWait),
            finWait2TimeoutMicros: FinWait2Timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Micros(FinWait2Timeout),
            initialRtoMicros: Micros(InitialRetransmitTimeout),
            minRtoMicros: Micros(MinRetransmitTimeout),
            maxRtoMicros: Micros(MaxRetransmitTimeout),
            maxRetries: MaxRetries,
            maxSynRetries: MaxSynRetries,
            maxSynAckRetries: MaxSynAckRetries,
            synBacklog: SynBacklog,
            synCookies: SynCookies,
            maxConnections: MaxConnections,
            answerPings: AnswerPings,
            options: host);
        return Keepalive is { } k
            ? Configure.withKeepalive(Micros(k.Idle), Micros(k.Interval), k.Count, configured)
            : configured;
    }

    internal static long Micros(TimeSpan t) => t.Ticks / (TimeSpan.TicksPerMillisecond / 1000);
}
