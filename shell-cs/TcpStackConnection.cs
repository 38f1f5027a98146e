using System.IO.Pipelines;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Stack.Core.Host;
using Stack.Core.Tcp;

namespace Stack.Shell;

/// <summary>
/// One TCP connection of a <see cref="TcpStack"/>. Read and write it as a
/// <see cref="Stream"/>, an <see cref="IDuplexPipe"/>, or with its own
/// <see cref="ReadAsync"/> and <see cref="WriteAsync"/>. One reader and one writer at a
/// time, as with a socket.
/// </summary>
/// <remarks>
/// The bytes travel through two rings shared with the stack thread, each with one producer
/// and one consumer: the application writes the send ring and the stack thread reads it;
/// the stack thread writes the receive ring (out-of-order bytes at their offset) and the
/// application reads it. Counters published with volatile writes say how far each got.
/// </remarks>
public sealed class TcpStackConnection : IAsyncDisposable, IDisposable
{
    private readonly StackLoop _stack;
    private readonly int _sendBufferSize;
    private readonly int _unsentLimit;

    // Pool memory only while bytes are buffered (see PooledRing): the application writes
    // the send ring and the stack thread reads it; the stack thread writes the receive ring
    // and the application reads it.
    private readonly PooledRing _sendRing;
    private readonly PooledRing _receiveRing;
    private readonly AsyncSignal _readable = new();
    private readonly AsyncSignal _sendSpace = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Each field has one writing thread. Application side:
    private long _written;
    private long _consumed;
    private bool _shutdown;
    private volatile bool _aborted;
    private int _disposed;
    private bool _noDelay;
    private TcpKeepalive? _keepalive;

    // Stack side, published with volatile writes:
    private long _released;
    private long _sentEnd;
    private long _received;
    private volatile bool _peerClosed;
    private volatile int _error;
    private volatile int _state = (int)TcpState.SynSent;
    private volatile bool _discarding;

    // Set by the stack thread once it will neither read the send ring nor write the
    // receive ring again (TIME-WAIT or CLOSED).
    private volatile bool _ringsDone;

    // Stack thread only: counted out of the listener's live connections.
    private bool _ended;

    // Stack side, stack thread only: how much of what the application wrote the core was
    // given, and how far the core was told the receive buffer is free, which runs ahead
    // of what the application read once the stack discards on its behalf.
    private long _writtenTaken;
    private long _freedInCore;

    // Stack side, stack thread only: one past the furthest byte stored in the receive ring
    // (out-of-order bytes run ahead of what is readable).
    private long _storedEnd;

    // The one notice that this connection has work, and whether it waits in the queue.
    private readonly Request.Work _work;
    private int _workPosted;

    private ConnectionStream? _stream;
    private IDuplexPipe? _pipe;

    internal TcpStackConnection(StackLoop stack, int sendBuffer, int receiveBuffer, TcpStackListener? listener)
    {
        _stack = stack;
        _work = new Request.Work(this);
        _sendBufferSize = sendBuffer;
        ReceiveBufferSize = receiveBuffer;
        _unsentLimit = stack.UnsentLimit;
        _noDelay = stack.NoDelay;
        _sendRing = new PooledRing(BufferPool.Shared, stack.Memory, sendBuffer);
        _receiveRing = new PooledRing(BufferPool.Shared, stack.Memory, receiveBuffer);
        Listener = listener;
    }

    /// <summary>Bytes the send buffer holds.</summary>
    public int SendBufferSize => _sendBufferSize;

    /// <summary>Bytes the receive buffer may grow to: the largest window this end offers.</summary>
    public int ReceiveBufferSize { get; }

    /// <summary>This end's address and port.</summary>
    public IPEndPoint LocalEndPoint { get; private set; } = new(IPAddress.Any, 0);

    /// <summary>The peer's address and port.</summary>
    public IPEndPoint RemoteEndPoint { get; private set; } = new(IPAddress.Any, 0);

