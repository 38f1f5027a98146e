using System.Net;
using System.Net.Sockets;
using Stack.Shell;

namespace Stack.Hosting;

/// <summary>
/// The stack's settings as configuration gives them (the "TcpStack" section): plain
/// values a binder can fill. <see cref="ToOptions"/> turns them into <see cref="TcpStackOptions"/>.
/// </summary>
public sealed class TcpStackSettings
{
    /// <summary>The name of the configuration section <c>AddTcpStack(configuration)</c> binds.</summary>
    public const string Section = "TcpStack";

    /// <summary>The stack's own IPv4 address.</summary>
    public string Address { get; set; } = "10.7.0.2";

    /// <summary>The stack's own IPv6 address; empty for a stack that speaks IPv4 only.</summary>
    public string? Address6 { get; set; } = "fd00:7::2";

    /// <summary>The network namespace of the TUN device (made when missing, removed on stop if made).</summary>
    public string? Namespace { get; set; }

    /// <summary>The kernel's side of the TUN device, as address/prefix.</summary>
    public string? KernelAddress { get; set; } = "10.7.0.1/24";

    /// <summary>The kernel's IPv6 side of the TUN device, as address/prefix (with <see cref="Address6"/>).</summary>
    public string? KernelAddress6 { get; set; } = "fd00:7::1/64";

    /// <summary>The TUN device's name (the kernel picks one when empty).</summary>
    public string? TunName { get; set; }

    /// <summary>MTU of the TUN device, 576 to 65535.</summary>
    public int Mtu { get; set; } = 1500;

    /// <summary>Checksum and segmentation offloads on the TUN device.</summary>
    public bool Offload { get; set; } = true;

    /// <summary>Each connection's send buffer: a power of two from 4096 to 2^30.</summary>
    public int SendBufferSize { get; set; } = 256 * 1024;

    /// <summary>Each connection's largest receive buffer: a power of two from 4096 to 2^30.</summary>
    public int ReceiveBufferSize { get; set; } = 256 * 1024;

    /// <summary>Bytes of IPv4 and IPv6 fragments held for reassembly at once (4 MiB; 0 drops every fragment).</summary>
    public int FragmentMemory { get; set; } = 4 << 20;

    /// <summary>Turn Nagle's algorithm off for every connection.</summary>
    public bool NoDelay { get; set; }

    /// <summary>A pcap file to write every packet to.</summary>
    public string? CapturePath { get; set; }

    /// <summary>How long a connect waits for the handshake (empty: the SYN retransmissions decide).</summary>
    public TimeSpan? ConnectTimeout { get; set; }

    /// <summary>How long stopping waits for connections to close before it resets them.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The TCP protocol's tunables (section <c>TcpStack:Tcp</c>: options offered, congestion control, timers, retries, limits).</summary>
    public TcpProtocolOptions Tcp { get; set; } = new();

    /// <summary>The options these settings give; throws an <see cref="ArgumentException"/> naming a bad one.</summary>
    public TcpStackOptions ToOptions()
    {
        if (!IPAddress.TryParse(Address, out var address) || address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"Address '{Address}' is not an IPv4 address (such as 10.7.0.2)", nameof(Address));
        }

        if (KernelAddress is { } kernel && !IsPrefix(kernel, AddressFamily.InterNetwork, 32))
        {
            throw new ArgumentException($"KernelAddress '{kernel}' is not an IPv4 address with a prefix length (such as 10.7.0.1/24)", nameof(KernelAddress));
        }

        IPAddress? address6 = null;
        if (!string.IsNullOrEmpty(Address6)
            && (!IPAddress.TryParse(Address6, out address6) || address6.AddressFamily != AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"Address6 '{Address6}' is not an IPv6 address (such as fd00:7::2; empty for IPv4 only)", nameof(Address6));
        }

        if (address6 is not null && KernelAddress6 is { } kernel6 && !IsPrefix(kernel6, AddressFamily.InterNetworkV6, 128))
        {
            throw new ArgumentException($"KernelAddress6 '{kernel6}' is not an IPv6 address with a prefix length (such as fd00:7::1/64)", nameof(KernelAddress6));
        }

        var options = new TcpStackOptions
        {
            Address = address,
            Namespace = Namespace,
            KernelAddress = KernelAddress,
            Address6 = address6,
            KernelAddress6 = address6 is null ? null : KernelAddress6,
            FragmentMemory = FragmentMemory,
            TunName = TunName,
            Mtu = Mtu,
            Offload = Offload,
            SendBufferSize = SendBufferSize,
            ReceiveBufferSize = ReceiveBufferSize,
            NoDelay = NoDelay,
            CapturePath = CapturePath,
            CloseTimeout = CloseTimeout,
            ConnectTimeout = ConnectTimeout,
            Tcp = Tcp,
        };
        options.Validate();
        return options;
    }

    private static bool IsPrefix(string text, AddressFamily family, int longest)
    {
        var parts = text.Split('/');
        return parts.Length == 2
            && IPAddress.TryParse(parts[0], out var a) && a.AddressFamily == family
            && int.TryParse(parts[1], out var length) && length >= 1 && length <= longest;
    }
}
