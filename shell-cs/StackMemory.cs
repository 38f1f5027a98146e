namespace Stack.Shell;

/// <summary>Bytes of pool memory one stack's connections hold in their rings.</summary>
internal sealed class StackMemory
{
    private long _held;

    public long Held => Volatile.Read(ref _held);

    public void Add(long bytes) => Interlocked.Add(ref _held, bytes);
}
