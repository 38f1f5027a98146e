using Stack.Core.Host;

namespace Stack.Shell;

/// <summary>
/// Keepalive probing (RFC 9293 3.8.4): after <paramref name="Idle"/> without hearing from
/// the peer, a probe every <paramref name="Interval"/>; <paramref name="Count"/> unanswered
/// probes end the connection with <c>TimedOut</c> (Linux: TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT).
/// </summary>
public sealed record TcpKeepalive(TimeSpan Idle, TimeSpan Interval, int Count)
{
    /// <summary>Linux's defaults: two hours idle, then nine probes 75 s apart.</summary>
    public static TcpKeepalive Default { get; } = new(TimeSpan.FromHours(2), TimeSpan.FromSeconds(75), 9);

    /// <summary>Throws an <see cref="ArgumentException"/> unless the times are positive and there is a probe.</summary>
    internal void Validate(string name)
    {
        if (Idle <= TimeSpan.Zero || Interval <= TimeSpan.Zero || Count < 1)
        {
            throw new ArgumentOutOfRangeException(name, $"keepalive needs a positive idle time and interval and at least one probe, not {this}");
        }
    }

    /// <summary>The core's command that sets these probes on a connection.</summary>
    internal Core.Tcp.Command ToCommand()
    {
        Validate(nameof(TcpStackConnection.Keepalive));
        return Configure.keepaliveOn(TcpProtocolOptions.Micros(Idle), TcpProtocolOptions.Micros(Interval), Count);
    }
}
