using System.Buffers.Binary;
using Stack.Core.Host;
using Stack.Core.Wire;

namespace Stack.Shell;

/// <summary>
/// The stack-wide limits on ring memory, as Linux's tcp_mem: above the pressure mark the
/// core grows no receive buffer; at the hard limit a segment whose bytes would need a
/// receive ring to grow is dropped before the core sees it (the peer sends it again).
/// </summary>
internal sealed partial class StackLoop
{
    private bool _underPressure;
    private long _pressureEpisodes;
    private long _memoryLimitDrops;

    /// <summary>Ring memory above which receive buffers stop growing.</summary>
    public long MemoryPressureBytes { get; init; } = long.MaxValue;

    /// <summary>Ring memory at which data that needs more is dropped.</summary>
    public long MemoryLimitBytes { get; init; } = long.MaxValue;

    /// <summary>Times the stack came under memory pressure.</summary>
    public long PressureEpisodes => Volatile.Read(ref _pressureEpisodes);

    /// <summary>Segments dropped at the hard memory limit.</summary>
    public long MemoryLimitDrops => Volatile.Read(ref _memoryLimitDrops);

    /// <summary>Tells the core when the pressure mark is crossed, either way (stack thread, once per turn).</summary>
    private void WatchMemory()
    {
        var pressure = Memory.Held >= MemoryPressureBytes;
        if (pressure != _underPressure)
        {
            _underPressure = pressure;
            HostModule.Owned.setMemoryPressure(pressure, _host);
            if (pressure)
            {
                Volatile.Write(ref _pressureEpisodes, _pressureEpisodes + 1);
            }
        }
    }

    /// <summary>
    /// At the hard limit: whether <paramref name="packet"/> carries TCP data for one of our
    /// connections that its receive ring has no room for without growing. Such a segment
    /// is dropped as if lost.
    /// </summary>
    private bool DropForMemory(ReadOnlySpan<byte> packet)
    {
        if (Memory.Held < MemoryLimitBytes || packet.Length < 40 || packet[0] >> 4 != 4 || packet[9] != 6)
        {
            return false;
        }

        var ipHeader = (packet[0] & 0xF) * 4;
        var total = Math.Min(packet.Length, BinaryPrimitives.ReadUInt16BigEndian(packet[2..]));
        if (ipHeader < 20 || total < ipHeader + 20)
        {
            return false;
        }

        var tcp = packet[ipHeader..total];
        var payload = tcp.Length - (tcp[12] >> 4) * 4;
        if (payload <= 0)
        {
            return false;
        }

        var tuple = new FourTuple(
            new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(packet[16..])),
            BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]),
            new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(packet[12..])),
            BinaryPrimitives.ReadUInt16BigEndian(tcp));
        if (!_connections.TryGetValue(tuple, out var c) || !c.ReceiveRingMustGrow(BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]), payload))
        {
            return false;
        }

        Volatile.Write(ref _memoryLimitDrops, _memoryLimitDrops + 1);
        return true;
    }
}
