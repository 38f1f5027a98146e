using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using Stack.Core.Host;
using Stack.Core.Tcp;
using Stack.Core.Wire;
using Stack.Shell.Device;
using CoreState = Stack.Core.Tcp.State;
using HostStep = Stack.Core.Host.HostModule;

namespace Stack.Shell;

/// <summary>
/// The stack thread: the only code that touches the host value and connection state. It
/// waits on the device, the request channel and the core's next deadline; feeds packets
/// and requests to the pure host; writes what the host emits; and tells the application
/// through the connections' rings and signals.
/// </summary>
internal sealed class StackLoop
{
    private const int ReadBatch = 64;

    private readonly IPacketDevice _device;
    private readonly Channel<Request> _requests = Channel.CreateUnbounded<Request>(
        new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<FourTuple, TcpStackConnection> _connections = [];
    private readonly Dictionary<ushort, TcpStackListener> _listeners = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly byte[] _in = new byte[65536];
    private readonly byte[] _out = new byte[65536 + 120];
    private readonly byte[] _payload = new byte[65536];
    private readonly PcapCapture? _capture;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<FourTuple, Outgoing> _pendingAcks = [];
    private readonly SegmentRun _run = new();

    // Each connection's next deadline.
    private readonly DeadlineQueue<FourTuple> _deadlines = new();
    private readonly ISegmentOffload? _offload;
    private readonly PacketObserver? _observer;
    private readonly List<FourTuple> _pendingOrder = [];
    private bool _batching;
    private Host _host;
    private readonly Lock _countersLock = new();
    private Counters _counters;

    // Each packet's step writes here: the stack thread owns its host and steps it in
    // place (HostModule.Owned), so a packet in steady state allocates nothing.
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

    /// <summary>
    /// The core's counters as of the stack thread's last batch: a copy it publishes under a
    /// lock, so that another thread never reads one torn while a step changes it.
    /// </summary>
    public Counters Counters
    {
        get
        {
            lock (_countersLock)
            {
                return _counters;
            }
        }
    }

    /// <summary>
    /// The connections by 4-tuple: an immutable table the stack thread replaces whole when
    /// a connection comes or goes, so any thread may enumerate it.
    /// </summary>
    public ImmutableDictionary<FourTuple, Connection> Connections => Volatile.Read(ref _host).Connections;

    public IPacketDevice Device => _device;

    public long BytesIn => Volatile.Read(ref _bytesIn);

    public long BytesOut => Volatile.Read(ref _bytesOut);

    public long Retransmissions => Volatile.Read(ref _retransmissions);

    /// <summary>Bytes the stack thread allocated, as of its last wait.</summary>
    public long Allocated => Volatile.Read(ref _allocated);

    public int SendBufferSize => _host.Options.Connection.SendBufferSize;

    public int ReceiveBufferSize => _host.Options.Connection.ReceiveBufferSize;

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

    private void PublishCounters()
    {
        var counters = _host.Counters;
        lock (_countersLock)
        {
            _counters = counters;
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
                PublishCounters();
                if (!busy && !_stopping)
                {
                    Volatile.Write(ref _allocated, GC.GetAllocatedBytesForCurrentThread());
                    _capture?.Flush();
                    _device.Wait(_deadlines.TryPeekNext(out var next) ? Math.Max(0, next - Now) : -1);
                }
            }

            _stopped.TrySetResult();
        }
        catch (Exception e)
        {
            // A bug, not bad input: the core never throws for a packet or a request.
            Console.Error.WriteLine($"tcp stack {_host.Options.Address}: the stack thread failed and stopped: {e}");
            foreach (var c in _connections.Values)
            {
                c.Fail(SocketError.NetworkDown);
                c.Finish();
            }

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
        var ran = false;
        while (_deadlines.TryTakeDue(now, out var tuple))
        {
            HostStep.Owned.timeoutConnection(now, tuple, _host, _outbox);
            Apply(ReadOnlySpan<byte>.Empty);
            Schedule(tuple);
            ran = true;
        }

        return ran;
    }

    /// <summary>Queues the connection's next deadline, unless an earlier one is queued already.</summary>
    private void Schedule(FourTuple tuple)
    {
        if (!_host.Connections.TryGetValue(tuple, out var core))
        {
            _deadlines.Forget(tuple);
            return;
        }

        var deadline = ConnectionModule.nextDeadline(core);
        if (deadline.IsSome)
        {
            _deadlines.Request(tuple, deadline.Value);
        }
    }

    /// <summary>
    /// Reads and handles up to a batch of packets. Within a batch, a pure ACK waits until
    /// the batch ends and is dropped if a later segment of the connection acknowledges
    /// more: one ACK per burst instead of one per two segments, as receive offload gives
    /// the kernel. Duplicate ACKs (no advance) are all sent: they signal loss.
    /// </summary>
    private bool ReadPackets()
    {
        _batching = true;
        try
        {
            return ReadBatchOfPackets();
        }
        finally
        {
            _batching = false;
            FlushPendingAcks();
        }
    }

    private bool ReadBatchOfPackets()
    {
        for (var i = 0; i < ReadBatch; i++)
        {
            var n = _device.TryRead(_in);
            if (n == 0)
            {
                return i > 0;
            }

            var packet = new ReadOnlySpan<byte>(_in, 0, n);
            Volatile.Write(ref _bytesIn, _bytesIn + n);
            var now = Now;
            Observe(PacketDirection.In, now, packet);
            HostStep.Owned.receive(now, packet, _host, _outbox);
            Apply(packet);
        }

        return true;
    }

    private bool DrainRequests()
    {
        var any = false;
        while (_requests.Reader.TryRead(out var r))
        {
            any = true;
            Handle(r);
        }

        return any;
    }

    private void Handle(Request r)
    {
        switch (r)
        {
            case Request.Work work:
                TakeWork(work.Connection);
                break;
            case Request.Connect connect:
                Connect(connect.Connection, connect.Remote);
                break;
            case Request.Listen listen:
                Listen(listen.Listener, listen.Done);
                break;
            case Request.Unlisten unlisten:
                Unlisten(unlisten.Listener);
                break;
            case Request.Accepted accepted:
                accepted.Listener.Queued--;
                PullAccepted(accepted.Listener);
                break;
            case Request.Close close:
                TakeWork(close.Connection);
                Command(close.Connection, Core.Tcp.Command.Close);
                break;
            case Request.Discard discard:
                TakeWork(discard.Connection);
                discard.Connection.StartDiscarding();
                DiscardUnread(discard.Connection);
                break;
            case Request.Abort abort:
                Command(abort.Connection, Core.Tcp.Command.Abort);
                break;
            case Request.CloseAll closeAll:
                CloseAll(closeAll.Reply);
                break;
            case Request.AbortAll:
                AbortAll();
                break;
            case Request.Stop:
                _stopping = true;
                break;
        }
    }

    /// <summary>Hands the core what the application wrote and read since the last time.</summary>
    private void TakeWork(TcpStackConnection c)
    {
        var (written, freed) = c.TakeWork();
        if (written > 0)
        {
            Command(c, Core.Tcp.Command.NewSend(written));
        }

        if (freed > 0)
        {
            Command(c, Core.Tcp.Command.NewConsumed(freed));
        }
    }

    private void Connect(TcpStackConnection c, IPEndPoint remote)
    {
        var address = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(remote.Address.GetAddressBytes()));
        var result = HostStep.connect(Now, address, (ushort)remote.Port, _host);
        if (result.IsError)
        {
            c.Fail(ToSocketError(result.ErrorValue));
            c.Finish();
            return;
        }

        var (host, tuple, output) = result.ResultValue;
        _host = host;
        var core = host.Connections[tuple];
        c.Attach(tuple, (core.InitialSendSequence + 1).Value);
        _connections[tuple] = c;
        Apply(ListModule.ToArray(output.Transmits), ListModule.ToArray(output.Connections), ReadOnlySpan<byte>.Empty);
    }

