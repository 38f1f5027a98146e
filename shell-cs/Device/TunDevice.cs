using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Stack.Shell.Device;

/// <summary>How to set up a TUN device.</summary>
public sealed record TunOptions
{
    /// <summary>The device's name; null lets the kernel pick one (tun0, tun1, ...).</summary>
    public string? Name { get; init; }

    /// <summary>The network namespace to create the device in (created if missing); null: the current one.</summary>
    public string? Namespace { get; init; }

    /// <summary>The device's MTU.</summary>
    public int Mtu { get; init; } = 1500;

    /// <summary>The device's transmit queue: the default 500 drops packets at full speed.</summary>
    public int TransmitQueueLength { get; init; } = 10_000;

    /// <summary>The kernel side's address and prefix on the device, such as 10.7.0.1/24; null: none.</summary>
    public string? KernelAddress { get; init; }

    /// <summary>
    /// The kernel side's IPv6 address and prefix on the device, such as fd00:7::1/64; null:
    /// none. Added without duplicate address detection, which a point-to-point device
    /// does not need and which would hold the address back for a second.
    /// </summary>
    public string? KernelAddress6 { get; init; }

    /// <summary>
    /// Exchange packets with a virtio-net header (IFF_VNET_HDR): the kernel may then hand
    /// over TCP segments up to 64 KiB with the checksum left to us, and trusts the
    /// checksums we write, which saves it work per packet.
    /// </summary>
    public bool Offload { get; init; } = true;
}

/// <summary>
/// A Linux TUN device (IFF_TUN | IFF_NO_PI): every read is one IPv4 or IPv6 packet the
/// kernel routed to it, every write one packet the kernel receives. The device lives as
/// long as this object; so does its namespace, if this object created it.
/// </summary>
public sealed class TunDevice : IPacketDevice, ISegmentOffload
{
    private const int TunSetIff = 0x400454ca;
    private const int TunSetOffload = 0x400454d0;
    private const short IffTun = 0x0001;
    private const short IffNoPi = 0x1000;
    private const short IffVnetHdr = 0x4000;
    private const int TunFCsum = 0x01;
    private const int TunFTso4 = 0x02;
    private const int TunFTso6 = 0x04;
    private const int IfNameSize = 16;

    private readonly int _fd;
    private readonly int _wakeFd;
    private readonly NetworkNamespace? _namespace;
    private readonly bool _vnet;
    private readonly byte[] _header = new byte[VirtioNetHeader.Size];
    private int _disposed;

    private TunDevice(int fd, int wakeFd, string name, NetworkNamespace? ns, int mtu, bool vnet)
    {
        _fd = fd;
        _vnet = vnet;
        _wakeFd = wakeFd;
        Name = name;
        _namespace = ns;
        Mtu = mtu;
    }

    /// <summary>The device's name, as the kernel knows it.</summary>
    public string Name { get; }

    /// <summary>The namespace the device is in, or null for the current one.</summary>
    public string? Namespace => _namespace?.Name;

    /// <inheritdoc/>
    public int Mtu { get; }

    /// <summary>Creates, configures and brings up a TUN device.</summary>
    public static TunDevice Open(TunOptions options)
    {
        if (options.Name is { } n && (n.Length == 0 || Encoding.UTF8.GetByteCount(n) >= IfNameSize || n.Contains('/') || n.Contains(' ')))
        {
            throw new StackSetupException($"'{n}' is not a usable device name: at most 15 characters, no '/' or spaces");
        }

        if (options.Mtu is < 68 or > 65535)
        {
            throw new StackSetupException($"MTU {options.Mtu} is out of range: use 68 to 65535 (1500 is usual)");
        }

        var ns = options.Namespace is { } nsName ? NetworkNamespace.Open(nsName) : null;
        var fd = -1;
        var wakeFd = -1;
        try
        {
            string name;
            (fd, name) = ns is null ? Create(options.Name, options.Offload) : ns.Run(() => Create(options.Name, options.Offload));
            wakeFd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
            if (wakeFd < 0)
            {
                throw new StackSetupException($"eventfd failed (errno {errno})");
            }

            Configure(ns?.Name, name, options);
            return new TunDevice(fd, wakeFd, name, ns, options.Mtu, options.Offload);
        }
        catch
        {
            if (fd >= 0)
            {
                close(fd);
            }

            if (wakeFd >= 0)
            {
                close(wakeFd);
            }

            ns?.Dispose();
            throw;
        }
    }

    private static unsafe (int Fd, string Name) Create(string? requested, bool offload)
    {
        if (!File.Exists("/dev/net/tun"))
        {
            throw new StackSetupException(
                "/dev/net/tun is missing: load the tun module (modprobe tun) or, in a container, pass the device in (--device /dev/net/tun)");
        }

        int fd;
        fixed (byte* path = "/dev/net/tun\0"u8)
        {
            fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
        }

        if (fd < 0)
        {
            var e = errno;
            throw new StackSetupException(
                e == EACCES || e == EPERM
                    ? "opening /dev/net/tun needs root or CAP_NET_ADMIN: run as root (sudo) or grant the capability"
                    : $"could not open /dev/net/tun (errno {e})");
        }

        var request = stackalloc byte[40];
        new Span<byte>(request, 40).Clear();
        if (requested is not null)
        {
            Encoding.UTF8.GetBytes(requested, new Span<byte>(request, IfNameSize - 1));
        }

        *(short*)(request + IfNameSize) = (short)(IffTun | IffNoPi | (offload ? IffVnetHdr : 0));
        if (ioctl(fd, TunSetIff, request) < 0)
        {
            var e = errno;
            close(fd);
            throw new StackSetupException(
                e == EPERM ? "creating a TUN device needs root or CAP_NET_ADMIN: run as root (sudo) or grant the capability"
                : e == EBUSY ? $"device name '{requested}' is taken by a running program: choose another name"
                : e == EINVAL ? $"device name '{requested}' is taken by a device that is not a TUN device: choose another name"
                : $"TUNSETIFF failed (errno {e})");
        }

        // Set the offloads explicitly: a device reused from an earlier owner keeps its own.
        ioctl(fd, TunSetOffload, offload ? TunFCsum | TunFTso4 | TunFTso6 : 0);
        var name = Marshal.PtrToStringUTF8((IntPtr)request, IfNameSize)!.TrimEnd('\0');
        return (fd, name);
    }

