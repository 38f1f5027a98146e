using System.Runtime.InteropServices;

namespace Stack.Shell.Device;

/// <summary>One buffer of a scatter/gather read or write (struct iovec).</summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly unsafe struct Iovec(byte* start, int length)
{
    public readonly byte* Base = start;
    public readonly nuint Length = (nuint)length;
}

/// <summary>libc calls that Tmds.LibC does not bind.</summary>
internal static unsafe partial class Native
{
    [LibraryImport("libc", SetLastError = true)]
    public static partial nint readv(int fd, Iovec* iov, int count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint writev(int fd, Iovec* iov, int count);
}
