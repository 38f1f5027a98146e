using Stack.Core.Host;
using Stack.Core.Tcp;
using Stack.Core.Wire;

namespace Stack.Shell;

/// <summary>
/// What a step of the host puts on the wire: segments with their payload from the send
/// ring, ACKs held to the end of a batch, runs for segmentation offload, the capture.
/// </summary>
internal sealed partial class StackLoop
{
    /// <summary>Carries out the output of the host's last in-place step.</summary>
    private void Apply(ReadOnlySpan<byte> packet) => Apply(_outbox.Transmits, _outbox.Connections, packet);

    /// <summary>Carries out a step's output.</summary>
    private void Apply(
        ReadOnlySpan<Transmit> transmits,
        ReadOnlySpan<(FourTuple Tuple, Output Output)> connections,
        ReadOnlySpan<byte> packet)
    {
        foreach (ref readonly var touched in connections)
        {
            TrackNew(touched.Tuple, in touched.Output);
        }

        foreach (ref readonly var t in transmits)
        {
            Transmit(in t);
        }

        FlushRun();

        foreach (ref readonly var touched in connections)
        {
            if (_connections.TryGetValue(touched.Tuple, out var c))
            {
                Deliver(c, in touched.Output, packet);
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
        // A connection's first step leaves it in SYN-RECEIVED when a listener opened it;
        // a simultaneous open gets there too, but keeps its send base.
        var transition = output.Transition?.Value;
        if (transition is null || !transition.State.IsSynReceived)
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

        if (!_listeners.TryGetValue(tuple.LocalPort, out var listener))
        {
            return;
        }

        var c = new TcpStackConnection(this, SendBufferSize, ReceiveBufferSize, listener);
        c.Attach(tuple, sendBase);
        _connections[tuple] = c;
    }

    private void Transmit(in Transmit t)
    {
        if (t.IsDatagram)
        {
            Send(t.bytes);
            return;
        }

        var s = t;
        var segment = s.segment;
        var header = segment.Header;
        if (_pendingAcks.TryGetValue(s.tuple, out var pending))
        {
            var advances = (header.Flags & TcpFlags.Ack) != 0
                && (header.Flags & (TcpFlags.Syn | TcpFlags.Rst)) == 0
                && (int)(header.AcknowledgmentNumber - pending.Header.AcknowledgmentNumber) > 0;
            _pendingAcks.Remove(s.tuple);
            if (!advances)
            {
                Write(s.tuple, pending);
            }
        }

        if (_batching && segment.PayloadLength == 0 && header.Flags == TcpFlags.Ack)
        {
            if (!_pendingOrder.Contains(s.tuple))
            {
                _pendingOrder.Add(s.tuple);
            }

            _pendingAcks[s.tuple] = segment;
            return;
        }

        Write(s.tuple, segment);
    }

    private void FlushPendingAcks()
    {
        foreach (var tuple in _pendingOrder)
        {
            if (_pendingAcks.Remove(tuple, out var ack))
            {
                Write(tuple, ack);
            }
        }

        _pendingOrder.Clear();
    }

    /// <summary>Builds a segment's packet, with its payload from the send ring, and sends it.</summary>
    private void Write(FourTuple tuple, Outgoing segment)
    {
        if (_offload is { CanWriteRuns: true } && SegmentRun.CanCarry(segment)
            && _connections.TryGetValue(tuple, out var owner))
        {
            if (_run.Continues(tuple, segment))
            {
                owner.CopyPayload(segment.Header.SequenceNumber, _run.Append(segment));
                return;
            }

            FlushRun();
            owner.CopyPayload(segment.Header.SequenceNumber, _run.Start(tuple, segment));
            return;
        }

        FlushRun();
        WriteOne(tuple, segment);
    }

    /// <summary>Sends the gathered run: as one packet the device splits, or as a plain segment.</summary>
    private void FlushRun()
    {
        if (_run.Count == 0)
        {
            return;
        }

        var segment = _run.Segment;
        var n = HostModule.writeSegment(_host, _run.Tuple, segment, _run.Payload, _out);
        var packet = _out.AsSpan(0, n);
        if (_run.Count == 1)
        {
            Send(packet);
        }
        else
        {
            Observe(PacketDirection.Out, Now, packet);
            Volatile.Write(ref _bytesOut, _bytesOut + packet.Length);
            _offload!.WriteRun(packet, n - segment.PayloadLength, _run.SegmentSize);
        }

        _run.Clear();
    }

    private void WriteOne(FourTuple tuple, Outgoing segment)
    {
        var payload = _payload.AsSpan(0, segment.PayloadLength);
        if (segment.PayloadLength > 0 && _connections.TryGetValue(tuple, out var c))
        {
            c.CopyPayload(segment.Header.SequenceNumber, payload);
        }

        var n = HostModule.writeSegment(_host, tuple, segment, payload, _out);
        Send(_out.AsSpan(0, n));
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
