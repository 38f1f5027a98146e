using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Stack.Shell;

namespace Stack.AspNetCore;

/// <summary>
/// Kestrel's transport over a <see cref="TcpStack"/>: each endpoint Kestrel binds becomes a
/// listener on the stack. An endpoint binds its port when its address is one of the
/// stack's (that family only), any (both families), or IPv4 loopback (Kestrel's
/// "localhost", both families).
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

        var family = ip.Address.Equals(stack.Address) ? AddressFamily.InterNetwork
            : ip.Address.Equals(stack.Address6) ? AddressFamily.InterNetworkV6
            : AddressFamily.Unspecified;
        var listener = stack.Listen(ip.Port, family: family);
        return ValueTask.FromResult<IConnectionListener>(new TcpStackConnectionListener(listener, listener.LocalEndPoint));
    }

    private bool Binds(IPAddress address) =>
        address.Equals(IPAddress.Any)
        || address.Equals(IPAddress.IPv6Any)
        || (address.AddressFamily == AddressFamily.InterNetwork && IPAddress.IsLoopback(address))
        || address.Equals(stack.Address)
        || address.Equals(stack.Address6);

    /// <summary>An endpoint the stack cannot listen on, said in a way that tells what to do.</summary>
    private sealed class AddressNotAvailableException(EndPoint endpoint, IPAddress address)
        : IOException(
            $"tcpstack cannot listen on {endpoint}: the stack's address is {address}. "
                + $"Bind http://{address}:PORT, http://0.0.0.0:PORT, http://[::]:PORT or http://localhost:PORT.");
}
