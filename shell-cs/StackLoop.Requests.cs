using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Stack.Core.Host;
using Stack.Core.Tcp;
using Stack.Core.Wire;

namespace Stack.Shell;

/// <summary>
/// What the application asks of the stack thread: connect, listen, accept, close, abort, and the
/// work a connection's writes and reads leave.
/// </summary>
internal sealed partial class StackLoop
{
    private bool DrainRequests()
    {
        var any = false;
        while (_requests.Reader.TryRead(out var r))
        {
            any = true;
            Handle(r);
        }

        return any;
    }

    private void Handle(Request r)
    {
        switch (r)
        {
            case Request.Work work:
                TakeWork(work.Connection);
                break;
            case Request.Connect connect:
                Connect(connect.Connection, connect.Remote);
                break;
            case Request.Listen listen:
                Listen(listen.Listener, listen.Done);
                break;
            case Request.Unlisten unlisten:
                Unlisten(unlisten.Listener);
                break;
            case Request.Accepted accepted:
                accepted.Listener.Queued--;
                PullAccepted(accepted.Listener);
                break;
            case Request.Close close:
                TakeWork(close.Connection);
                Command(close.Connection, Core.Tcp.Command.Close);
                break;
            case Request.Discard discard:
                TakeWork(discard.Connection);
                discard.Connection.StartDiscarding();
                Command(discard.Connection, Core.Tcp.Command.Detach);
                DiscardUnread(discard.Connection);
                discard.Connection.ReleaseIdleRings();
                break;
            case Request.Abort abort:
                // An aborting application reads no more: what it left unread goes too, and
                // its reads and writes fail.
                abort.Connection.Fail(SocketError.OperationAborted);
                abort.Connection.StartDiscarding();
                Command(abort.Connection, Core.Tcp.Command.Abort);
                abort.Connection.ReleaseIdleRings();
                break;
            case Request.Tune tune:
                Command(tune.Connection, tune.Command);
                break;
            case Request.CloseAll closeAll:
                CloseAll(closeAll.Reply);
                break;
            case Request.AbortAll:
                AbortAll();
                break;
            case Request.Snapshot snapshot:
                Snapshot(snapshot.Reply);
                break;
            case Request.Stop:
                _stopping = true;
                break;
        }
    }

    /// <summary>Hands the core what the application wrote and read since the last time.</summary>
    private void TakeWork(TcpStackConnection c)
    {
        var (written, freed) = c.TakeWork();
        if (written > 0)
        {
            Command(c, Core.Tcp.Command.NewSend(written));
        }

        if (freed > 0)
        {
            Command(c, Core.Tcp.Command.NewConsumed(freed));
        }

        c.ReleaseIdleRings();
    }

    private void Connect(TcpStackConnection c, IPEndPoint remote)
    {
        var address = IpAddress.OfIPAddress(remote.Address);
        if (!OwnedHost.TryConnect(Now, address, (ushort)remote.Port, c.SendBufferSize, c.ReceiveBufferSize, _host, _outbox, out var tuple, out var error))
        {
            c.Fail(ToSocketError(error));
            c.Finish();
            return;
        }

        ReadOnlySpan<(FourTuple Tuple, Output Output)> touchedByConnect = _outbox.Connections;
        foreach (ref readonly var touched in touchedByConnect)
        {
            if (touched.Tuple.Equals(tuple) && touched.Output.TryGetTransition(out var transition))
            {
                c.Attach(tuple, transition.SendBase.Value);
            }
        }

        _connections[tuple] = c;
        Apply(ReadOnlySpan<byte>.Empty);
    }

    private void Command(TcpStackConnection c, Command command)
    {
        if (OwnedHost.TryCommand(Now, c.Tuple, command, _host, _outbox))
        {
            Apply(ReadOnlySpan<byte>.Empty);
        }
    }

    private void DiscardUnread(TcpStackConnection c)
    {
        var n = c.TakeForDiscard();
        if (n > 0)
        {
            Command(c, Core.Tcp.Command.NewConsumed(n));
        }
    }

    /// <summary>Closes every connection and listener; replies with a task that completes when all closed.</summary>
    private void CloseAll(TaskCompletionSource<Task> reply)
    {
        foreach (var l in _listeners.Values.Concat(_listeners6.Values).ToArray())
        {
            Unlisten(l);
        }

        var closing = new List<Task>();
        foreach (var c in _connections.Values.ToArray())
        {
            Command(c, Core.Tcp.Command.Close);
            c.StartDiscarding();
            Command(c, Core.Tcp.Command.Detach);
            DiscardUnread(c);
            closing.Add(c.Completion);
        }

        reply.TrySetResult(Task.WhenAll(closing));
    }

    private void AbortAll()
    {
        foreach (var c in _connections.Values.ToArray())
        {
            Command(c, Core.Tcp.Command.Abort);
        }
    }
}
