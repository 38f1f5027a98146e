using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Stack.Shell;

namespace Stack.AspNetCore;

/// <summary>
/// Kestrel's transport over a <see cref="TcpStack"/>: each endpoint Kestrel binds becomes a
/// listener on the stack. The stack has one IPv4 address, so an endpoint binds its port
/// when its address is that one, any, or loopback (Kestrel's "localhost").
/// </summary>
public sealed class TcpStackTransportFactory(TcpStack stack) : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    /// <inheritdoc/>
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint ip && Binds(ip.Address);

    /// <inheritdoc/>
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not IPEndPoint ip || !Binds(ip.Address))
        {
            throw new AddressNotAvailableException(endpoint, stack.Address);
        }

        var listener = stack.Listen(ip.Port);
        return ValueTask.FromResult<IConnectionListener>(
            new TcpStackConnectionListener(listener, new IPEndPoint(stack.Address, ip.Port)));
    }

    private bool Binds(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetwork
        && (address.Equals(IPAddress.Any) || IPAddress.IsLoopback(address) || address.Equals(stack.Address));

    /// <summary>An endpoint the stack cannot listen on, said in a way that tells what to do.</summary>
    private sealed class AddressNotAvailableException(EndPoint endpoint, IPAddress address)
        : IOException(
            $"tcpstack cannot listen on {endpoint}: the stack's address is {address} (IPv4 only). "
                + $"Bind http://{address}:PORT, http://0.0.0.0:PORT or http://localhost:PORT.");
}
