using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Logging;
using Stack.Shell.Device;

namespace Stack.Shell;

/// <summary>How to start a <see cref="TcpStack"/>. Every setting has a usable default.</summary>
public sealed record TcpStackOptions
{
    /// <summary>The stack's own IPv4 address.</summary>
    public IPAddress Address { get; init; } = IPAddress.Parse("10.7.0.2");

    /// <summary>The stack's own IPv6 address; null: IPv4 only.</summary>
    public IPAddress? Address6 { get; init; } = IPAddress.Parse("fd00:7::2");

    /// <summary>
    /// The device to use instead of a TUN device (an in-memory one, for tests). The stack
    /// owns it and disposes it.
    /// </summary>
    public IPacketDevice? Device { get; init; }

    /// <summary>The TUN device's name; null lets the kernel pick one.</summary>
    public string? TunName { get; init; }

    /// <summary>Network namespace for the TUN device: created if missing, removed on dispose if created.</summary>
    public string? Namespace { get; init; }

    /// <summary>The kernel side's address and prefix on the TUN device.</summary>
    public string? KernelAddress { get; init; } = "10.7.0.1/24";

    /// <summary>The kernel side's IPv6 address and prefix on the TUN device (without duplicate address detection); null: none.</summary>
    public string? KernelAddress6 { get; init; } = "fd00:7::1/64";

    /// <summary>The TUN device's MTU; the MSS follows from it.</summary>
    public int Mtu { get; init; } = 1500;

    /// <summary>
    /// Let the TUN device carry runs of segments as one packet each way and leave checksums
    /// of kernel packets to us (virtio-net header): far fewer packets through the kernel.
    /// </summary>
    public bool Offload { get; init; } = true;

    /// <summary>Bytes each connection's send buffer holds (a power of two).</summary>
    public int SendBufferSize { get; init; } = 256 * 1024;

    /// <summary>Bytes each connection's receive buffer holds (a power of two): the largest window.</summary>
    public int ReceiveBufferSize { get; init; } = 256 * 1024;

    /// <summary>
    /// Bytes a writer may queue beyond what the stack has sent (as Linux's
    /// <c>tcp_notsent_lowat</c>): the rest of the send buffer holds only bytes in flight, so
    /// a connection whose peer stopped reading holds at most this much more than the
    /// peer's window. At least 4096.
    /// </summary>
    public int UnsentLimit { get; init; } = 32 * 1024;

    /// <summary>
    /// Bytes of buffer memory all the stack's connections may hold (as Linux's tcp_mem).
    /// Above three quarters of it receive buffers stop growing; at it, data that would need
    /// more memory is dropped (counted as "memory-limit") and the peer sends it again.
    /// Null (the default): an eighth of the memory available to the process, at least 64 MiB.
    /// </summary>
    public long? MemoryLimit { get; init; }

    /// <summary>
    /// Bytes of IPv4 and IPv6 fragments held for reassembly at once (each fragment charged
    /// its size and 256 bytes), a quarter of it from one source; past it fragments are
    /// dropped (counted as "fragment"). 4 MiB by default, as Linux's ipfrag_high_thresh; 0
    /// drops every fragment.
    /// </summary>
    public int FragmentMemory { get; init; } = 4 << 20;

    /// <summary>Bytes a connection's receive buffer starts at; autotuning grows it up to <see cref="ReceiveBufferSize"/>.</summary>
    public int InitialReceiveBufferSize { get; init; } = 64 * 1024;

    internal long EffectiveMemoryLimit =>
        MemoryLimit ?? Math.Max(64L << 20, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 8);

    /// <summary>Turns Nagle's algorithm off for every connection.</summary>
    public bool NoDelay { get; init; }

    /// <summary>Writes every packet in and out to this pcap file.</summary>
    public string? CapturePath { get; init; }

    /// <summary>
    /// Writes a trace of every connection to this file when the stack stops (Chrome
    /// trace-event JSON: open it in ui.perfetto.dev, or draw it with <c>tcpstack plot</c>):
    /// cwnd, ssthresh, flight, pipe, the peer's window, SRTT and RTO as counters, state
    /// changes and timeouts as events. It is kept in memory until then; off when null.
    /// </summary>
    public string? TracePath { get; init; }

