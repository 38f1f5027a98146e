namespace Stack.Shell;

/// <summary>
/// A byte ring whose size is a power of two, addressed by stream offset: byte N of the
/// stream lives at index N mod size. A sequence number less the connection's first one
/// is such an offset, so out-of-order bytes land at their place.
/// </summary>
internal sealed class SequenceRing
{
    private readonly byte[] _bytes;
    private readonly int _mask;

    public SequenceRing(int size)
    {
        if (size <= 0 || (size & (size - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "a ring's size must be a power of two");
        }

        _bytes = new byte[size];
        _mask = size - 1;
    }

    public int Size => _bytes.Length;

    /// <summary>Copies <paramref name="source"/> into the ring from stream offset <paramref name="offset"/>.</summary>
    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        var start = (int)(offset & _mask);
        var first = Math.Min(source.Length, _bytes.Length - start);
        source[..first].CopyTo(_bytes.AsSpan(start));
        source[first..].CopyTo(_bytes);
    }

    /// <summary>Copies bytes from stream offset <paramref name="offset"/> into <paramref name="destination"/>.</summary>
    public void Read(long offset, Span<byte> destination)
    {
        var start = (int)(offset & _mask);
        var first = Math.Min(destination.Length, _bytes.Length - start);
        _bytes.AsSpan(start, first).CopyTo(destination);
        _bytes.AsSpan(0, destination.Length - first).CopyTo(destination[first..]);
    }
}