    private void Listen(TcpStackListener l, TaskCompletionSource done)
    {
        var result = HostStep.listen(l.Port, l.Backlog, _host);
        if (result.IsError)
        {
            done.TrySetException(new SocketException((int)ToSocketError(result.ErrorValue)));
            return;
        }

        _host = result.ResultValue;
        _listeners[l.Port] = l;
        done.TrySetResult();
    }

    private void Unlisten(TcpStackListener l)
    {
        if (!_listeners.Remove(l.Port))
        {
            return;
        }

        // Connections the application never accepted are reset.
        while (true)
        {
            var (tuple, host) = HostStep.accept(l.Port, _host);
            _host = host;
            if (tuple.IsNone)
            {
                break;
            }

            if (_connections.TryGetValue(tuple.Value, out var c))
            {
                Command(c, Core.Tcp.Command.Abort);
            }
        }

        foreach (var c in l.Drain())
        {
            Command(c, Core.Tcp.Command.Abort);
        }

        _host = HostStep.unlisten(l.Port, _host);
        l.Stopped = true;
        l.Complete();
    }

    /// <summary>Moves established connections from the core's accept queue to the listener's, up to its backlog.</summary>
    private void PullAccepted(TcpStackListener l)
    {
        while (!l.Stopped && l.Queued < l.Backlog)
        {
            var (tuple, host) = HostStep.accept(l.Port, _host);
            _host = host;
            if (tuple.IsNone)
            {
                return;
            }

            if (_connections.TryGetValue(tuple.Value, out var c))
            {
                l.Queued++;
                l.Offer(c);
            }
        }
    }

