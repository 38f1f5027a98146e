using System.Net;
using System.Net.Sockets;
using Stack.Core.Host;
using System.Threading.Channels;

namespace Stack.Shell;

/// <summary>A listening port of a <see cref="TcpStack"/>: accepts the connections made to it.</summary>
public sealed class TcpStackListener : IDisposable
{
    private readonly StackLoop _stack;
    private readonly Channel<TcpStackConnection> _ready = Channel.CreateUnbounded<TcpStackConnection>();

    internal TcpStackListener(
        StackLoop stack,
        IPEndPoint endPoint,
        AddressFamily family,
        int backlog,
        int maxConnections,
        int sendBufferSize,
        int receiveBufferSize)
    {
        _stack = stack;
        LocalEndPoint = endPoint;
        Family = family;
        Backlog = backlog;
        MaxConnections = maxConnections;
        SendBufferSize = sendBufferSize;
        ReceiveBufferSize = receiveBufferSize;
    }

    /// <summary>Bytes the send buffer of each accepted connection holds.</summary>
    public int SendBufferSize { get; }

    /// <summary>Bytes the receive buffer of each accepted connection may grow to.</summary>
    public int ReceiveBufferSize { get; }

    /// <summary>The address and port listened on.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>
    /// The family of the connections taken: <see cref="AddressFamily.InterNetwork"/> or
    /// <see cref="AddressFamily.InterNetworkV6"/> only, or <see cref="AddressFamily.Unspecified"/> for both.
    /// </summary>
    public AddressFamily Family { get; }

    internal ListenFamily CoreFamily => Family switch
    {
        AddressFamily.InterNetwork => ListenFamily.Ipv4,
        AddressFamily.InterNetworkV6 => ListenFamily.Ipv6,
        _ => ListenFamily.Both,
    };

    /// <summary>Established connections that may wait for <see cref="AcceptAsync"/>.</summary>
    public int Backlog { get; }

    /// <summary>
    /// Connections of this listener that may be open at once, from the handshake until
    /// TIME-WAIT or CLOSED; at the limit a new SYN is dropped (counted as "listener-limit").
    /// </summary>
    public int MaxConnections { get; }

    /// <summary>Connections of this listener from SYN-RECEIVED until TIME-WAIT or CLOSED (stack thread only).</summary>
    internal int Live { get; set; }

    internal bool Full => Live >= MaxConnections;

    internal ushort Port => (ushort)LocalEndPoint.Port;

    /// <summary>Connections handed to the accept queue and not yet accepted (stack thread only).</summary>
    internal int Queued { get; set; }

    internal bool Stopped { get; set; }

    /// <summary>The next established connection.</summary>
    public async ValueTask<TcpStackConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var waitStart = _stack.Tracing ? _stack.TraceClock : 0;
            var connection = await _ready.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (_stack.Tracing)
            {
                _stack.TraceCall($"application listener {LocalEndPoint}", "accept wait", waitStart);
            }

            _stack.Post(new Request.Accepted(this));
            StackActivities.Accepted(connection);
            return connection;
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(TcpStackListener), "the listener was stopped");
        }
    }

    internal void Offer(TcpStackConnection connection) => _ready.Writer.TryWrite(connection);

    internal void Complete() => _ready.Writer.TryComplete();

    internal IEnumerable<TcpStackConnection> Drain()
    {
        while (_ready.Reader.TryRead(out var c))
        {
            yield return c;
        }
    }

    /// <summary>Stops listening; connections already accepted stay open, ones waiting are reset.</summary>
    public void Dispose() => _stack.Post(new Request.Unlisten(this));
}
