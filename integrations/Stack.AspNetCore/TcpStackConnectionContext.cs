using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Stack.Shell;

namespace Stack.AspNetCore;

/// <summary>
/// A stack connection as Kestrel sees one: its pipes are the transport (completing the
/// output sends FIN), aborting resets it, disposing closes it as a socket closes.
/// </summary>
internal sealed class TcpStackConnectionContext : ConnectionContext
{
    private static long _lastId;
    private readonly TcpStackConnection _connection;
    private readonly CancellationTokenSource _closed = new();

    public TcpStackConnectionContext(TcpStackConnection connection)
    {
        _connection = connection;
        ConnectionId = $"tcpstack-{Interlocked.Increment(ref _lastId)}";
        Transport = connection.Pipe;
        LocalEndPoint = connection.LocalEndPoint;
        RemoteEndPoint = connection.RemoteEndPoint;
        ConnectionClosed = _closed.Token;
        connection.Completion.ContinueWith(
            static (_, state) => ((CancellationTokenSource)state!).Cancel(),
            _closed,
            TaskScheduler.Default);
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public override void Abort(ConnectionAbortedException abortReason) => _connection.Abort();

    public override async ValueTask DisposeAsync()
    {
        await Transport.Input.CompleteAsync().ConfigureAwait(false);
        await Transport.Output.CompleteAsync().ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
        _closed.Dispose();
    }
}