    private void Command(TcpStackConnection c, Command command)
    {
        var result = HostStep.Owned.command(Now, c.Tuple, command, _host, _outbox);
        if (result.IsOk)
        {
            Apply(ReadOnlySpan<byte>.Empty);
        }
    }

    private void DiscardUnread(TcpStackConnection c)
    {
        var n = c.TakeForDiscard();
        if (n > 0)
        {
            Command(c, Core.Tcp.Command.NewConsumed(n));
        }
    }

    /// <summary>Carries out the output of the host's last in-place step.</summary>
    private void Apply(ReadOnlySpan<byte> packet) => Apply(_outbox.Transmits, _outbox.Connections, packet);

    /// <summary>Carries out a step's output.</summary>
    private void Apply(
        ReadOnlySpan<Transmit> transmits,
        ReadOnlySpan<(FourTuple Tuple, Output Output)> connections,
        ReadOnlySpan<byte> packet)
    {
        foreach (ref readonly var touched in connections)
        {
            TrackNew(touched.Tuple);
        }

        foreach (ref readonly var t in transmits)
        {
            Transmit(in t);
        }

        FlushRun();

        foreach (ref readonly var touched in connections)
        {
            if (_connections.TryGetValue(touched.Tuple, out var c))
            {
                Deliver(c, in touched.Output, packet);
            }

            Schedule(touched.Tuple);
        }
    }

    /// <summary>
    /// A connection the host opened for a listener gets its application side. A new
    /// connection on the tuple of one in TIME-WAIT (the peer reused its port) replaces
    /// the old one's application side, which is finished.
    /// </summary>
    private void TrackNew(FourTuple tuple)
    {
        if (!_host.Connections.TryGetValue(tuple, out var core))
        {
            return;
        }

        var sendBase = (core.InitialSendSequence + 1).Value;
        if (_connections.TryGetValue(tuple, out var existing))
        {
            if (existing.SendBase == sendBase)
            {
                return;
            }

            _connections.Remove(tuple);
            existing.Finish();
        }

        if (!_listeners.TryGetValue(tuple.LocalPort, out var listener))
        {
            return;
        }

        var c = new TcpStackConnection(this, SendBufferSize, ReceiveBufferSize, listener);
        c.Attach(tuple, sendBase);
        _connections[tuple] = c;
    }

