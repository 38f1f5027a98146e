using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Stack.Core;
using Stack.Core.Host;
using Stack.Core.Tcp;
using Stack.Core.Wire;
using Stack.Shell.Device;

namespace Stack.Shell;

/// <summary>
/// One instance of the user-space TCP/IP stack: a device (a TUN device, usually), the
/// thread that runs the pure core on it, and the connections it gives the application.
/// </summary>
/// <example>
/// <code>
/// await using var stack = await TcpStack.StartAsync(new TcpStackOptions { Namespace = "demo" });
/// using var listener = stack.Listen(7);
/// await using var connection = await listener.AcceptAsync();
/// await connection.Stream.CopyToAsync(connection.Stream);
/// </code>
/// </example>
public sealed class TcpStack : IAsyncDisposable, IDisposable
{
    private readonly StackLoop _loop;
    private readonly TcpStackOptions _options;
    private readonly StackMetrics _metrics;
    private int _disposed;

    private TcpStack(StackLoop loop, TcpStackOptions options)
    {
        _loop = loop;
        _options = options;
        _metrics = new StackMetrics(options.Address.ToString(), GetStatistics, options.MeterFactory);
    }

    /// <summary>The name of the <see cref="System.Diagnostics.ActivitySource"/> that traces connects and accepts.</summary>
    public static string ActivitySourceName => StackActivities.SourceName;

    /// <summary>The name of the System.Diagnostics.Metrics meter stacks publish their statistics on.</summary>
    public static string MeterName => StackMetrics.MeterName;

    /// <summary>The stack's own address.</summary>
    public IPAddress Address => _options.Address;

    /// <summary>The stack's own IPv6 address, or null when it speaks IPv4 only.</summary>
    public IPAddress? Address6 => _options.Address6;

    /// <summary>The device the stack runs on.</summary>
    public IPacketDevice Device => _loop.Device;

    /// <summary>The core's counters, as of the stack thread's last step (<see cref="GetStatistics"/> gives them to applications).</summary>
    internal Counters Counters => _loop.Counters;

    /// <summary>Connections the core holds, in any state.</summary>
    public int ConnectionCount => _loop.Connections.Count;

