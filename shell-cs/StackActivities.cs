using System.Diagnostics;
using System.Net;

namespace Stack.Shell;

/// <summary>
/// Traces of connects (from the SYN to the handshake's end) and accepts (a connection handed
/// to the application) on the <see cref="SourceName"/> activity source, with the endpoints
/// as OpenTelemetry's network attributes. Nothing is recorded unless a listener samples it.
/// </summary>
internal static class StackActivities
{
    public const string SourceName = "Stack.Shell";

    private static readonly ActivitySource Source = new(SourceName);

    public static Activity? Connect(IPEndPoint remote)
    {
        var activity = Source.StartActivity("tcpstack.connect", ActivityKind.Client);
        activity?.SetTag("network.peer.address", remote.Address.ToString());
        activity?.SetTag("network.peer.port", remote.Port);
        return activity;
    }

    public static void Connected(Activity? activity, TcpStackConnection connection)
    {
        activity?.SetTag("network.local.address", connection.LocalEndPoint.Address.ToString());
        activity?.SetTag("network.local.port", connection.LocalEndPoint.Port);
    }

    public static void Failed(Activity? activity, string why) => activity?.SetStatus(ActivityStatusCode.Error, why);

    public static void Accepted(TcpStackConnection connection)
    {
        using var activity = Source.StartActivity("tcpstack.accept", ActivityKind.Server);
        activity?.SetTag("network.peer.address", connection.RemoteEndPoint.Address.ToString());
        activity?.SetTag("network.peer.port", connection.RemoteEndPoint.Port);
        activity?.SetTag("network.local.port", connection.LocalEndPoint.Port);
    }
}
