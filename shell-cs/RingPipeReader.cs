using System.Buffers;
using System.IO.Pipelines;

namespace Stack.Shell;

/// <summary>
/// A connection's receive side as a pipe reader with no copy: a read hands out the
/// receive ring's readable bytes themselves (one or two pieces, where the ring wraps),
/// and the ring keeps its memory, even if it grows meanwhile, until
/// <see cref="AdvanceTo(SequencePosition, SequencePosition)"/> gives them back.
/// </summary>
internal sealed class RingPipeReader(TcpStackConnection connection) : PipeReader
{
    private readonly Piece _first = new();
    private readonly Piece _second = new();

    // The view handed out, if any: where it starts in the stream, and its bytes.
    private bool _viewing;
    private long _viewStart;
    private ReadOnlySequence<byte> _view;

    // Everything before this stream position was examined: a read waits for more.
    private long _examinedEnd;
    private volatile bool _cancelled;
    private bool _completed;

    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (TryRead(out var result))
            {
                return result;
            }

            await connection.WaitReadableAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (_viewing)
        {
            throw new InvalidOperationException("AdvanceTo must come before the next read");
        }

        if (_cancelled)
        {
            _cancelled = false;
            result = new ReadResult(default, isCanceled: true, isCompleted: false);
            return true;
        }

        // Whether the peer is done, read before the bytes: bytes that came with its FIN
        // are readable by then.
        var ended = connection.ReadEnded();
        var start = 0L;
        var more = false;
        if (connection.Readable > 0 && connection.TryViewReadable(out start, out var first, out var second))
        {
            _viewing = true;
            _viewStart = start;
            _view = Sequence(first, second);
            more = start + _view.Length > _examinedEnd;
            if (more || ended)
            {
                result = new ReadResult(_view, isCanceled: false, isCompleted: ended);
                return true;
            }

            // Nothing new beyond what the application already examined: give the view back.
            Return(0);
        }

        if (ended)
        {
            _viewing = true;
            _viewStart = start;
            _view = default;
            result = new ReadResult(default, isCanceled: false, isCompleted: true);
            return true;
        }

        result = default;
        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (!_viewing)
        {
            throw new InvalidOperationException("AdvanceTo without a read");
        }

        var used = _view.Slice(0, consumed).Length;
        _examinedEnd = _viewStart + _view.Slice(0, examined).Length;
        Return(used);
    }

    public override void CancelPendingRead()
    {
        _cancelled = true;
        connection.WakeReader();
    }

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }

        if (_viewing)
        {
            Return(0);
        }

        _completed = true;
    }

    /// <summary>Gives the view back, <paramref name="used"/> bytes of it consumed.</summary>
    private void Return(long used)
    {
        var wasView = !_view.IsEmpty;
        _viewing = false;
        _view = default;
        if (wasView)
        {
            connection.ConsumeView(used);
        }
    }

    private ReadOnlySequence<byte> Sequence(ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> second)
    {
        if (second.IsEmpty)
        {
            return new ReadOnlySequence<byte>(first);
        }

        _first.Set(first, 0, _second);
        _second.Set(second, first.Length, null);
        return new ReadOnlySequence<byte>(_first, 0, _second, second.Length);
    }

    /// <summary>One piece of the view: the ring's end, then its start.</summary>
    private sealed class Piece : ReadOnlySequenceSegment<byte>
    {
        public void Set(ReadOnlyMemory<byte> memory, long runningIndex, Piece? next)
        {
            Memory = memory;
            RunningIndex = runningIndex;
            Next = next;
        }
    }
}
