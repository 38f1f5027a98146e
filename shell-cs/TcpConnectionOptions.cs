namespace Stack.Shell;

/// <summary>
/// One connection's own settings, where they differ from the stack's (as SO_SNDBUF and
/// SO_RCVBUF set on a socket before it connects or listens). Null keeps the stack's value.
/// </summary>
public sealed record TcpConnectionOptions
{
    /// <summary>Bytes the send buffer holds (a power of two from 4096 to 2^30).</summary>
    public int? SendBufferSize { get; init; }

    /// <summary>Bytes the receive buffer may grow to, the largest window offered (a power of two from 4096 to 2^30).</summary>
    public int? ReceiveBufferSize { get; init; }

    /// <summary>Throws an <see cref="ArgumentException"/> that names a size out of range.</summary>
    internal void Validate(string name)
    {
        foreach (var (setting, size) in new[] { (nameof(SendBufferSize), SendBufferSize), (nameof(ReceiveBufferSize), ReceiveBufferSize) })
        {
            if (size is { } bytes && (bytes < 4096 || (bytes & (bytes - 1)) != 0 || bytes > 1 << 30))
            {
                throw new ArgumentException($"{name}.{setting} must be a power of two from 4096 to 2^30, not {bytes}", name);
            }
        }
    }
}
