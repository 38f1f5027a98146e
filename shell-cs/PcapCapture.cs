using Stack.Core.Wire;

namespace Stack.Shell;

/// <summary>Writes every packet in and out to a classic pcap file (raw IPv4 records).</summary>
internal sealed class PcapCapture : IDisposable
{
    private readonly FileStream _file;
    private readonly byte[] _record = new byte[Pcap.RecordHeaderLength + 65536];
    private readonly long _startUnixMicros = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;

    public PcapCapture(string path)
    {
        _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        _file.Write(Pcap.fileHeader(Pcap.LinkType.Raw, 65535));
    }

    /// <summary>Records a packet seen <paramref name="stackMicros"/> after the stack started.</summary>
    public void Write(long stackMicros, ReadOnlySpan<byte> packet)
    {
        var n = Pcap.writeRecord(_startUnixMicros + stackMicros, packet[..Math.Min(packet.Length, 65535)], _record);
        _file.Write(_record, 0, n);
    }

    public void Flush() => _file.Flush();

    public void Dispose() => _file.Dispose();
}