    /// <summary>Sees every packet in and out (to print them, say), on the stack thread.</summary>
    public PacketObserver? OnPacket { get; init; }

    /// <summary>Impairs packets arriving from the device (off when null).</summary>
    public LinkImpairment? InboundImpairment { get; init; }

    /// <summary>Impairs packets the stack sends (off when null).</summary>
    public LinkImpairment? OutboundImpairment { get; init; }

    /// <summary>Seed of the impairment's generator: the same seed, the same faults.</summary>
    public ulong ImpairmentSeed { get; init; } = 1;

    /// <summary>How long dispose waits for connections to close gracefully before aborting them.</summary>
    public TimeSpan CloseTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long <see cref="TcpStack.ConnectAsync(IPEndPoint, CancellationToken)"/> waits for
    /// the handshake before it fails with <c>TimedOut</c>; <c>null</c> (the default) leaves
    /// it to the SYN retransmissions (about two minutes, as Linux's tcp_syn_retries).
    /// </summary>
    public TimeSpan? ConnectTimeout { get; init; }

    /// <summary>
    /// Where the stack logs (category <c>Stack.Shell.TcpStack</c>): start and stop at
    /// Information, a failed stack thread at Critical, connections reset or timed out at
    /// Debug. Without one, only a failed stack thread is written, to standard error.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Makes the stack's meter (<see cref="TcpStack.MeterName"/>), as DI hosts do; without one the meter is made directly.</summary>
    public IMeterFactory? MeterFactory { get; init; }

    /// <summary>The TCP protocol's tunables (options offered, congestion control, timers, retries, limits).</summary>
    public TcpProtocolOptions Tcp { get; init; } = new();

    /// <summary>Throws an <see cref="ArgumentException"/> that names the first setting out of range and its range.</summary>
    public void Validate()
    {
        if (Address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"the stack's address must be IPv4, not {Address}", nameof(Address));
        }

        if (Address6 is { } a6 && (a6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6 || a6.IsIPv4MappedToIPv6))
        {
            throw new ArgumentException($"the stack's IPv6 address must be IPv6, not {a6}", nameof(Address6));
        }

        foreach (var (name, size) in new[] { (nameof(SendBufferSize), SendBufferSize), (nameof(ReceiveBufferSize), ReceiveBufferSize) })
        {
            if (size < 4096 || (size & (size - 1)) != 0 || size > 1 << 30)
            {
                throw new ArgumentException($"{name} must be a power of two from 4096 to 2^30, not {size}", name);
            }
        }

        if (FragmentMemory < 0)
        {
            throw new ArgumentException($"{nameof(FragmentMemory)} cannot be negative ({FragmentMemory})", nameof(FragmentMemory));
        }

        if (MemoryLimit is < 1 << 20)
        {
            throw new ArgumentException($"{nameof(MemoryLimit)} must be at least 1 MiB, not {MemoryLimit}", nameof(MemoryLimit));
        }

        if (InitialReceiveBufferSize < 4096)
        {
            throw new ArgumentException($"{nameof(InitialReceiveBufferSize)} must be at least 4096, not {InitialReceiveBufferSize}", nameof(InitialReceiveBufferSize));
        }

        if (UnsentLimit < 4096)
        {
            throw new ArgumentException($"{nameof(UnsentLimit)} must be at least 4096, not {UnsentLimit}", nameof(UnsentLimit));
        }

        ArgumentNullException.ThrowIfNull(Tcp, nameof(Tcp));
        Tcp.Validate(nameof(Tcp));
        InboundImpairment?.Validate(nameof(InboundImpairment));
        OutboundImpairment?.Validate(nameof(OutboundImpairment));

        if (ConnectTimeout is { } connectTimeout && connectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(ConnectTimeout)} must be positive, not {connectTimeout}", nameof(ConnectTimeout));
        }

        if (Mtu is < 576 or > 65535)
        {
            throw new ArgumentException($"MTU must be from 576 to 65535, not {Mtu}", nameof(Mtu));
        }
    }
}
