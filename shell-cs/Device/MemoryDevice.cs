using System.Diagnostics.CodeAnalysis;
using System.Collections.Concurrent;

namespace Stack.Shell.Device;

/// <summary>
/// One end of an in-memory link: what one end writes, the other reads. Two stacks joined
/// back to back, or a stack and a test that plays the peer with crafted packets.
/// </summary>
public sealed class MemoryDevice : IPacketDevice
{
    private readonly ConcurrentQueue<byte[]> _inbox = new();
    private readonly ManualResetEventSlim _signal = new(false);
    private MemoryDevice? _peer;
    private int _disposed;

    private MemoryDevice(int mtu) => Mtu = mtu;

    /// <summary>Two devices joined to each other.</summary>
    public static (MemoryDevice A, MemoryDevice B) CreatePair(int mtu = 1500)
    {
        var a = new MemoryDevice(mtu);
        var b = new MemoryDevice(mtu);
        a._peer = b;
        b._peer = a;
        return (a, b);
    }

    /// <inheritdoc/>
    public int Mtu { get; }

    /// <summary>Packets written to this end and not yet read by the other.</summary>
    public int Pending => _peer?._inbox.Count ?? 0;

    /// <inheritdoc/>
    public int TryRead(Span<byte> buffer)
    {
        if (!_inbox.TryDequeue(out var packet))
        {
            return 0;
        }

        // A packet larger than the buffer is cut, as a read from a TUN device would be.
        var length = Math.Min(packet.Length, buffer.Length);
        packet.AsSpan(0, length).CopyTo(buffer);
        return length;
    }

    /// <summary>Takes the next packet written by the other end, for a test playing a peer.</summary>
    public bool TryTake([MaybeNullWhen(false)] out byte[] packet) => _inbox.TryDequeue(out packet);

    /// <summary>Waits up to <paramref name="timeout"/> for a packet from the other end.</summary>
    public byte[]? Take(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_inbox.TryDequeue(out var packet))
            {
                return packet;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                return null;
            }

            _signal.Wait(left < TimeSpan.FromMilliseconds(50) ? left : TimeSpan.FromMilliseconds(50));
            _signal.Reset();
        }
    }

    /// <inheritdoc/>
    public void Write(ReadOnlySpan<byte> packet)
    {
        var peer = _peer;
        if (peer is null || Volatile.Read(ref peer._disposed) != 0)
        {
            return;
        }

        peer._inbox.Enqueue(packet.ToArray());
        peer._signal.Set();
    }

    /// <inheritdoc/>
    public void Wait(long timeoutMicros)
    {
        if (_inbox.IsEmpty)
        {
            var ms = timeoutMicros < 0 ? -1 : (int)Math.Min(int.MaxValue, (timeoutMicros + 999) / 1000);
            _signal.Wait(ms);
        }

        // Reset before the caller drains: anything that arrives later sets it again.
        _signal.Reset();
    }

    /// <inheritdoc/>
    public void Wake() => _signal.Set();

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _signal.Set();
        }
    }
}
