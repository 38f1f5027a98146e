using System.Net;

namespace Stack.Shell;

/// <summary>
/// A message from the application to the stack thread: a closed set, one type per kind,
/// each with exactly what it needs. Writes and reads do not post one each: they move a
/// connection's counts and post its one <see cref="Work"/> notice when none is waiting.
/// </summary>
internal abstract record Request
{
    private Request()
    {
    }

    /// <summary>The application wrote or read on the connection: the stack takes its counts.</summary>
    public sealed record Work(TcpStackConnection Connection) : Request;

    public sealed record Connect(TcpStackConnection Connection, IPEndPoint Remote) : Request;

    public sealed record Listen(TcpStackListener Listener, TaskCompletionSource Done) : Request;

    public sealed record Unlisten(TcpStackListener Listener) : Request;

    /// <summary>The application took a connection from the listener's queue.</summary>
    public sealed record Accepted(TcpStackListener Listener) : Request;

    /// <summary>FIN after the queued data.</summary>
    public sealed record Close(TcpStackConnection Connection) : Request;

    /// <summary>The application stopped reading for good.</summary>
    public sealed record Discard(TcpStackConnection Connection) : Request;

    public sealed record Abort(TcpStackConnection Connection) : Request;

    /// <summary>A change to one connection's options (no-delay, keepalive).</summary>
    public sealed record Tune(TcpStackConnection Connection, Core.Tcp.Command Command) : Request;

    /// <summary>Closes every connection; the reply is the task that completes when all did.</summary>
    public sealed record CloseAll(TaskCompletionSource<Task> Reply) : Request;

    public sealed record AbortAll : Request;

    /// <summary>The connections as they are now, for <see cref="TcpStack.GetConnectionsAsync"/>.</summary>
    public sealed record Snapshot(TaskCompletionSource<IReadOnlyList<TcpConnectionInfo>> Reply) : Request;

    public sealed record Stop : Request;
}
