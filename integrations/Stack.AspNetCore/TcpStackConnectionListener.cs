using System.Net;
using Microsoft.AspNetCore.Connections;
using Stack.Shell;

namespace Stack.AspNetCore;

/// <summary>One bound endpoint: hands Kestrel the stack's accepted connections.</summary>
internal sealed class TcpStackConnectionListener(TcpStackListener listener, EndPoint endPoint) : IConnectionListener
{
    public EndPoint EndPoint => endPoint;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            return new TcpStackConnectionContext(connection);
        }
        catch (ObjectDisposedException)
        {
            // Unbound (or the stack stopped): Kestrel takes null as the end of accepting.
            return null;
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        listener.Dispose();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        listener.Dispose();
        return ValueTask.CompletedTask;
    }
}
