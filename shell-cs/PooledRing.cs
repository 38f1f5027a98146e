using Stack.Core.Tcp;

namespace Stack.Shell;

/// <summary>
/// One direction's ring of a connection, in a block of the <see cref="BufferPool"/>: none
/// while nothing is buffered, grown by doubling as the bytes need, up to the buffer size,
/// and handed back once drained. Two threads share it. Whoever grows it or hands it back
/// holds <see cref="Gate"/>; the application's thread holds it whenever it touches the
/// ring, the stack thread reads the send ring without it (so a grown-out send block waits
/// in a retired list until the stack thread hands it back) and only ever tries the gate,
/// except to grow the receive ring, so the stack thread never waits on the application.
/// </summary>
internal sealed class PooledRing(BufferPool pool, StackMemory memory, int maxSize)
{
    private const int FirstSize = 4096;

    private volatile Held? _current;
    private List<BufferPool.Block>? _retired;

    // Views of the ring handed to the application (a pipe reader's buffer): while any is
    // out, no block goes back to the pool, and a grown-out block waits in the retired list.
    private int _pins;

    /// <summary>Held by whoever grows, frees, or (on the application's side) touches the ring.</summary>
    public object Gate { get; } = new();

    /// <summary>The ring, if any bytes are buffered.</summary>
    public SequenceRing? Current => _current?.Ring;

    /// <summary>The current ring's memory (its byte N is stream position N modulo its size), if any.</summary>
    public Memory<byte> CurrentMemory => _current?.Block.Memory ?? Memory<byte>.Empty;

    /// <summary>With <see cref="Gate"/> held: whether a view of the ring is out.</summary>
    public bool Pinned => _pins > 0;

    /// <summary>With <see cref="Gate"/> held: a view of the ring goes out; its memory stays until <see cref="Unpin"/>.</summary>
    public void Pin() => _pins++;

    /// <summary>With <see cref="Gate"/> held: a view came back.</summary>
    public void Unpin() => _pins--;

    /// <summary>Bytes of pool memory this ring holds (retired blocks not counted).</summary>
    public int Size => _current?.Ring.Size ?? 0;

    /// <summary>
    /// With <see cref="Gate"/> held: the ring to write when positions [<paramref name="from"/>,
    /// <paramref name="from"/> + <paramref name="needed"/>) must fit, holding the live bytes
    /// [<paramref name="from"/>, <paramref name="liveEnd"/>). The block grown out of goes back to
    /// the pool at once, or, when <paramref name="oldMayBeRead"/> (by a thread that does not
    /// take the gate), to the retired list.
    /// </summary>
    public SequenceRing Grow(long from, long liveEnd, int needed, bool oldMayBeRead)
    {
        var old = _current;
        var size = old?.Ring.Size ?? 0;
        if (size >= maxSize || (old is not null && needed <= size))
        {
            return old!.Ring;
        }

        var grown = Math.Max(FirstSize, size * 2);
        while (grown < needed && grown < maxSize)
        {
            grown *= 2;
        }

        var block = pool.Rent(Math.Min(grown, maxSize));
        memory.Add(block.Length);
        var next = new Held(new SequenceRing(block.Memory), block);
        if (old is not null)
        {
            if (liveEnd > from)
            {
                old.Ring.CopyTo(next.Ring, from, (int)Math.Min(liveEnd - from, size));
            }

            if (oldMayBeRead)
            {
                (_retired ??= []).Add(old.Block);
            }
            else
            {
                Return(old.Block);
            }
        }

        _current = next;
        return next.Ring;
    }

    /// <summary>
    /// With <see cref="Gate"/> held: hands back the retired blocks, and the ring too when
    /// <paramref name="drained"/>; nothing while a view is out.
    /// </summary>
    public void Release(bool drained)
    {
        if (_pins > 0)
        {
            return;
        }

        if (_retired is { } retired)
        {
            foreach (var block in retired)
            {
                Return(block);
            }

            _retired = null;
        }

        if (drained && _current is { } current)
        {
            _current = null;
            Return(current.Block);
        }
    }

    /// <summary>Whether <see cref="Release"/> has anything to do (read without the gate, so a hint).</summary>
    public bool HoldsAny => _current is not null || _retired is not null;

    private void Return(BufferPool.Block block)
    {
        memory.Add(-block.Length);
        pool.Return(block);
    }

    private sealed record Held(SequenceRing Ring, BufferPool.Block Block);
}