    /// <summary>The connection's state as the stack last saw it.</summary>
    public TcpState State => (TcpState)_state;

    /// <summary>Bytes received and not yet read by the application (none once it closed for reading).</summary>
    public long Unread => _discarding ? 0 : Volatile.Read(ref _received) - _consumed;

    /// <summary>Bytes written and not yet acknowledged by the peer (as SIOCOUTQ).</summary>
    public long Unacknowledged => _written - Volatile.Read(ref _released);

    /// <summary>Bytes written that the peer acknowledged.</summary>
    internal long Acknowledged => Volatile.Read(ref _released);

    /// <summary>Bytes that arrived in order from the peer.</summary>
    internal long Received => Volatile.Read(ref _received);

    /// <summary>Bytes written and not yet sent (as SIOCOUTQNSD).</summary>
    public long Unsent => Math.Max(0, _written - Volatile.Read(ref _sentEnd));

    /// <summary>Completes when the connection reached CLOSED (or TIME-WAIT) or failed.</summary>
    public Task Completion => _closed.Task;

    /// <summary>
    /// The connection as a stream that owns it: disposing the stream disposes the
    /// connection, as a <see cref="NetworkStream"/> that owns its socket does.
    /// </summary>
    public Stream Stream => _stream ??= new ConnectionStream(this, leaveOpen: false);

    /// <summary>
    /// What <see cref="Dispose"/> waits for. <c>null</c> (the default): nothing, it returns
    /// at once and the graceful close goes on in the stack. <see cref="TimeSpan.Zero"/>:
    /// it aborts (the peer gets a reset), as a socket with linger on and a zero timeout.
    /// Longer: it waits up to that long for the close to complete, then aborts.
    /// </summary>
    public TimeSpan? Linger { get; set; }

    /// <summary>Nagle's algorithm off (TCP_NODELAY); turning it off sends what it held at once.</summary>
    public bool NoDelay
    {
        get => _noDelay;
        set
        {
            _noDelay = value;
            _stack.Post(new Request.Tune(this, Core.Tcp.Command.NewSetNoDelay(value)));
        }
    }

    /// <summary>Keepalive probes for this connection (SO_KEEPALIVE), or <c>null</c> for none (the default).</summary>
    public TcpKeepalive? Keepalive
    {
        get => _keepalive;
        set
        {
            _keepalive = value;
            _stack.Post(new Request.Tune(this, value?.ToCommand() ?? Core.Host.Configure.keepaliveOff));
        }
    }

    /// <summary>
    /// The connection as a pair of pipes: completing the output sends FIN after what was
    /// written (completing it with an error aborts); neither pipe disposes the connection.
    /// </summary>
    public IDuplexPipe Pipe => _pipe ??= new ConnectionPipe(this);

    /// <summary>
    /// The connection as a stream; with <paramref name="leaveOpen"/> disposing the stream
    /// leaves the connection open, otherwise it disposes the connection (as <see cref="Stream"/>).
    /// </summary>
    public Stream GetStream(bool leaveOpen) => leaveOpen ? new ConnectionStream(this, leaveOpen: true) : Stream;

    internal FourTuple Tuple { get; private set; }

    internal TcpStackListener? Listener { get; }

    /// <summary>Sequence number of the first data byte we send (ISS + 1).</summary>
    internal uint SendBase { get; set; }

    /// <summary>Sequence number of the first data byte we receive (IRS + 1), once known.</summary>
    internal uint? ReceiveBase { get; set; }

    internal TaskCompletionSource<TcpStackConnection>? Connecting { get; set; }

    /// <summary>The application stopped reading for good: the stack discards what arrives.</summary>
    internal bool Discarding => _discarding;

    internal bool Finished => _closed.Task.IsCompleted;

    internal SocketError Error => (SocketError)_error;

    private string? _readTrack;
    private string? _writeTrack;