    private void Transmit(in Transmit t)
    {
        if (t.IsDatagram)
        {
            Send(t.bytes);
            return;
        }

        var s = t;
        var segment = s.segment;
        var header = segment.Header;
        if (_pendingAcks.TryGetValue(s.tuple, out var pending))
        {
            var advances = (header.Flags & TcpFlags.Ack) != 0
                && (header.Flags & (TcpFlags.Syn | TcpFlags.Rst)) == 0
                && (int)(header.AcknowledgmentNumber - pending.Header.AcknowledgmentNumber) > 0;
            _pendingAcks.Remove(s.tuple);
            if (!advances)
            {
                Write(s.tuple, pending);
            }
        }

        if (_batching && segment.PayloadLength == 0 && header.Flags == TcpFlags.Ack)
        {
            if (!_pendingOrder.Contains(s.tuple))
            {
                _pendingOrder.Add(s.tuple);
            }

            _pendingAcks[s.tuple] = segment;
            return;
        }

        Write(s.tuple, segment);
    }

    private void FlushPendingAcks()
    {
        foreach (var tuple in _pendingOrder)
        {
            if (_pendingAcks.Remove(tuple, out var ack))
            {
                Write(tuple, ack);
            }
        }

        _pendingOrder.Clear();
    }

    /// <summary>Builds a segment's packet, with its payload from the send ring, and sends it.</summary>
    private void Write(FourTuple tuple, Outgoing segment)
    {
        if (_offload is { CanWriteRuns: true } && SegmentRun.CanCarry(segment)
            && _connections.TryGetValue(tuple, out var owner))
        {
            if (_run.Continues(tuple, segment))
            {
                owner.CopyPayload(segment.Header.SequenceNumber, _run.Append(segment));
                return;
            }

            FlushRun();
            owner.CopyPayload(segment.Header.SequenceNumber, _run.Start(tuple, segment));
            return;
        }

        FlushRun();
        WriteOne(tuple, segment);
    }

    /// <summary>Sends the gathered run: as one packet the device splits, or as a plain segment.</summary>
    private void FlushRun()
    {
        if (_run.Count == 0)
        {
            return;
        }

        var segment = _run.Segment;
        var n = HostStep.writeSegment(_host, _run.Tuple, segment, _run.Payload, _out);
        var packet = _out.AsSpan(0, n);
        if (_run.Count == 1)
        {
            Send(packet);
        }
        else
        {
            Observe(PacketDirection.Out, Now, packet);
            Volatile.Write(ref _bytesOut, _bytesOut + packet.Length);
            _offload!.WriteRun(packet, n - segment.PayloadLength, _run.SegmentSize);
        }

        _run.Clear();
    }

    private void WriteOne(FourTuple tuple, Outgoing segment)
    {
        var payload = _payload.AsSpan(0, segment.PayloadLength);
        if (segment.PayloadLength > 0 && _connections.TryGetValue(tuple, out var c))
        {
            c.CopyPayload(segment.Header.SequenceNumber, payload);
        }

        var n = HostStep.writeSegment(_host, tuple, segment, payload, _out);
        Send(_out.AsSpan(0, n));
    }

    private void Send(ReadOnlySpan<byte> packet)
    {
        Observe(PacketDirection.Out, Now, packet);
        Volatile.Write(ref _bytesOut, _bytesOut + packet.Length);
        _device.Write(packet);
    }

    private void Observe(PacketDirection direction, long now, ReadOnlySpan<byte> packet)
    {
        _capture?.Write(now, packet);
        _observer?.Invoke(direction, packet);
    }

