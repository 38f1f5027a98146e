using Stack.Core.Host;
using Stack.Core.Tcp;
using Stack.Core.Wire;

namespace Stack.Shell;

/// <summary>
/// Consecutive data segments of one connection, gathered to go to the device as one
/// packet that the kernel takes as a run of segments (segmentation offload). Segments
/// join while they continue the run: the same connection, the next sequence number, the
/// same acknowledgment and window, the same size as the first (the last may be shorter),
/// and no PSH before the last. The first segment's header stands for all.
/// </summary>
internal sealed class SegmentRun
{
    /// <summary>Payload bytes a run may carry: an IPv4 packet is at most 65,535 bytes.</summary>
    private const int MaxPayload = 65535 - 20 - 60;

    private readonly byte[] _payload = new byte[MaxPayload];
    private FourTuple _tuple;
    private Outgoing _first;
    private int _length;
    private int _lastLength;
    private bool _pushed;

    public int Count { get; private set; }

    public FourTuple Tuple => _tuple;

    /// <summary>The run's segment: the first header, PSH if any had it, and all the payload.</summary>
    public Outgoing Segment => new(_pushed ? WithPush(_first.Header) : _first.Header, _length);

    /// <summary>The size of every segment but the last: what the kernel splits the run into.</summary>
    public int SegmentSize => _first.PayloadLength;

    public ReadOnlySpan<byte> Payload => _payload.AsSpan(0, _length);

    /// <summary>Whether a segment can start a run: data, and no flag but ACK and PSH.</summary>
    public static bool CanCarry(Outgoing segment) =>
        segment.PayloadLength > 0 && (segment.Header.Flags & ~(TcpFlags.Ack | TcpFlags.Psh)) == 0;

    /// <summary>Whether <paramref name="segment"/> continues this run.</summary>
    public bool Continues(FourTuple tuple, Outgoing segment)
    {
        var h = segment.Header;
        var first = _first.Header;
        return Count > 0
            && !_pushed
            && tuple.Equals(_tuple)
            && CanCarry(segment)
            && _lastLength == _first.PayloadLength
            && segment.PayloadLength <= _first.PayloadLength
            && _length + segment.PayloadLength <= MaxPayload
            && h.SequenceNumber == first.SequenceNumber + (uint)_length
            && h.AcknowledgmentNumber == first.AcknowledgmentNumber
            && h.Window == first.Window;
    }

    /// <summary>Starts a run with <paramref name="segment"/>; its payload goes in <see cref="Buffer"/>.</summary>
    public Span<byte> Start(FourTuple tuple, Outgoing segment)
    {
        _tuple = tuple;
        _first = segment;
        _length = 0;
        Count = 0;
        _pushed = false;
        return Append(segment);
    }

    /// <summary>Adds a segment that <see cref="Continues"/> the run; returns where its payload goes.</summary>
    public Span<byte> Append(Outgoing segment)
    {
        var at = _length;
        _length += segment.PayloadLength;
        _lastLength = segment.PayloadLength;
        _pushed |= (segment.Header.Flags & TcpFlags.Psh) != 0;
        Count++;
        return _payload.AsSpan(at, segment.PayloadLength);
    }

    public void Clear() => Count = 0;

    private static TcpHeader WithPush(TcpHeader h) => new(
        h.SourcePort,
        h.DestinationPort,
        h.SequenceNumber,
        h.AcknowledgmentNumber,
        h.Reserved,
        h.Flags | TcpFlags.Psh,
        h.Window,
        h.UrgentPointer,
        h.Options);
}
