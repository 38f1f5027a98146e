using System.Net;
using System.Net.NetworkInformation;

namespace Stack.Shell;

/// <summary>
/// One connection as the stack saw it at one moment, as <c>ss -ti</c> shows a kernel
/// socket: its endpoints, state, bytes each way, and what its sender knows of the path.
/// </summary>
/// <param name="LocalEndPoint">This end's address and port.</param>
/// <param name="RemoteEndPoint">The peer's address and port.</param>
/// <param name="State">The TCP state.</param>
/// <param name="BytesAcknowledged">Bytes the application wrote that the peer acknowledged.</param>
/// <param name="BytesReceived">Bytes that arrived in order from the peer.</param>
/// <param name="BytesInFlight">Bytes sent and not yet acknowledged.</param>
/// <param name="CongestionWindow">Bytes the congestion controller lets be in flight (cwnd).</param>
/// <param name="PeerWindow">Bytes the peer's last window offered.</param>
/// <param name="SmoothedRtt">The smoothed round-trip time; null before the first sample.</param>
/// <param name="RetransmissionTimeout">The retransmission timeout now.</param>
/// <param name="Retransmissions">Segments this connection sent again.</param>
/// <param name="Timeouts">Times its retransmission timer fired.</param>
public sealed record TcpConnectionInfo(
    IPEndPoint LocalEndPoint,
    IPEndPoint RemoteEndPoint,
    TcpState State,
    long BytesAcknowledged,
    long BytesReceived,
    long BytesInFlight,
    long CongestionWindow,
    long PeerWindow,
    TimeSpan? SmoothedRtt,
    TimeSpan RetransmissionTimeout,
    long Retransmissions,
    long Timeouts);
