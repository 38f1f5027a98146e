using System.Net;
using System.Net.Sockets;
using Stack.Shell;

namespace Stack.Http;

/// <summary>Resolves a host name to the IPv4 address to connect to.</summary>
public delegate ValueTask<IPAddress> HostResolver(string host, CancellationToken cancellationToken);

/// <summary>HttpClient over tcpstack.</summary>
public static class TcpStackHttpHandler
{
    /// <summary>
    /// A <see cref="SocketsHttpHandler"/> whose connections go through
    /// <paramref name="stack"/>. Hosts that are IP literals (IPv4, or IPv6 in brackets) need no resolver; any other
    /// name goes to <paramref name="resolve"/> (the stack has no DNS of its own).
    /// </summary>
    /// <example><code>
    /// using var http = new HttpClient(TcpStackHttpHandler.Create(stack));
    /// var page = await http.GetStringAsync("http://10.0.0.2/");
    /// </code></example>
    public static SocketsHttpHandler Create(TcpStack stack, HostResolver? resolve = null) =>
        new() { ConnectCallback = (context, cancellationToken) => ConnectAsync(stack, resolve, context.DnsEndPoint, cancellationToken) };

    /// <summary>Opens a connection for HttpClient; disposing the stream it returns closes it.</summary>
    public static async ValueTask<Stream> ConnectAsync(
        TcpStack stack, HostResolver? resolve, DnsEndPoint endPoint, CancellationToken cancellationToken)
    {
        var address = await ResolveAsync(resolve, endPoint.Host, cancellationToken).ConfigureAwait(false);
        var connection = await stack.ConnectAsync(new IPEndPoint(address, endPoint.Port), cancellationToken).ConfigureAwait(false);
        return connection.Stream;
    }

    private static async ValueTask<IPAddress> ResolveAsync(HostResolver? resolve, string host, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host, out var literal)
            && literal.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
        {
            return literal;
        }

        if (resolve is null)
        {
            throw new HttpRequestException(
                $"tcpstack cannot resolve '{host}': use an IP address in the URL, or pass a HostResolver to TcpStackHttpHandler.Create.");
        }

        return await resolve(host, cancellationToken).ConfigureAwait(false);
    }
}
