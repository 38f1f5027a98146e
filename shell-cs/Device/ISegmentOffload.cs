namespace Stack.Shell.Device;

/// <summary>A device that takes a run of TCP segments as one packet and splits it itself.</summary>
public interface ISegmentOffload
{
    /// <summary>Whether runs may be written now.</summary>
    bool CanWriteRuns { get; }

    /// <summary>
    /// Writes one IPv4/TCP packet holding a run of segments of <paramref name="segmentSize"/>
    /// payload bytes each (the last may be shorter), behind headers of
    /// <paramref name="headerLength"/> bytes. Checksums must be complete.
    /// </summary>
    void WriteRun(ReadOnlySpan<byte> packet, int headerLength, int segmentSize);
}
