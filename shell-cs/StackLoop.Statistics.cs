using System.Collections.Immutable;
using Stack.Core.Host;
using Stack.Core.Tcp;

namespace Stack.Shell;

/// <summary>
/// What other threads may read of the stack: counters published as copies, the immutable
/// connection table, and byte counts written with volatile stores.
/// </summary>
internal sealed partial class StackLoop
{
    /// <summary>
    /// The core's counters as of the stack thread's last batch: a copy it publishes under a
    /// lock, so that another thread never reads one torn while a step changes it.
    /// </summary>
    public Counters Counters
    {
        get
        {
            lock (_countersLock)
            {
                return _counters;
            }
        }
    }

    /// <summary>
    /// The connections by 4-tuple: an immutable table the stack thread replaces whole when
    /// a connection comes or goes, so any thread may enumerate it.
    /// </summary>
    public ImmutableDictionary<FourTuple, Connection> Connections => Volatile.Read(ref _host).Connections;

    public long BytesIn => Volatile.Read(ref _bytesIn);

    public long BytesOut => Volatile.Read(ref _bytesOut);

    public long Retransmissions => Volatile.Read(ref _retransmissions);

    /// <summary>Bytes the stack thread allocated, as of its last wait.</summary>
    public long Allocated => Volatile.Read(ref _allocated);

    /// <summary>Copies the core's counters for other threads (stack thread, once per turn).</summary>
    private void PublishCounters()
    {
        var counters = _host.Counters;
        lock (_countersLock)
        {
            _counters = counters;
        }
    }
}