    /// <summary>
    /// Every connection the application has (connected, or accepted and not yet closed
    /// out), as the stack thread sees it now: state, bytes, cwnd, RTT, retransmissions.
    /// </summary>
    public Task<IReadOnlyList<TcpConnectionInfo>> GetConnectionsAsync()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var reply = new TaskCompletionSource<IReadOnlyList<TcpConnectionInfo>>(TaskCreationOptions.RunContinuationsAsynchronously);
        _loop.Post(new Request.Snapshot(reply));
        return reply.Task;
    }

    /// <summary>Packets, bytes, retransmissions, drops by reason and connections by state, now.</summary>
    public StackStatistics GetStatistics()
    {
        var c = _loop.Counters;
        var drops = new Dictionary<string, long>
        {
            ["not-ipv4"] = c.NotIpv4,
            ["malformed"] = c.Malformed,
            ["not-for-us"] = c.NotForUs,
            ["bad-source"] = c.BadSource,
            ["fragment"] = c.FragmentsDropped,
            ["unknown-protocol"] = c.UnknownProtocol,
            ["syn-backlog-full"] = c.SynsDropped,
            ["connection-limit"] = c.ConnectionLimitHits,
            ["memory-limit"] = _loop.MemoryLimitDrops,
            ["listener-limit"] = _loop.ListenerLimitDrops,
        };
        if (_loop.Device is ImpairedDevice impaired)
        {
            drops["impaired-in"] = impaired.DroppedIn;
            drops["impaired-out"] = impaired.DroppedOut;
        }

        var states = new Dictionary<System.Net.NetworkInformation.TcpState, int>();
        foreach (var connection in _loop.Connections)
        {
            var state = StackLoop.ToTcpState(connection.Value.CurrentState);
            states[state] = states.GetValueOrDefault(state) + 1;
        }

        return new StackStatistics(
            c.PacketsIn,
            c.PacketsOut,
            _loop.BytesIn,
            _loop.BytesOut,
            _loop.Retransmissions,
            drops,
            states,
            _loop.Allocated,
            _loop.Memory.Held,
            _loop.PressureEpisodes,
            c.SynCookiesSent,
            c.SynCookiesAccepted,
            c.ResetsSent,
            c.EchoReplies,
            c.Reassembled,
            c.FragmentBytesHeld);
    }

    /// <summary>Sets up the device and starts the stack thread.</summary>
    /// <exception cref="StackSetupException">The device or namespace could not be set up; the message says why.</exception>
    public static Task<TcpStack> StartAsync(TcpStackOptions options, CancellationToken cancellationToken = default) =>
        Task.Run(() => Start(options), cancellationToken);

    /// <summary>Sets up the device and starts the stack thread.</summary>
    public static TcpStack Start(TcpStackOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var device = options.Device ?? TunDevice.Open(new TunOptions
        {
            Name = options.TunName,
            Namespace = options.Namespace,
            Mtu = options.Mtu,
            KernelAddress = options.KernelAddress,
            KernelAddress6 = options.Address6 is null ? null : options.KernelAddress6,
            Offload = options.Offload,
        });
        if (options.InboundImpairment is not null || options.OutboundImpairment is not null)
        {
            device = new ImpairedDevice(device, options.InboundImpairment, options.OutboundImpairment, options.ImpairmentSeed);
        }

        try
        {
            var key = RandomNumberGenerator.GetBytes(16);
            var hostOptions = Configure.hostOptions(
                ToCore(options.Address),
                Math.Min(device.Mtu, options.Mtu),
                options.SendBufferSize,
                options.InitialReceiveBufferSize,
                options.ReceiveBufferSize,
                options.NoDelay,
                new Isn.IsnKey(BinaryPrimitives.ReadUInt64LittleEndian(key), BinaryPrimitives.ReadUInt64LittleEndian(key.AsSpan(8))));
            if (options.Address6 is { } address6)
            {
                hostOptions = Configure.withAddress6(IpAddress.OfIPAddress(address6), hostOptions);
            }

            hostOptions = Configure.withFragmentMemory(options.FragmentMemory, hostOptions);
            hostOptions = options.Tcp.ApplyTo(hostOptions);
            if (options.TracePath is not null)
            {
                hostOptions = Configure.withTraceNotes(hostOptions);
            }

            var logger = options.LoggerFactory?.CreateLogger<TcpStack>();
            var loop = new StackLoop(OwnedHost.Create(hostOptions), device, options.CapturePath, options.OnPacket)
            {
                Logger = logger,
                UnsentLimit = options.UnsentLimit,
                MemoryLimitBytes = options.EffectiveMemoryLimit,
                MemoryPressureBytes = options.EffectiveMemoryLimit / 4 * 3,
                TracePath = options.TracePath,
            };
            loop.Start();
            logger?.LogInformation(
                "tcpstack {Address} started on {Device} (MTU {Mtu}){Namespace}",
                options.Address,
                device.GetType().Name,
                device.Mtu,
                options.Namespace is { } ns ? $" in namespace {ns}" : "");
            return new TcpStack(loop, options);
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    /// <summary>Opens a connection to <paramref name="remote"/>.</summary>
    /// <exception cref="SocketException">ConnectionRefused, TimedOut (also after <see cref="TcpStackOptions.ConnectTimeout"/>), AddressNotAvailable.</exception>
    public Task<TcpStackConnection> ConnectAsync(IPEndPoint remote, CancellationToken cancellationToken = default) =>
        ConnectAsync(remote, options: null, cancellationToken);

    /// <summary>Opens a connection to <paramref name="remote"/> with its own <paramref name="options"/> (buffer sizes).</summary>
    /// <exception cref="SocketException">ConnectionRefused, TimedOut (also after <see cref="TcpStackOptions.ConnectTimeout"/>), AddressNotAvailable.</exception>
    public async Task<TcpStackConnection> ConnectAsync(IPEndPoint remote, TcpConnectionOptions? options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(remote);
        options?.Validate(nameof(options));
        if (remote.AddressFamily == AddressFamily.InterNetworkV6 && _options.Address6 is null && !remote.Address.IsIPv4MappedToIPv6)
        {
            throw new ArgumentException($"the stack has no IPv6 address (TcpStackOptions.Address6) to reach {remote} from", nameof(remote));
        }

        if (remote.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"the stack speaks IPv4 and IPv6, not {remote.AddressFamily} ({remote})", nameof(remote));
        }

        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var c = new TcpStackConnection(
            _loop,
            options?.SendBufferSize ?? _loop.SendBufferSize,
            options?.ReceiveBufferSize ?? _loop.ReceiveBufferSize,
            listener: null);
        var connected = new TaskCompletionSource<TcpStackConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        c.Connecting = connected;
        using var activity = StackActivities.Connect(remote);
        var traceStart = _loop.Tracing ? _loop.TraceClock : 0;
        _loop.Post(new Request.Connect(c, remote));
        using var timeout = _options.ConnectTimeout is { } limit ? new CancellationTokenSource(limit) : null;
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout?.Token ?? default);
        using (either.Token.Register(() =>
        {
            if (connected.TrySetCanceled(either.Token))
            {
                c.Abort();
            }
        }))
        {
            try
            {
                var connection = await connected.Task.ConfigureAwait(false);
                StackActivities.Connected(activity, connection);
                if (_loop.Tracing)
                {
                    _loop.TraceCall($"application {connection.LocalEndPoint} to {connection.RemoteEndPoint}: connect", "connect", traceStart);
                }

                return connection;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && timeout is not null)
            {
                StackActivities.Failed(activity, "connect timed out");
                throw new SocketException((int)SocketError.TimedOut);
            }
            catch (Exception e)
            {
                StackActivities.Failed(activity, e.Message);
                throw;
            }
        }
    }

    /// <summary>Opens a connection to <paramref name="address"/>:<paramref name="port"/>.</summary>
    public Task<TcpStackConnection> ConnectAsync(string address, int port, CancellationToken cancellationToken = default) =>
        ConnectAsync(new IPEndPoint(IPAddress.Parse(address), port), cancellationToken);

    /// <summary>
    /// Listens on <paramref name="port"/>, keeping up to <paramref name="backlog"/> connections
    /// for accept, with at most <paramref name="maxConnections"/> open at once; each takes
    /// <paramref name="options"/> (buffer sizes) where given. It takes connections of both
    /// families, or of <paramref name="family"/> only (<see cref="AddressFamily.InterNetwork"/>
    /// or <see cref="AddressFamily.InterNetworkV6"/>); a SYN of the other family is reset.
    /// </summary>
    /// <exception cref="SocketException">AddressAlreadyInUse when the port is taken.</exception>
    /// <exception cref="ArgumentException">The family is not IPv4 or IPv6, or IPv6 where the stack has no IPv6 address.</exception>
    public TcpStackListener Listen(
        int port,
        int backlog = 128,
        int maxConnections = int.MaxValue,
        TcpConnectionOptions? options = null,
        AddressFamily family = AddressFamily.Unspecified)
    {
        options?.Validate(nameof(options));
        if (family is not (AddressFamily.Unspecified or AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"a listener takes IPv4, IPv6 or both (Unspecified), not {family}", nameof(family));
        }

        if (family == AddressFamily.InterNetworkV6 && _options.Address6 is null)
        {
            throw new ArgumentException("this stack has no IPv6 address (TcpStackOptions.Address6 is null): an IPv6-only listener would take nothing", nameof(family));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        ArgumentOutOfRangeException.ThrowIfLessThan(backlog, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConnections, 1);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var listener = new TcpStackListener(
            _loop,
            new IPEndPoint(family == AddressFamily.InterNetworkV6 ? _options.Address6! : Address, port),
            family,
            backlog,
            maxConnections,
            options?.SendBufferSize ?? _loop.SendBufferSize,
            options?.ReceiveBufferSize ?? _loop.ReceiveBufferSize);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _loop.Post(new Request.Listen(listener, done));
        done.Task.GetAwaiter().GetResult();
        return listener;
    }

    /// <summary>
    /// Closes every connection gracefully (within <see cref="TcpStackOptions.CloseTimeout"/>,
    /// then aborts the rest), stops the thread, and removes the device (and a namespace it created).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var reply = new TaskCompletionSource<Task>(TaskCreationOptions.RunContinuationsAsynchronously);
        _loop.Post(new Request.CloseAll(reply));
        try
        {
            var closing = await reply.Task.WaitAsync(_options.CloseTimeout).ConfigureAwait(false);
            await closing.WaitAsync(_options.CloseTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _loop.Post(new Request.AbortAll());
        }
        catch (ObjectDisposedException)
        {
        }

        _metrics.Dispose();
        _loop.Stop();
        await Task.Run(() => _loop.Join(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        _loop.Device.Dispose();
        _loop.Logger?.LogInformation("tcpstack {Address} stopped", Address);
    }

    /// <summary>As <see cref="DisposeAsync"/>, blocking.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    internal static Ipv4Address ToCore(IPAddress address) =>
        new(BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes()));
}