    /// <summary>
    /// A read or write of the application's that waited on this connection, for the trace
    /// (when there is one). Reads and writes get a track each: they may wait at once, and
    /// a track's spans must nest.
    /// </summary>
    private void TraceWait(bool read, long start)
    {
        if (_stack.Tracing)
        {
            var track = read
                ? _readTrack ??= $"application {LocalEndPoint} to {RemoteEndPoint}: reads"
                : _writeTrack ??= $"application {LocalEndPoint} to {RemoteEndPoint}: writes";
            _stack.TraceCall(track, read ? "read wait" : "write wait (send buffer full)", start);
        }
    }

    /// <summary>
    /// The readable bytes as a view of the receive ring, for a pipe reader: none when
    /// nothing is readable. The ring stays put until <see cref="ConsumeView"/>.
    /// </summary>
    internal bool TryViewReadable(out long start, out ReadOnlyMemory<byte> first, out ReadOnlyMemory<byte> second)
    {
        start = _consumed;
        first = second = default;
        if (_discarding)
        {
            return false;
        }

        var available = Volatile.Read(ref _received) - _consumed;
        if (available <= 0)
        {
            return false;
        }

        lock (_receiveRing.Gate)
        {
            var memory = _receiveRing.CurrentMemory;
            if (memory.IsEmpty)
            {
                return false;
            }

            _receiveRing.Pin();
            var at = (int)(_consumed & (memory.Length - 1));
            var head = (int)Math.Min(available, memory.Length - at);
            first = memory.Slice(at, head);
            second = memory[..(int)(available - head)];
            return true;
        }
    }

    /// <summary>A pipe reader is done with its view: <paramref name="count"/> bytes of it were consumed.</summary>
    internal void ConsumeView(long count)
    {
        lock (_receiveRing.Gate)
        {
            Volatile.Write(ref _consumed, _consumed + count);
            _receiveRing.Unpin();
            _receiveRing.Release(drained: _ringsDone && _consumed == Volatile.Read(ref _received));
        }

        if (count > 0)
        {
            PostWork();
        }
    }

    /// <summary>For a pipe reader: the peer closed, or the connection failed (which throws).</summary>
    internal bool ReadEnded()
    {
        if (_discarding)
        {
            ThrowIfFailed();
            return true;
        }

        if (_peerClosed)
        {
            return true;
        }

        ThrowIfFailed();
        return false;
    }

    /// <summary>Bytes readable now that the application has not consumed.</summary>
    internal long Readable => Volatile.Read(ref _received) - _consumed;

    /// <summary>Waits until more bytes are readable, the peer closes, or the connection fails.</summary>
    internal Task WaitReadableAsync(CancellationToken cancellationToken) => _readable.WaitAsync(cancellationToken);

    /// <summary>Wakes a waiting pipe reader (its read was cancelled).</summary>
    internal void WakeReader() => _readable.Set();

