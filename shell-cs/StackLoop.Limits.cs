using System.Buffers.Binary;
using Stack.Core.Host;
using Stack.Core.Wire;

namespace Stack.Shell;

/// <summary>
/// Limits the shell keeps: the stack-wide limits on ring memory, as Linux's tcp_mem (above
/// the pressure mark the core grows no receive buffer; at the hard limit a segment whose
/// bytes would need a receive ring to grow is dropped before the core sees it), and each
/// listener's limit on its open connections (a SYN beyond it is dropped).
/// </summary>
internal sealed partial class StackLoop
{
    private bool _underPressure;
    private long _pressureEpisodes;
    private long _memoryLimitDrops;
    private long _listenerLimitDrops;

    // Listeners with a connection limit: without any, packets are not looked at here.
    private int _limitedListeners;

    /// <summary>Ring memory above which receive buffers stop growing.</summary>
    public long MemoryPressureBytes { get; init; } = long.MaxValue;

    /// <summary>Ring memory at which data that needs more is dropped.</summary>
    public long MemoryLimitBytes { get; init; } = long.MaxValue;

    /// <summary>Times the stack came under memory pressure.</summary>
    public long PressureEpisodes => Volatile.Read(ref _pressureEpisodes);

    /// <summary>Segments dropped at the hard memory limit.</summary>
    public long MemoryLimitDrops => Volatile.Read(ref _memoryLimitDrops);

    /// <summary>SYNs dropped at a listener's connection limit.</summary>
    public long ListenerLimitDrops => Volatile.Read(ref _listenerLimitDrops);

    /// <summary>Tells the core when the pressure mark is crossed, either way (stack thread, once per turn).</summary>
    private void WatchMemory()
    {
        var pressure = Memory.Held >= MemoryPressureBytes;
        if (pressure != _underPressure)
        {
            _underPressure = pressure;
            OwnedHost.SetMemoryPressure(pressure, _host);
            if (pressure)
            {
                Volatile.Write(ref _pressureEpisodes, _pressureEpisodes + 1);
            }
        }
    }

    /// <summary>
    /// Whether to drop <paramref name="packet"/> before the core sees it: a SYN for a
    /// listener at its connection limit, or, at the hard memory limit, TCP data for one of
    /// our connections that its receive ring has no room for without growing. The peer
    /// sends either again, as after a loss.
    /// </summary>
    private bool DropAtLimit(ReadOnlySpan<byte> packet)
    {
        var atMemoryLimit = Memory.Held >= MemoryLimitBytes;
        if ((!atMemoryLimit && _limitedListeners == 0) || !TryReadTcp(packet, out var tuple, out var sequence, out var flags, out var payload))
        {
            return false;
        }

        if ((flags & (SynFlag | AckFlag)) == SynFlag)
        {
            if (TryListenerFor(tuple, out var listener) && listener.Full && !_connections.ContainsKey(tuple))
            {
                Volatile.Write(ref _listenerLimitDrops, _listenerLimitDrops + 1);
                return true;
            }

            return false;
        }

        if (atMemoryLimit && payload > 0 && _connections.TryGetValue(tuple, out var c) && c.ReceiveRingMustGrow(sequence, payload))
        {
            Volatile.Write(ref _memoryLimitDrops, _memoryLimitDrops + 1);
            return true;
        }

        return false;
    }

    private const byte SynFlag = 0x02;
    private const byte AckFlag = 0x10;

    /// <summary>
    /// The 4-tuple (ours first), sequence number, flags and payload length of a TCP packet:
    /// IPv4, or IPv6 with TCP right after the fixed header (as every TCP packet the kernel
    /// sends us is).
    /// </summary>
    private static bool TryReadTcp(ReadOnlySpan<byte> packet, out FourTuple tuple, out uint sequence, out byte flags, out int payload)
    {
        tuple = default!;
        sequence = 0;
        flags = 0;
        payload = 0;
        if (packet.Length >= 60 && packet[0] >> 4 == 6 && packet[6] == 6)
        {
            return TryReadTcp6(packet, out tuple, out sequence, out flags, out payload);
        }

        if (packet.Length < 40 || packet[0] >> 4 != 4 || packet[9] != 6)
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
        tuple = new FourTuple(
            IpAddress.OfIpv4(new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(packet[16..]))),
            BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]),
            IpAddress.OfIpv4(new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(packet[12..]))),
            BinaryPrimitives.ReadUInt16BigEndian(tcp));
        sequence = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]);
        flags = tcp[13];
        payload = Math.Max(0, tcp.Length - (tcp[12] >> 4) * 4);
        return true;
    }

    private static bool TryReadTcp6(ReadOnlySpan<byte> packet, out FourTuple tuple, out uint sequence, out byte flags, out int payload)
    {
        var total = Math.Min(packet.Length, 40 + BinaryPrimitives.ReadUInt16BigEndian(packet[4..]));
        tuple = default!;
        sequence = 0;
        flags = 0;
        payload = 0;
        if (total < 60)
        {
            return false;
        }

        var tcp = packet[40..total];
        tuple = new FourTuple(
            IpAddress.OfIpv6(Ipv6Address.Read(packet[24..])),
            BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]),
            IpAddress.OfIpv6(Ipv6Address.Read(packet[8..])),
            BinaryPrimitives.ReadUInt16BigEndian(tcp));
        sequence = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]);
        flags = tcp[13];
        payload = Math.Max(0, tcp.Length - ((tcp[12] >> 4) * 4));
        return true;
    }
}
