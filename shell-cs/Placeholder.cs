namespace Stack.Shell;

/// <summary>
/// The C# shell (TUN device, stack thread, client API) arrives with its own issue; this
/// type only names the core assembly the shell builds on.
/// </summary>
public static class ShellInfo
{
    /// <summary>The version of the pure core this shell was built against.</summary>
    public static string CoreVersion =>
        typeof(Stack.Core.Wire.Ipv4Address).Assembly.GetName().Version?.ToString() ?? "unknown";
}
