namespace Stack.Shell.Device;

/// <summary>
/// Where a stack's IPv4 packets come from and go to: a TUN device, or an in-memory link
/// for tests. Reads and writes happen on the stack thread only; <see cref="Wake"/> may be
/// called from any thread.
/// </summary>
public interface IPacketDevice : IDisposable
{
    /// <summary>The largest packet the device carries.</summary>
    int Mtu { get; }

    /// <summary>Reads one packet into <paramref name="buffer"/> without blocking.</summary>
    /// <returns>The packet's length, or 0 when none is waiting.</returns>
    int TryRead(Span<byte> buffer);

    /// <summary>Sends one whole packet. A full device drops it, as a wire would.</summary>
    void Write(ReadOnlySpan<byte> packet);

    /// <summary>
    /// Blocks until a packet may be readable, <see cref="Wake"/> was called, or
    /// <paramref name="timeoutMicros"/> passed (negative: no limit).
    /// </summary>
    void Wait(long timeoutMicros);

    /// <summary>Makes the current or next <see cref="Wait"/> return at once.</summary>
    void Wake();
}
