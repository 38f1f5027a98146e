using Stack.Core.Host;

namespace Stack.Shell;

/// <summary>
/// Packets in: the device read a batch at a time, each packet stepped through the host
/// and its output applied; what the batch's steps send is written once it ends.
/// </summary>
internal sealed partial class StackLoop
{
    private const int ReadBatch = 64;
    private readonly byte[] _in = new byte[65536];

    /// <summary>
    /// Reads and handles up to a batch of packets; what their steps send is written when
    /// the batch ends, planned as a whole (<see cref="WirePlan"/>): a pure ACK that a later
    /// segment of its connection stands in for is left out, one ACK per burst instead of
    /// one per two segments, as receive offload gives the kernel.
    /// </summary>
    private bool ReadPackets()
    {
        _batching = true;
        var start = _trace is null ? 0 : Now;
        try
        {
            return ReadBatchOfPackets();
        }
        finally
        {
            _batching = false;
            var readEnd = _trace is null ? 0 : Now;
            var written = FlushBatch();
            if (_trace is not null)
            {
                if (_lastBatch > 0)
                {
                    _trace.Span(start, readEnd - start, "stack thread", $"read {_lastBatch} packets");
                }

                if (written > 0)
                {
                    TraceThread(readEnd, written == 1 ? "write 1 packet" : $"write {written} packets");
                }
            }
        }
    }

    private bool ReadBatchOfPackets()
    {
        _lastBatch = ReadBatch;
        for (var i = 0; i < ReadBatch; i++)
        {
            var n = _device.TryRead(_in);
            if (n == 0)
            {
                _lastBatch = i;
                return i > 0;
            }

            var packet = new ReadOnlySpan<byte>(_in, 0, n);
            Volatile.Write(ref _bytesIn, _bytesIn + n);
            var now = Now;
            Observe(PacketDirection.In, now, packet);
            if (DropAtLimit(packet))
            {
                continue;
            }

            OwnedHost.Receive(now, packet, _host, _outbox);

            // A datagram put back together from fragments is read from the host's own
            // copy: what arrived in it lies there, not in the last fragment.
            Apply(_outbox.Reassembled is { } whole ? new ReadOnlySpan<byte>(whole) : packet);
        }

        return true;
    }
}