    private static void Configure(string? ns, string name, TunOptions options)
    {
        string[] In(params string[] args) => ns is null ? args : ["-n", ns, .. args];
        IpCommand.Run(In("link", "set", "dev", name, "mtu", options.Mtu.ToString(), "txqueuelen", options.TransmitQueueLength.ToString()));
        if (options.KernelAddress is { } address)
        {
            var (code, error) = IpCommand.TryRun(In("addr", "add", address, "dev", name));
            if (code != 0)
            {
                throw new StackSetupException($"could not give device {name} the address '{address}': {error.Trim()} (write it as A.B.C.D/PREFIX)");
            }
        }

        if (options.KernelAddress6 is { } address6)
        {
            var (code, error) = IpCommand.TryRun(In("-6", "addr", "add", address6, "dev", name, "nodad"));
            if (code != 0)
            {
                throw new StackSetupException(
                    error.Contains("Permission denied") || error.Contains("disabled")
                        ? $"could not give device {name} the IPv6 address '{address6}': IPv6 is disabled here (sysctl net.ipv6.conf.all.disable_ipv6=0, or set no IPv6 address)"
                        : $"could not give device {name} the IPv6 address '{address6}': {error.Trim()} (write it as fd00::1/64)");
            }
        }

        IpCommand.Run(In("link", "set", "dev", name, "up"));
    }

    /// <inheritdoc/>
    public unsafe int TryRead(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        fixed (byte* h = _header)
        {
            var iov = stackalloc Iovec[2];
            iov[0] = new Iovec(h, _vnet ? VirtioNetHeader.Size : 0);
            iov[1] = new Iovec(p, buffer.Length);
            while (true)
            {
                var n = (long)Native.readv(_fd, iov, 2);
                if (n >= 0)
                {
                    if (!_vnet)
                    {
                        return (int)n;
                    }

                    var length = (int)n - VirtioNetHeader.Size;
                    if (length <= 0)
                    {
                        return 0;
                    }

                    VirtioNetHeader.CompleteChecksum(_header, buffer[..length]);
                    return length;
                }

                if (Marshal.GetLastPInvokeError() == EINTR)
                {
                    continue;
                }

                // EAGAIN: nothing waiting. Anything else (the device went away) reads as
                // nothing too; the stack keeps running and its owner disposes it.
                return 0;
            }
        }
    }

    /// <inheritdoc/>
    public unsafe void Write(ReadOnlySpan<byte> packet)
    {
        fixed (byte* p = packet)
        fixed (byte* h = VirtioNetHeader.ChecksumValid)
        {
            var iov = stackalloc Iovec[2];
            iov[0] = new Iovec(h, _vnet ? VirtioNetHeader.Size : 0);
            iov[1] = new Iovec(p, packet.Length);

            // A full queue (EAGAIN) or a packet the kernel refuses is dropped, as on a wire.
            while ((long)Native.writev(_fd, iov, 2) < 0 && Marshal.GetLastPInvokeError() == EINTR)
            {
            }
        }
    }

    /// <inheritdoc/>
    public bool CanWriteRuns => _vnet;

    /// <inheritdoc/>
    public unsafe void WriteRun(ReadOnlySpan<byte> packet, int headerLength, int segmentSize)
    {
        var header = stackalloc byte[VirtioNetHeader.Size];
        VirtioNetHeader.WriteRun(new Span<byte>(header, VirtioNetHeader.Size), packet, headerLength, segmentSize);
        fixed (byte* p = packet)
        {
            var iov = stackalloc Iovec[2];
            iov[0] = new Iovec(header, VirtioNetHeader.Size);
            iov[1] = new Iovec(p, packet.Length);
            while ((long)Native.writev(_fd, iov, 2) < 0 && Marshal.GetLastPInvokeError() == EINTR)
            {
            }
        }
    }

    /// <inheritdoc/>
    public unsafe void Wait(long timeoutMicros)
    {
        var fds = stackalloc pollfd[2];
        fds[0].fd = _fd;
        fds[0].events = POLLIN;
        fds[1].fd = _wakeFd;
        fds[1].events = POLLIN;
        var ms = timeoutMicros < 0 ? -1 : (int)Math.Min(int.MaxValue, (timeoutMicros + 999) / 1000);
        poll(fds, 2, ms);
        if ((fds[1].revents & POLLIN) != 0)
        {
            ulong value;
            read(_wakeFd, &value, sizeof(ulong));
        }
    }

    /// <inheritdoc/>
    public unsafe void Wake()
    {
        ulong one = 1;
        write(_wakeFd, &one, sizeof(ulong));
    }

    /// <summary>Closes the device (the kernel removes it) and a namespace this object created.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            close(_fd);
            close(_wakeFd);
            _namespace?.Dispose();
        }
    }
}
