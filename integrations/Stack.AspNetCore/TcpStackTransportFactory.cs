using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Stack.Shell;

namespace Stack.AspNetCore;

/// <summary>
/// Kestrel's transport over a <see cref="TcpStack"/>: each endpoint Kestrel binds becomes a
/// listener on the stack, of the family a socket bound there would take: the stack's
/// IPv4 address, 0.0.0.0 and IPv4 loopback take IPv4; its IPv6 address and ::1 take IPv6;
/// [::] takes both (a dual-mode socket). So "localhost" binds a port for each family.
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

        var listener = stack.Listen(ip.Port, family: FamilyOf(ip.Address));
        return ValueTask.FromResult<IConnectionListener>(new TcpStackConnectionListener(listener, listener.LocalEndPoint));
    }

    private static AddressFamily FamilyOf(IPAddress address) =>
        address.Equals(IPAddress.IPv6Any) ? AddressFamily.Unspecified : address.AddressFamily;

    private bool Binds(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetwork
            ? address.Equals(IPAddress.Any) || IPAddress.IsLoopback(address) || address.Equals(stack.Address)
            : address.Equals(IPAddress.IPv6Any)
                || (stack.Address6 is not null && (address.Equals(IPAddress.IPv6Loopback) || address.Equals(stack.Address6)));

    /// <summary>An endpoint the stack cannot listen on, said in a way that tells what to do.</summary>
    private sealed class AddressNotAvailableException(EndPoint endpoint, IPAddress address)
        : IOException(
            $"tcpstack cannot listen on {endpoint}: the stack's address is {address}. "
                + $"Bind http://{address}:PORT, http://0.0.0.0:PORT, http://[::]:PORT or http://localhost:PORT.");
}
