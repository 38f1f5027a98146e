using System.Net.NetworkInformation;

namespace Stack.Shell;

/// <summary>What a <see cref="TcpStack"/> has done so far: a snapshot.</summary>
/// <param name="PacketsIn">Packets read from the device.</param>
/// <param name="PacketsOut">Packets written to the device.</param>
/// <param name="BytesIn">Bytes of the packets read.</param>
/// <param name="BytesOut">Bytes of the packets written.</param>
/// <param name="Retransmissions">Segments sent again, over all connections ever.</param>
/// <param name="Drops">Packets dropped, by reason.</param>
/// <param name="ConnectionsByState">Connections the stack holds now, by state.</param>
/// <param name="StackThreadAllocatedBytes">Bytes the stack thread has allocated (for allocation-per-packet figures).</param>
/// <param name="BufferBytes">Bytes of pooled memory the connections' send and receive rings hold now.</param>
/// <param name="MemoryPressureEpisodes">Times the rings' memory crossed the pressure mark (three quarters of <see cref="TcpStackOptions.MemoryLimit"/>).</param>
/// <param name="SynCookiesSent">SYN-ACKs sent with a SYN cookie (a listener's SYN queue was full).</param>
/// <param name="SynCookiesAccepted">Connections made from a returned SYN cookie.</param>
/// <param name="ResetsSent">Resets sent, to segments nobody owns and by aborts.</param>
/// <param name="EchoReplies">ICMP echo replies sent.</param>
/// <param name="Reassembled">Datagrams put back together from fragments.</param>
/// <param name="FragmentBytesHeld">Bytes of fragments held for reassembly now, as charged against <see cref="TcpStackOptions.FragmentMemory"/>.</param>
public sealed record StackStatistics(
    long PacketsIn,
    long PacketsOut,
    long BytesIn,
    long BytesOut,
    long Retransmissions,
    IReadOnlyDictionary<string, long> Drops,
    IReadOnlyDictionary<TcpState, int> ConnectionsByState,
    long StackThreadAllocatedBytes,
    long BufferBytes,
    long MemoryPressureEpisodes,
    long SynCookiesSent,
    long SynCookiesAccepted,
    long ResetsSent,
    long EchoReplies,
    long Reassembled,
    long FragmentBytesHeld);
