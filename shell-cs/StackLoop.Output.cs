using System.Runtime.InteropServices;
using Stack.Core.Host;
using Stack.Core.Tcp;

namespace Stack.Shell;

/// <summary>
/// What a step of the host puts on the wire: segments with their payload from the send
/// ring, ACKs held to the end of a batch, runs for segmentation offload, the capture.
/// </summary>
internal sealed partial class StackLoop
{
    /// <summary>Carries out the output of the host's last in-place step.</summary>
    private void Apply(ReadOnlySpan<byte> packet) => Apply(_outbox.Transmits, _outbox.Connections, packet);

    /// <summary>Carries out a step's output; within a read batch its transmits wait for the batch's end.</summary>
    private void Apply(
        ReadOnlySpan<Transmit> transmits,
        ReadOnlySpan<(FourTuple Tuple, Output Output)> connections,
        ReadOnlySpan<byte> packet)
    {
        foreach (ref readonly var touched in connections)
        {
            TrackNew(touched.Tuple, in touched.Output);
        }

        if (_batching)
        {
            _batch.AddRange(transmits);
        }
        else
        {
            WritePlanned(transmits);
        }

        foreach (ref readonly var touched in connections)
        {
            if (_connections.TryGetValue(touched.Tuple, out var c))
            {
                Deliver(c, in touched.Output, packet);
            }

            if (_trace is not null)
            {
                TraceStep(touched.Tuple);
            }

            Schedule(touched.Tuple, in touched.Output);
        }
    }

    /// <summary>
    /// A connection the host opened for a listener gets its application side. A new
    /// connection on the tuple of one in TIME-WAIT (the peer reused its port) replaces
    /// the old one's application side, which is finished.
    /// </summary>
    private void TrackNew(FourTuple tuple, in Output output)
    {
        // A connection's first step leaves it in SYN-RECEIVED when a listener opened it
        // (ESTABLISHED when a SYN cookie rebuilt it); a simultaneous open gets to
        // SYN-RECEIVED too, but keeps its send base.
        if (!output.TryGetTransition(out var transition) || !(transition.State.IsSynReceived || transition.State.IsEstablished))
        {
            return;
        }

        var sendBase = transition.SendBase.Value;
        if (_connections.TryGetValue(tuple, out var existing))
        {
            if (existing.SendBase == sendBase)
            {
                return;
            }

            _connections.Remove(tuple);
            existing.Finish();
        }

        if (!TryListenerFor(tuple, out var listener))
        {
            return;
        }

        var c = new TcpStackConnection(this, listener.SendBufferSize, listener.ReceiveBufferSize, listener);
        listener.Live++;
        c.Attach(tuple, sendBase);
        _connections[tuple] = c;
    }

    /// <summary>Writes what a read batch's steps sent, as the core plans it; the packets written.</summary>
    private int FlushBatch()
    {
        var written = WritePlanned(CollectionsMarshal.AsSpan(_batch));
        _batch.Clear();
        return written;
    }

    /// <summary>
    /// Writes transmits the way the core's <see cref="WirePlan"/> says: pure ACKs that a
    /// later segment stands in for are left out, and with segmentation offload, runs of
    /// data segments go as one packet the device splits.
    /// </summary>
    /// <returns>The packets written, each segment of a run counted.</returns>
    private int WritePlanned(ReadOnlySpan<Transmit> transmits)
    {
        if (transmits.IsEmpty)
        {
            return 0;
        }

        var written = 0;
        foreach (ref readonly var w in _plan.Plan(transmits, _offload is { CanWriteRuns: true }))
        {
            if (w.Datagram is { } bytes)
            {
                Send(bytes);
                written++;
            }
            else
            {
                WriteSegments(in w);
                written += w.Count;
            }
        }

        return written;
    }

    /// <summary>
    /// Builds the packet of a segment, or of a run that the device splits every
    /// <c>SegmentSize</c> bytes, with the payload from the connection's send ring, and sends it.
    /// </summary>
    private void WriteSegments(in Write w)
    {
        var segment = w.Segment;
        var payload = _payload.AsSpan(0, segment.PayloadLength);
        if (segment.PayloadLength > 0 && _connections.TryGetValue(w.Tuple, out var c))
        {
            c.CopyPayload(segment.Header.SequenceNumber, payload);
        }

        var n = OwnedHost.WriteSegment(_host, w.Tuple, segment, payload, _out);
        var packet = _out.AsSpan(0, n);
        if (w.Count == 1)
        {
            Send(packet);
            return;
        }

        Observe(PacketDirection.Out, Now, packet);
        Volatile.Write(ref _bytesOut, _bytesOut + packet.Length);
        _offload!.WriteRun(packet, n - segment.PayloadLength, w.SegmentSize);
    }

    private void Send(ReadOnlySpan<byte> packet)
    {
        Observe(PacketDirection.Out, Now, packet);
        Volatile.Write(ref _bytesOut, _bytesOut + packet.Length);
        _device.Write(packet);
    }

    private void Observe(PacketDirection direction, long now, ReadOnlySpan<byte> packet)
    {
        _capture?.Write(now, packet);
        _observer?.Invoke(direction, packet);
    }
}
