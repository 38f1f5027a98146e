namespace Stack.Shell;

/// <summary>
/// How the stack's side of its link misbehaves, for tests and benchmarks: each packet is
/// lost, duplicated, held back, corrupted or delayed by chance, from a seeded generator
/// (<see cref="TcpStackOptions.ImpairmentSeed"/>). The default impairs nothing.
/// </summary>
public sealed record LinkImpairment
{
    /// <summary>Chance a packet is lost, 0 to 1.</summary>
    public double Loss { get; init; }

    /// <summary>Chance a packet is delivered twice, 0 to 1.</summary>
    public double Duplicate { get; init; }

    /// <summary>Chance a packet is held back by <see cref="ReorderDelay"/> so later ones overtake it, 0 to 1.</summary>
    public double Reorder { get; init; }

    /// <summary>How long a reordered packet is held back.</summary>
    public TimeSpan ReorderDelay { get; init; }

    /// <summary>Chance one byte of a delivered packet is flipped, 0 to 1.</summary>
    public double Corrupt { get; init; }

    /// <summary>Delay every packet takes.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>Uniform extra delay up to this much (jitter alone can reorder).</summary>
    public TimeSpan Jitter { get; init; }

    /// <summary>Link rate in bits per second; 0 for no limit.</summary>
    public long BitsPerSecond { get; init; }

    /// <summary>Bytes the rate-limited queue holds before it drops.</summary>
    public long QueueBytes { get; init; }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first value out of range.</summary>
    internal void Validate(string name)
    {
        foreach (var (field, chance) in new[] { (nameof(Loss), Loss), (nameof(Duplicate), Duplicate), (nameof(Reorder), Reorder), (nameof(Corrupt), Corrupt) })
        {
            if (chance is < 0 or > 1 || double.IsNaN(chance))
            {
                throw new ArgumentException($"{name}.{field} is a chance from 0 to 1, not {chance}", name);
            }
        }

        if (ReorderDelay < TimeSpan.Zero || Delay < TimeSpan.Zero || Jitter < TimeSpan.Zero || BitsPerSecond < 0 || QueueBytes < 0)
        {
            throw new ArgumentException($"{name}: delays, rate and queue cannot be negative ({this})", name);
        }
    }

    internal Core.Impair.Options ToCore() =>
        new(Loss, Duplicate, Reorder, Micros(ReorderDelay), Corrupt, Micros(Delay), Micros(Jitter), BitsPerSecond, QueueBytes);

    private static long Micros(TimeSpan t) => t.Ticks / (TimeSpan.TicksPerMillisecond / 1000);
}
