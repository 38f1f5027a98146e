using Microsoft.Extensions.Logging;
using System.Diagnostics;
using System.Net.Sockets;
using System.Threading.Channels;
using Stack.Core.Host;
using Stack.Core.Tcp;
using Stack.Shell.Device;

namespace Stack.Shell;

/// <summary>
/// The stack thread: the only code that touches the host value and connection state. It
/// waits on the device, the request channel and the core's next deadline; feeds packets
/// and requests to the pure host; writes what the host emits; and tells the application
/// through the connections' rings and signals.
/// </summary>
internal sealed partial class StackLoop
{

    private readonly IPacketDevice _device;
    private readonly Channel<Request> _requests = Channel.CreateUnbounded<Request>(
        new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<FourTuple, TcpStackConnection> _connections = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly byte[] _out = new byte[65536 + 120];
    private readonly byte[] _payload = new byte[65536];
    private readonly PcapCapture? _capture;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly WirePlan _plan = new();
    private readonly List<Transmit> _batch = [];

    // Each connection's next deadline.
    private readonly DeadlineQueue<FourTuple> _deadlines = new();
    private readonly ISegmentOffload? _offload;
    private readonly PacketObserver? _observer;
    private bool _batching;
    private Host _host;
    private readonly Lock _countersLock = new();
    private Counters _counters;

    // Each packet's step writes here: the stack thread owns its host and steps it in
    // place (OwnedHost), so a packet in steady state allocates nothing.
    private readonly HostOutbox _outbox = new();
    private long _bytesIn;
    private long _bytesOut;
    private long _retransmissions;
    private long _allocated;
    private int _wakeRequested;
    private bool _stopping;

    public StackLoop(Host host, IPacketDevice device, string? capturePath, PacketObserver? observer)
    {
        _observer = observer;
        _host = host;
        _device = device;
        _offload = device as ISegmentOffload;
        _capture = capturePath is null ? null : new PcapCapture(capturePath);
        _thread = new Thread(Run) { IsBackground = true, Name = $"tcp stack {host.Options.Address}" };
    }

    public IPacketDevice Device => _device;

    /// <summary>Pool memory the connections' rings hold.</summary>
    public StackMemory Memory { get; } = new();

    public int SendBufferSize => _host.Options.Connection.SendBufferSize;

    public int ReceiveBufferSize => _host.Options.Connection.ReceiveBufferSize;

    /// <summary>Whether new connections start with Nagle's algorithm off.</summary>
    public bool NoDelay => _host.Options.Connection.NoDelay;

    /// <summary>Where the stack logs, if anywhere.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Bytes a writer may queue beyond what the stack has sent (<see cref="TcpStackOptions.UnsentLimit"/>).</summary>
    public int UnsentLimit { get; init; } = int.MaxValue;

    public Task Stopped => _stopped.Task;

    /// <summary>Microseconds since the stack started: the core's clock.</summary>
    private long Now => _clock.ElapsedTicks * 1_000_000L / Stopwatch.Frequency;

    public void Start() => _thread.Start();

    /// <summary>Hands a request to the stack thread and wakes it (once per batch of requests).</summary>
    public void Post(Request request)
    {
        if (!_requests.Writer.TryWrite(request))
        {
            // The stack has stopped: nothing will answer.
            switch (request)
            {
                case Request.Listen listen:
                    listen.Done.TrySetException(new ObjectDisposedException(nameof(TcpStack)));
                    break;
                case Request.CloseAll closeAll:
                    closeAll.Reply.TrySetException(new ObjectDisposedException(nameof(TcpStack)));
                    break;
                case Request.Snapshot snapshot:
                    snapshot.Reply.TrySetException(new ObjectDisposedException(nameof(TcpStack)));
                    break;
                case Request.Connect connect:
                    connect.Connection.Fail(SocketError.NetworkDown);
                    connect.Connection.Finish();
                    break;
            }

            return;
        }

        if (Interlocked.Exchange(ref _wakeRequested, 1) == 0)
        {
            _device.Wake();
        }
    }

    private void Run()
    {
        try
        {
            while (!_stopping)
            {
                Volatile.Write(ref _wakeRequested, 0);
                var busy = DrainRequests();
                busy |= ReadPackets();
                busy |= RunDueTimers(Now);
                WatchMemory();
                PublishCounters();
                if (!busy && !_stopping)
                {
                    Volatile.Write(ref _allocated, GC.GetAllocatedBytesForCurrentThread());
                    _capture?.Flush();
                    var waitStart = _trace is null ? 0 : Now;
                    _device.Wait(_deadlines.TryPeekNext(out var next) ? Math.Max(0, next - Now) : -1);
                    if (_trace is not null)
                    {
                        TraceThread(waitStart, "wait");
                    }
                }
            }

            WriteTrace();
            _stopped.TrySetResult();
        }
        catch (Exception e)
        {
            // A bug, not bad input: the core never throws for a packet or a request.
            if (Logger is { } logger)
            {
                logger.LogCritical(e, "tcpstack {Address}: the stack thread failed and stopped", _host.Options.Address);
            }
            else
            {
                Console.Error.WriteLine($"tcp stack {_host.Options.Address}: the stack thread failed and stopped: {e}");
            }
            foreach (var c in _connections.Values)
            {
                c.Fail(SocketError.NetworkDown);
                c.Finish();
            }

            WriteTrace();
            _stopped.TrySetException(e);
        }
        finally
        {
            PublishCounters();
            _requests.Writer.TryComplete();
            _capture?.Dispose();
        }
    }

    /// <summary>Runs the timers that are due; returns whether any ran.</summary>
    private bool RunDueTimers(long now)
    {
        var ran = 0;
        while (_deadlines.TryTakeDue(now, out var tuple))
        {
            OwnedHost.TimeoutConnection(now, tuple, _host, _outbox);
            Apply(ReadOnlySpan<byte>.Empty);
            ran++;
        }

        if (_trace is not null && ran > 0)
        {
            TraceThread(now, ran == 1 ? "timers of 1 connection" : $"timers of {ran} connections");
        }

        return ran > 0;
    }

    /// <summary>Queues the connection's next deadline from its step's output, unless an earlier one is queued.</summary>
    private void Schedule(FourTuple tuple, in Output output)
    {
        if (output.NextDeadline != long.MaxValue)
        {
            _deadlines.Request(tuple, output.NextDeadline);
        }
    }

    public void Stop()
    {
        Post(new Request.Stop());
    }

    public bool Join(TimeSpan timeout) => _thread.Join(timeout);
}
