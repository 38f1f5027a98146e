namespace Stack.Shell;

/// <summary>
/// When to wake for each key (a connection): the earliest deadline asked for, in a heap, so
/// a turn of the stack loop costs O(log n) instead of a scan of every connection. A
/// deadline that moves later keeps its earlier entry (the wake-up comes early, finds
/// nothing due and asks again), so a busy connection whose timer moves on every ACK costs
/// no heap work. Entries that no longer match their key's deadline are stale: skipped when
/// they surface, and dropped all at once when they outnumber the live ones.
/// </summary>
internal sealed class DeadlineQueue<TKey>
    where TKey : notnull
{
    private const int SlackEntries = 64;
    private readonly PriorityQueue<TKey, long> _heap = new();
    private readonly Dictionary<TKey, long> _live = [];

    /// <summary>Keys with a deadline queued.</summary>
    public int Count => _live.Count;

    /// <summary>Entries in the heap, stale ones included (at most twice the live ones, plus slack).</summary>
    public int HeapCount => _heap.Count;

    /// <summary>Asks to wake for <paramref name="key"/> at <paramref name="at"/>, unless it is due earlier already.</summary>
    public void Request(TKey key, long at)
    {
        if (_live.TryGetValue(key, out var queued) && queued <= at)
        {
            return;
        }

        _live[key] = at;
        _heap.Enqueue(key, at);
        if (_heap.Count > 2 * _live.Count + SlackEntries)
        {
            DropStale();
        }
    }

    /// <summary>No wake-up for <paramref name="key"/> any more.</summary>
    public void Forget(TKey key) => _live.Remove(key);

    /// <summary>Takes the earliest key due at <paramref name="now"/>, if any; it is no longer queued.</summary>
    public bool TryTakeDue(long now, out TKey key)
    {
        if (TryPeek(out key, out var at) && at <= now)
        {
            _heap.Dequeue();
            _live.Remove(key);
            return true;
        }

        return false;
    }

    /// <summary>The earliest deadline queued, if any.</summary>
    public bool TryPeekNext(out long at) => TryPeek(out _, out at);

    private bool TryPeek(out TKey key, out long at)
    {
        while (_heap.TryPeek(out key!, out at))
        {
            if (_live.TryGetValue(key, out var live) && live == at)
            {
                return true;
            }

            _heap.Dequeue();
        }

        return false;
    }

    private void DropStale()
    {
        _heap.Clear();
        foreach (var (key, at) in _live)
        {
            _heap.Enqueue(key, at);
        }
    }
}