    private void Deliver(TcpStackConnection c, in Output o, ReadOnlySpan<byte> packet)
    {
        var found = _host.Connections.TryGetValue(c.Tuple, out var core);
        if (found)
        {
            c.SetState(ToTcpState(core!.CurrentState));
            var retransmitted = core.RetransmissionCount - c.Retransmissions;
            if (retransmitted > 0)
            {
                c.Retransmissions = core.RetransmissionCount;
                Volatile.Write(ref _retransmissions, _retransmissions + retransmitted);
            }

            if (c.ReceiveBase is null && core.CurrentState != CoreState.SynSent)
            {
                c.ReceiveBase = (core.InitialReceiveSequence + 1).Value;
            }
        }

        if (o.Arrived.IsSome && !packet.IsEmpty)
        {
            var a = o.Arrived.Value;
            c.StoreArrived(a.Sequence.Value, packet.Slice(a.PayloadOffset, a.Length));
        }

        if (o.Readable > 0)
        {
            c.PublishReadable(o.Readable);
            if (c.Discarding)
            {
                DiscardUnread(c);
            }
        }

        if (o.Released > 0)
        {
            c.PublishReleased(o.Released);
        }

        for (var events = o.Events; !events.IsEmpty; events = events.Tail)
        {
            switch (events.Head.Tag)
            {
                case Event.Tags.Connected:
                    if (c.Connecting is { } connecting)
                    {
                        c.Connecting = null;
                        connecting.TrySetResult(c);
                    }
                    else if (c.Listener is { } listener)
                    {
                        PullAccepted(listener);
                    }

                    break;
                case Event.Tags.Refused:
                    c.Fail(SocketError.ConnectionRefused);
                    break;
                case Event.Tags.Reset:
                    c.Fail(SocketError.ConnectionReset);
                    break;
                case Event.Tags.TimedOut:
                    c.Fail(SocketError.TimedOut);
                    break;
                case Event.Tags.PeerClosed:
                    c.PublishPeerClosed();
                    break;
                case Event.Tags.Closed:
                    break;
            }
        }

        if (!found)
        {
            _connections.Remove(c.Tuple);
            c.Finish();
        }
        else if (core!.CurrentState == CoreState.TimeWait)
        {
            c.MarkDone();
        }
    }

    public void Stop()
    {
        Post(new Request.Stop());
    }

    public bool Join(TimeSpan timeout) => _thread.Join(timeout);

    /// <summary>Closes every connection and listener; replies with a task that completes when all closed.</summary>
    private void CloseAll(TaskCompletionSource<Task> reply)
    {
        foreach (var l in _listeners.Values.ToArray())
        {
            Unlisten(l);
        }

        var closing = new List<Task>();
        foreach (var c in _connections.Values.ToArray())
        {
            Command(c, Core.Tcp.Command.Close);
            c.StartDiscarding();
            DiscardUnread(c);
            closing.Add(c.Completion);
        }

        reply.TrySetResult(Task.WhenAll(closing));
    }

    private void AbortAll()
    {
        foreach (var c in _connections.Values.ToArray())
        {
            Command(c, Core.Tcp.Command.Abort);
        }
    }

    internal static SocketError ToSocketError(HostError error) => error switch
    {
        HostError.AddressInUse => SocketError.AddressAlreadyInUse,
        _ when error.IsNoEphemeralPort => SocketError.AddressNotAvailable,
        _ => SocketError.NotConnected,
    };

    internal static TcpState ToTcpState(CoreState s) => s.Tag switch
    {
        CoreState.Tags.Closed => TcpState.Closed,
        CoreState.Tags.Listen => TcpState.Listen,
        CoreState.Tags.SynSent => TcpState.SynSent,
        CoreState.Tags.SynReceived => TcpState.SynReceived,
        CoreState.Tags.Established => TcpState.Established,
        CoreState.Tags.FinWait1 => TcpState.FinWait1,
        CoreState.Tags.FinWait2 => TcpState.FinWait2,
        CoreState.Tags.CloseWait => TcpState.CloseWait,
        CoreState.Tags.Closing => TcpState.Closing,
        CoreState.Tags.LastAck => TcpState.LastAck,
        CoreState.Tags.TimeWait => TcpState.TimeWait,
        _ => TcpState.Unknown,
    };
}
