using System.Diagnostics.CodeAnalysis;
using System.Net.Sockets;
using Stack.Core.Host;

namespace Stack.Shell;

/// <summary>
/// The listeners: listen, unlisten, accept, and which listener a connection belongs to.
/// A port has one listener for both families, or one for each (as the core keeps them).
/// </summary>
internal sealed partial class StackLoop
{
    // For both families or IPv4 only, and for IPv6 only, by port.
    private readonly Dictionary<ushort, TcpStackListener> _listeners = [];
    private readonly Dictionary<ushort, TcpStackListener> _listeners6 = [];

    private Dictionary<ushort, TcpStackListener> TableOf(TcpStackListener l) =>
        l.CoreFamily == ListenFamily.Ipv6 ? _listeners6 : _listeners;

    /// <summary>The listener that takes connections of the tuple's family on its port: an IPv6-only one before one for both.</summary>
    private bool TryListenerFor(in FourTuple tuple, [NotNullWhen(true)] out TcpStackListener? listener)
    {
        var ipv4 = tuple.RemoteAddress.IsIpv4;
        if (!ipv4 && _listeners6.TryGetValue(tuple.LocalPort, out listener))
        {
            return true;
        }

        return _listeners.TryGetValue(tuple.LocalPort, out listener) && (ipv4 || listener.CoreFamily == ListenFamily.Both);
    }

    private void Listen(TcpStackListener l, TaskCompletionSource done)
    {
        if (!OwnedHost.TryListen(l.Port, l.CoreFamily, l.Backlog, l.SendBufferSize, l.ReceiveBufferSize, _host, out var error))
        {
            done.TrySetException(new SocketException((int)ToSocketError(error)));
            return;
        }

        TableOf(l)[l.Port] = l;
        if (l.MaxConnections != int.MaxValue)
        {
            _limitedListeners++;
        }

        done.TrySetResult();
    }

    private void Unlisten(TcpStackListener l)
    {
        if (!TableOf(l).Remove(l.Port))
        {
            return;
        }

        if (l.MaxConnections != int.MaxValue)
        {
            _limitedListeners--;
        }

        // The core resets what it still held for the listener (half-open, or established
        // and not yet taken); what the listener's own queue holds was never accepted either.
        OwnedHost.Unlisten(Now, l.Port, l.CoreFamily, _host, _outbox);
        Apply(ReadOnlySpan<byte>.Empty);
        foreach (var c in l.Drain())
        {
            Command(c, Core.Tcp.Command.Abort);
        }

        l.Stopped = true;
        l.Complete();
    }

    /// <summary>Moves established connections from the core's accept queue to the listener's, up to its backlog.</summary>
    private void PullAccepted(TcpStackListener l)
    {
        while (!l.Stopped && l.Queued < l.Backlog)
        {
            if (!OwnedHost.TryAccept(l.Port, l.CoreFamily, _host, out var tuple))
            {
                return;
            }

            if (_connections.TryGetValue(tuple, out var c))
            {
                l.Queued++;
                l.Offer(c);
            }
        }
    }
}
