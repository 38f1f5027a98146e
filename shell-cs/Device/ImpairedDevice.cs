using System.Buffers;
using System.Diagnostics;
using Stack.Core;

namespace Stack.Shell.Device;

/// <summary>
/// Puts the core's impairment model (loss, duplication, delay with jitter, reordering,
/// corruption, rate) between a stack and its device, in each direction, with its own
/// seeded generator: the same faults the simulator makes, on real packets. Packets wait
/// in a queue ordered by delivery time; <see cref="Wait"/> wakes for the next one due.
/// </summary>
public sealed class ImpairedDevice : IPacketDevice
{
    private readonly IPacketDevice _inner;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly PriorityQueue<Held, (long At, long Order)> _inbound = new();
    private readonly PriorityQueue<Held, (long At, long Order)> _outbound = new();
    private readonly byte[] _scratch = new byte[65536];
    private Impair.Link _in;
    private Impair.Link _out;
    private long _order;

    /// <summary>
    /// Impairs packets read from <paramref name="inner"/> as <paramref name="inbound"/> says
    /// and packets written to it as <paramref name="outbound"/> says (null: not at all),
    /// with generators seeded from <paramref name="seed"/>.
    /// </summary>
    public ImpairedDevice(IPacketDevice inner, LinkImpairment? inbound, LinkImpairment? outbound, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(inner);
        inbound?.Validate(nameof(inbound));
        outbound?.Validate(nameof(outbound));
        _inner = inner;
        _in = Impair.create(inbound?.ToCore() ?? Impair.none, seed);
        _out = Impair.create(outbound?.ToCore() ?? Impair.none, seed ^ 0x5DEECE66DUL);
    }

    /// <summary>Packets the model dropped, by direction.</summary>
    public long DroppedIn { get; private set; }

    /// <inheritdoc cref="DroppedIn"/>
    public long DroppedOut { get; private set; }

    /// <summary>The device underneath.</summary>
    public IPacketDevice Inner => _inner;

    /// <inheritdoc/>
    public int Mtu => _inner.Mtu;

    private long Now => _clock.ElapsedTicks * 1_000_000L / Stopwatch.Frequency;

    /// <inheritdoc/>
    public int TryRead(Span<byte> buffer)
    {
        int n;
        while ((n = _inner.TryRead(_scratch)) > 0)
        {
            _in = Offer(_in, _scratch.AsSpan(0, n), _inbound, out var dropped);
            DroppedIn += dropped ? 1 : 0;
        }

        FlushOutbound();
        if (_inbound.TryPeek(out var packet, out var due) && due.At <= Now)
        {
            _inbound.Dequeue();
            var length = Math.Min(packet.Length, buffer.Length);
            packet.Bytes.AsSpan(0, length).CopyTo(buffer);
            ArrayPool<byte>.Shared.Return(packet.Bytes);
            return length;
        }

        return 0;
    }

    /// <inheritdoc/>
    public void Write(ReadOnlySpan<byte> packet)
    {
        _out = Offer(_out, packet, _outbound, out var dropped);
        DroppedOut += dropped ? 1 : 0;
        FlushOutbound();
    }

    /// <inheritdoc/>
    public void Wait(long timeoutMicros)
    {
        FlushOutbound();
        var next = long.MaxValue;
        if (_inbound.TryPeek(out _, out var i))
        {
            next = i.At;
        }

        if (_outbound.TryPeek(out _, out var o))
        {
            next = Math.Min(next, o.At);
        }

        if (next != long.MaxValue)
        {
            var untilNext = Math.Max(0, next - Now);
            timeoutMicros = timeoutMicros < 0 ? untilNext : Math.Min(timeoutMicros, untilNext);
        }

        if (timeoutMicros != 0)
        {
            _inner.Wait(timeoutMicros);
        }
    }

    /// <inheritdoc/>
    public void Wake() => _inner.Wake();

    private void FlushOutbound()
    {
        var now = Now;
        while (_outbound.TryPeek(out var packet, out var due) && due.At <= now)
        {
            _outbound.Dequeue();
            _inner.Write(packet.Bytes.AsSpan(0, packet.Length));
            ArrayPool<byte>.Shared.Return(packet.Bytes);
        }
    }

    private Impair.Link Offer(
        Impair.Link link,
        ReadOnlySpan<byte> packet,
        PriorityQueue<Held, (long At, long Order)> queue,
        out bool dropped)
    {
        var (fate, next) = Impair.offer(Now, packet.Length, link);
        dropped = fate.IsDropped;
        if (fate.TryGetFirst(out var first))
        {
            Enqueue(first, packet, queue);
            if (fate.TryGetDuplicate(out var duplicate))
            {
                Enqueue(duplicate, packet, queue);
            }
        }

        return next;
    }

    private void Enqueue(Impair.Delivery copy, ReadOnlySpan<byte> packet, PriorityQueue<Held, (long At, long Order)> queue)
    {
        // Pooled: at a TUN device's packet rate a fresh array per packet keeps the GC busy.
        var bytes = ArrayPool<byte>.Shared.Rent(packet.Length);
        packet.CopyTo(bytes);
        if (copy.TryGetCorruptOffset(out var offset))
        {
            bytes[offset] ^= copy.CorruptMask;
        }

        queue.Enqueue(new Held(bytes, packet.Length), (copy.At, _order++));
    }

    /// <summary>A queued packet: its first <c>Length</c> bytes of a pooled array.</summary>
    private readonly record struct Held(byte[] Bytes, int Length);

    /// <summary>Disposes the device underneath; packets still queued are lost.</summary>
    public void Dispose() => _inner.Dispose();
}
