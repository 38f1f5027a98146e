using System.Net;

namespace Stack.Shell;

/// <summary>A message from the application to the stack thread.</summary>
internal readonly record struct Request(
    RequestKind Kind,
    TcpStackConnection? Connection = null,
    TcpStackListener? Listener = null,
    int Count = 0,
    IPEndPoint? Remote = null,
    TaskCompletionSource? Done = null,
    object? Reply = null)
{
    public static Request Send(TcpStackConnection c, int count) => new(RequestKind.Send, c, Count: count);

    public static Request Consumed(TcpStackConnection c, int count) => new(RequestKind.Consumed, c, Count: count);

    public static Request Close(TcpStackConnection c) => new(RequestKind.Close, c);

    public static Request Discard(TcpStackConnection c) => new(RequestKind.Discard, c);

    public static Request Abort(TcpStackConnection c) => new(RequestKind.Abort, c);
}

internal enum RequestKind
{
    Connect,
    Listen,
    Unlisten,
    Accepted,
    Send,
    Consumed,
    Close,
    Discard,
    Abort,
    CloseAll,
    AbortAll,
    Stop,
}
