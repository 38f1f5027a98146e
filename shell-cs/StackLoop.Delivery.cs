using Microsoft.Extensions.Logging;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Stack.Core.Host;
using Stack.Core.Tcp;

namespace Stack.Shell;

/// <summary>
/// What a step of the host tells the application: bytes into the receive ring, readable
/// and released counts, state, errors and completion.
/// </summary>
internal sealed partial class StackLoop
{
    private void Deliver(TcpStackConnection c, in Output o, ReadOnlySpan<byte> packet)
    {
        var changed = o.TryGetTransition(out var transition);
        if (changed)
        {
            c.SetState(ToTcpState(transition.State));
            if (c.ReceiveBase is null && transition.TryGetReceiveBase(out var receiveBase))
            {
                c.ReceiveBase = receiveBase.Value;
            }
        }

        if (o.Retransmitted > 0)
        {
            Volatile.Write(ref _retransmissions, _retransmissions + o.Retransmitted);
        }

        if (!packet.IsEmpty && o.TryGetArrived(out var a))
        {
            c.StoreArrived(a.Sequence.Value, packet.Slice(a.PayloadOffset, a.Length));
        }

        if (o.Readable > 0)
        {
            c.PublishReadable(o.Readable);
            if (c.Discarding)
            {
                DiscardUnread(c);
            }
        }

        if (o.Queued > 0)
        {
            c.TakenByCore(o.Queued);
        }

        if (o.Released > 0)
        {
            c.PublishReleased(o.Released);
        }

        for (var events = o.Events; !events.IsEmpty; events = events.Tail)
        {
            switch (events.Head.Tag)
            {
                case Event.Tags.Connected:
                    if (c.Connecting is { } connecting)
                    {
                        c.Connecting = null;
                        connecting.TrySetResult(c);
                    }
                    else if (c.Listener is { } listener)
                    {
                        PullAccepted(listener);
                    }

                    break;
                case Event.Tags.Refused:
                    c.Fail(SocketError.ConnectionRefused);
                    break;
                case Event.Tags.Reset:
                    Logger?.LogDebug("tcpstack: {Connection} reset by the peer", c);
                    c.Fail(SocketError.ConnectionReset);
                    break;
                case Event.Tags.TimedOut:
                    Logger?.LogDebug("tcpstack: {Connection} timed out", c);
                    c.Fail(SocketError.TimedOut);
                    break;
                case Event.Tags.PeerClosed:
                    c.PublishPeerClosed();
                    break;
                case Event.Tags.Closed:
                    break;
            }
        }

        if (changed && transition.State.IsClosed)
        {
            _connections.Remove(c.Tuple);
            c.Finish();
        }
        else if (changed && transition.State.IsTimeWait)
        {
            c.MarkDone();
        }
        else if (o.Released > 0 || o.Readable > 0)
        {
            c.ReleaseIdleRings();
        }
    }

    internal static SocketError ToSocketError(HostError error) => error switch
    {
        HostError.AddressInUse => SocketError.AddressAlreadyInUse,
        _ when error.IsNoEphemeralPort => SocketError.AddressNotAvailable,
        _ when error.IsTooManyConnections => SocketError.TooManyOpenSockets,
        _ when error.IsNoAddressFor => SocketError.AddressFamilyNotSupported,
        _ => SocketError.NotConnected,
    };

    internal static TcpState ToTcpState(State s) => s.Tag switch
    {
        State.Tags.Closed => TcpState.Closed,
        State.Tags.Listen => TcpState.Listen,
        State.Tags.SynSent => TcpState.SynSent,
        State.Tags.SynReceived => TcpState.SynReceived,
        State.Tags.Established => TcpState.Established,
        State.Tags.FinWait1 => TcpState.FinWait1,
        State.Tags.FinWait2 => TcpState.FinWait2,
        State.Tags.CloseWait => TcpState.CloseWait,
        State.Tags.Closing => TcpState.Closing,
        State.Tags.LastAck => TcpState.LastAck,
        State.Tags.TimeWait => TcpState.TimeWait,
        _ => TcpState.Unknown,
    };
}