    /// <summary>Reads received bytes into <paramref name="buffer"/>; 0 once the peer closed and all was read.</summary>
    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (true)
        {
            if (_discarding)
            {
                // Closed for reading (by an abort: failed): what arrives now is the stack's to drop.
                ThrowIfFailed();
                return 0;
            }

            var peerClosed = _peerClosed;
            var available = Volatile.Read(ref _received) - _consumed;
            if (available > 0)
            {
                var n = (int)Math.Min(available, buffer.Length);
                lock (_receiveRing.Gate)
                {
                    if (_receiveRing.Current is not { } ring)
                    {
                        // Handed back as the stack started discarding: read again.
                        continue;
                    }

                    ring.Read(_consumed, buffer.Span[..n]);
                    Volatile.Write(ref _consumed, _consumed + n);
                    if (_ringsDone && _consumed == Volatile.Read(ref _received))
                    {
                        _receiveRing.Release(drained: true);
                    }
                }

                PostWork();
                return n;
            }

            if (peerClosed)
            {
                return 0;
            }

            ThrowIfFailed();
            var waitStart = _stack.Tracing ? _stack.TraceClock : 0;
            try
            {
                await _readable.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                TraceWait(read: true, waitStart);
            }
        }
    }

    /// <summary>Queues all of <paramref name="data"/> for sending, waiting while the send buffer is full.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        while (!data.IsEmpty)
        {
            ThrowIfFailed();
            if (_shutdown)
            {
                throw new SocketException((int)(_aborted ? SocketError.OperationAborted : SocketError.Shutdown));
            }

            var space = SendSpace();
            if (space <= 0)
            {
                var waitStart = _stack.Tracing ? _stack.TraceClock : 0;
                try
                {
                    await _sendSpace.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    TraceWait(read: false, waitStart);
                }

                continue;
            }

            var n = (int)Math.Min(space, data.Length);
            lock (_sendRing.Gate)
            {
                var released = Volatile.Read(ref _released);
                var ring = _sendRing.Grow(released, _written, (int)(_written + n - released), oldMayBeRead: true);
                ring.Write(_written, data.Span[..n]);
                Volatile.Write(ref _written, _written + n);
                if (_ringsDone)
                {
                    _sendRing.Release(drained: true);
                }
            }

            PostWork();
            data = data[n..];
        }
    }

    /// <summary>
    /// Bytes the writer may add now: within the send buffer, at most the unsent limit ahead
    /// of what was sent, and, while little is in flight, within a ring no larger than the
    /// smallest block that holds what is in flight plus half the unsent limit, so a peer
    /// that stopped reading pins a small ring (the unsent bytes never drop below half).
    /// </summary>
    private long SendSpace()
    {
        var released = Volatile.Read(ref _released);
        var sentEnd = Volatile.Read(ref _sentEnd);
        var inFlight = Math.Max(0, sentEnd - released);
        var ringCap = BufferPool.BlockSize((int)Math.Min(1 << 30, inFlight + _unsentLimit / 2));
        var buffered = _written - released;
        return Math.Min(
            Math.Min(_sendBufferSize - buffered, ringCap - buffered),
            _unsentLimit - (_written - sentEnd));
    }

    /// <summary>Sends FIN after the queued data: the peer reads end of stream; we can still read.</summary>
    public void ShutdownWrite()
    {
        if (!_shutdown)
        {
            _shutdown = true;
            _stack.Post(new Request.Close(this));
        }
    }

    /// <summary>
    /// Closes gracefully: FIN after the queued data, then waits until the peer acknowledged
    /// it and closed its side too (or the connection failed). Data still arriving is discarded.
    /// </summary>
    public async Task CloseAsync(CancellationToken cancellationToken = default)
    {
        ShutdownWrite();
        _stack.Post(new Request.Discard(this));
        await _closed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Drops the connection at once; the peer gets a reset, and reads and writes waiting or
    /// to come fail with <see cref="SocketError.OperationAborted"/>.
    /// </summary>
    public void Abort()
    {
        _aborted = true;
        _shutdown = true;
        _stack.Post(new Request.Abort(this));
    }

    /// <summary>
    /// Closes as a socket does: FIN after the queued data (still sent), what arrives from
    /// now on discarded, and, unless <see cref="Linger"/> says otherwise, returns at once
    /// while the stack finishes the close (a peer that never closes is given up on after
    /// the FIN-WAIT-2 timeout).
    /// </summary>
    public void Dispose()
    {
        if (BeginDispose() is { } linger && !_closed.Task.Wait(linger))
        {
            Abort();
        }
    }

    /// <summary>As <see cref="Dispose"/>; a <see cref="Linger"/> wait is asynchronous.</summary>
    public async ValueTask DisposeAsync()
    {
        if (BeginDispose() is { } linger)
        {
            try
            {
                await _closed.Task.WaitAsync(linger).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Abort();
            }
        }
    }

    /// <summary>Starts closing once; how long to wait for the close to complete, if at all.</summary>
    private TimeSpan? BeginDispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0 || Finished)
        {
            return null;
        }

        var linger = Linger;
        if (linger == TimeSpan.Zero)
        {
            Abort();
            return null;
        }

        ShutdownWrite();
        _stack.Post(new Request.Discard(this));
        return linger;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{LocalEndPoint} -> {RemoteEndPoint} ({State})";

    private void ThrowIfFailed()
    {
        var error = _error;
        if (error != 0)
        {
            throw new SocketException(error);
        }
    }

    // ---- Called on the stack thread only. ----

    internal void Attach(FourTuple tuple, uint sendBase)
    {
        Tuple = tuple;
        SendBase = sendBase;
        LocalEndPoint = new IPEndPoint(tuple.LocalAddress.ToIPAddress(), tuple.LocalPort);
        RemoteEndPoint = new IPEndPoint(tuple.RemoteAddress.ToIPAddress(), tuple.RemotePort);
    }

    internal void SetState(TcpState state) => _state = (int)state;

    /// <summary>
    /// Copies the payload of the segment that starts at <paramref name="sequence"/>, and
    /// notes how far the stack has sent: a writer held back by the unsent limit may go on.
    /// </summary>
    internal void CopyPayload(uint sequence, Span<byte> destination)
    {
        // A sequence number gives the position modulo 2^32; what the core sends lies within
        // what it took, so count back from there.
        var position = _writtenTaken - (uint)((uint)_writtenTaken - (sequence - SendBase));
        _sendRing.Current!.Read(position, destination);
        var end = position + destination.Length;
        var sentEnd = _sentEnd;
        if (end > sentEnd)
        {
            Volatile.Write(ref _sentEnd, end);
            if (Volatile.Read(ref _written) - sentEnd >= _unsentLimit / 2)
            {
                _sendSpace.Set();
            }
        }
    }

    /// <summary>Keeps arrived bytes at their place in the receive ring (none once the application stopped reading).</summary>
    internal void StoreArrived(uint sequence, ReadOnlySpan<byte> bytes)
    {
        if (ReceiveBase is { } receiveBase && !_discarding)
        {
            var (consumed, at, end, needed) = Placement(receiveBase, sequence, bytes.Length);
            var ring = _receiveRing.Current;
            if (ring is null || needed > ring.Size)
            {
                // The application reads only with the gate held, so the old block can go back
                // at once, unless a pipe reader holds a view of it.
                lock (_receiveRing.Gate)
                {
                    ring = _receiveRing.Grow(consumed, Math.Max(_storedEnd, _received), needed, oldMayBeRead: _receiveRing.Pinned);
                }
            }

            ring.Write(at, bytes);
            _storedEnd = end;
        }
    }

    /// <summary>Whether storing <paramref name="length"/> bytes from <paramref name="sequence"/> would grow the receive ring (stack thread).</summary>
    internal bool ReceiveRingMustGrow(uint sequence, int length)
    {
        return ReceiveBase is { } receiveBase && !_discarding
            && Placement(receiveBase, sequence, length).Needed > _receiveRing.Size;
    }

    /// <summary>
    /// Where arrived bytes go in the receive ring: the application's reading point, the
    /// stream position of the first byte, one past the furthest byte the ring will then
    /// hold, and the ring size that takes (stack thread).
    /// </summary>
    private (long Consumed, long At, long End, int Needed) Placement(uint receiveBase, uint sequence, int length)
    {
        // Positions are stream offsets from the application's reading point; a sequence
        // number gives one modulo 2^32, and the window keeps it ahead of it.
        var consumed = Volatile.Read(ref _consumed);
        var at = consumed + (uint)(sequence - receiveBase - (uint)consumed);
        var end = Math.Max(_storedEnd, Math.Max(_received, at + length));
        return (consumed, at, end, (int)Math.Min(int.MaxValue, end - consumed));
    }

    /// <summary>
    /// Hands back pool memory the connection no longer needs: retired blocks, the send ring
    /// once all it held is acknowledged, the receive ring once all it held was read (or is
    /// discarded). Skips a ring whose gate the application holds: its next write or read
    /// brings the connection back here.
    /// </summary>
    internal void ReleaseIdleRings()
    {
        if (_sendRing.HoldsAny && Monitor.TryEnter(_sendRing.Gate))
        {
            try
            {
                _sendRing.Release(_ringsDone || Volatile.Read(ref _written) == _released);
            }
            finally
            {
                Monitor.Exit(_sendRing.Gate);
            }
        }

        if (_receiveRing.HoldsAny && Monitor.TryEnter(_receiveRing.Gate))
        {
            try
            {
                _receiveRing.Release(_discarding || (_consumed == _received && _storedEnd <= _received));
            }
            finally
            {
                Monitor.Exit(_receiveRing.Gate);
            }
        }
    }

    /// <summary>Bytes of pool memory the connection's rings hold now.</summary>
    internal long RingBytes => _sendRing.Size + _receiveRing.Size;

    /// <summary>Publishes <paramref name="count"/> more readable bytes.</summary>
    internal void PublishReadable(int count)
    {
        Volatile.Write(ref _received, _received + count);
        _readable.Set();
    }

    internal void PublishReleased(int count)
    {
        Volatile.Write(ref _released, _released + count);
        _sendSpace.Set();
    }

    internal void PublishPeerClosed()
    {
        _peerClosed = true;
        _readable.Set();
    }

    internal void Fail(SocketError error)
    {
        if (_error == 0)
        {
            _error = (int)error;
        }

        _readable.Set();
        _sendSpace.Set();
        Connecting?.TrySetException(new SocketException((int)error));
        Connecting = null;
    }

    internal void StartDiscarding()
    {
        _discarding = true;
        _readable.Set();
    }

    /// <summary>Posts the connection's work notice unless it waits in the queue already.</summary>
    private void PostWork()
    {
        if (Interlocked.Exchange(ref _workPosted, 1) == 0)
        {
            _stack.Post(_work);
        }
    }

    /// <summary>
    /// What the application wrote and read since the last call (stack thread): bytes
    /// written that the core has not taken yet, and bytes of the receive buffer the core
    /// has not yet been told are free (none that were discarded). Clears the notice first,
    /// so a write or read after the counts are taken posts it again.
    /// </summary>
    internal (int Written, int Freed) TakeWork()
    {
        Interlocked.Exchange(ref _workPosted, 0);
        var send = (int)(Volatile.Read(ref _written) - _writtenTaken);
        return (send, Free(Volatile.Read(ref _consumed)));
    }

    /// <summary>The core took <paramref name="count"/> more written bytes into its send buffer (its output's <c>Queued</c>).</summary>
    internal void TakenByCore(int count) => _writtenTaken += count;

    /// <summary>Bytes the stack consumes on the application's behalf once it stopped reading (stack thread).</summary>
    internal int TakeForDiscard() => Free(_received);

    /// <summary>Moves the point the core was told is free up to <paramref name="upTo"/>; returns by how much.</summary>
    private int Free(long upTo)
    {
        var freed = (int)Math.Max(0, upTo - _freedInCore);
        _freedInCore += freed;
        return freed;
    }

    /// <summary>Counts the connection out of its listener's live ones, once (stack thread).</summary>
    private void Ended()
    {
        if (Listener is { } listener && !_ended)
        {
            _ended = true;
            listener.Live--;
        }
    }

    /// <summary>Both sides are done (TIME-WAIT): closing has completed for the application.</summary>
    internal void MarkDone()
    {
        Ended();
        _ringsDone = true;
        ReleaseIdleRings();
        _closed.TrySetResult();
    }

    internal void Finish()
    {
        Ended();
        _ringsDone = true;
        ReleaseIdleRings();
        SetState(TcpState.Closed);
        _readable.Set();
        _sendSpace.Set();
        if (Connecting is { } connecting)
        {
            connecting.TrySetException(new SocketException((int)(Error == 0 ? SocketError.ConnectionAborted : Error)));
            Connecting = null;
        }

        _closed.TrySetResult();
    }
}
