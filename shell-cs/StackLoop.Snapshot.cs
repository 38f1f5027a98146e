using Stack.Core.Host;
using Stack.Core.Tcp;

namespace Stack.Shell;

/// <summary>The connections as they are now, read on the stack thread for another one.</summary>
internal sealed partial class StackLoop
{
    private void Snapshot(TaskCompletionSource<IReadOnlyList<TcpConnectionInfo>> reply)
    {
        var list = new List<TcpConnectionInfo>(_connections.Count);
        foreach (var (tuple, c) in _connections)
        {
            if (!OwnedHost.TryGetConnection(_host, tuple, out var core))
            {
                continue;
            }

            list.Add(new TcpConnectionInfo(
                c.LocalEndPoint,
                c.RemoteEndPoint,
                ToTcpState(core.CurrentState),
                c.Acknowledged,
                c.Received,
                core.SendMaximum - core.SendUnacknowledged,
                core.CongestionWindow,
                core.SendWindow,
                core.TryGetSmoothedRtt(out var srtt) ? TimeSpan.FromMicroseconds(srtt) : null,
                TimeSpan.FromMicroseconds(core.RetransmissionTimeout),
                core.RetransmissionCount,
                core.TimeoutCount));
        }

        reply.TrySetResult(list);
    }
}
