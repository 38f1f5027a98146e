using System.Runtime.ExceptionServices;
using static Tmds.Linux.LibC;

namespace Stack.Shell.Device;

/// <summary>
/// A named network namespace (<c>ip netns</c>, under /run/netns). A thread that enters it
/// with setns and then opens a device or a socket leaves that descriptor in the namespace
/// for good, so code runs "in" a namespace on a short-lived thread of its own.
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    private NetworkNamespace(string name, bool created)
    {
        Name = name;
        Created = created;
    }

    /// <summary>The namespace's name.</summary>
    public string Name { get; }

    /// <summary>Whether this object created the namespace (and so removes it on dispose).</summary>
    public bool Created { get; }

    /// <summary>Whether a namespace of this name exists.</summary>
    public static bool Exists(string name) => File.Exists(PathOf(name));

    /// <summary>
    /// The namespace called <paramref name="name"/>, created when missing. Disposing the
    /// result removes it only if this call created it.
    /// </summary>
    public static NetworkNamespace Open(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('/') || name.Length > 64)
        {
            throw new StackSetupException($"'{name}' is not a usable namespace name: use letters, digits and dashes");
        }

        if (Exists(name))
        {
            return new NetworkNamespace(name, created: false);
        }

        var (code, error) = IpCommand.TryRun("netns", "add", name);
        if (code != 0)
        {
            throw new StackSetupException(
                error.Contains("Permission denied") || error.Contains("Operation not permitted")
                    ? $"creating network namespace '{name}' needs root (or CAP_SYS_ADMIN): run as root"
                    : $"could not create network namespace '{name}': {error.Trim()}");
        }

        // The loopback device of a new namespace starts down.
        IpCommand.TryRun("-n", name, "link", "set", "lo", "up");
        return new NetworkNamespace(name, created: true);
    }

    /// <summary>Runs <paramref name="action"/> on a new thread inside this namespace.</summary>
    public T Run<T>(Func<T> action) => RunIn(Name, action);

    /// <summary>Runs <paramref name="action"/> on a new thread inside namespace <paramref name="name"/>.</summary>
    public static T RunIn<T>(string name, Func<T> action)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                Enter(name);
                result = action();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        })
        {
            IsBackground = true,
            Name = $"netns {name}",
        };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    /// <summary>Moves the calling thread into namespace <paramref name="name"/>.</summary>
    private static unsafe void Enter(string name)
    {
        var path = System.Text.Encoding.UTF8.GetBytes(PathOf(name) + "\0");
        int fd;
        fixed (byte* p = path)
        {
            fd = open(p, O_RDONLY | O_CLOEXEC, 0);
        }

        if (fd < 0)
        {
            throw new StackSetupException(
                $"network namespace '{name}' does not exist or cannot be opened (errno {errno}): create it with `ip netns add {name}`");
        }

        try
        {
            if (setns(fd, CLONE_NEWNET) != 0)
            {
                var e = errno;
                throw new StackSetupException(
                    e == EPERM
                        ? $"entering network namespace '{name}' needs root (CAP_SYS_ADMIN): run as root"
                        : $"could not enter network namespace '{name}' (errno {e})");
            }
        }
        finally
        {
            close(fd);
        }
    }

    private static string PathOf(string name) => Path.Combine("/run/netns", name);

    /// <summary>Removes the namespace if this object created it.</summary>
    public void Dispose()
    {
        if (Created && Exists(Name))
        {
            IpCommand.TryRun("netns", "del", Name);
        }
    }
}
