using System.Diagnostics;

namespace Stack.Shell.Device;

/// <summary>Runs iproute2's <c>ip</c>, the one tool the shell configures links with.</summary>
internal static class IpCommand
{
    /// <summary>Runs <c>ip</c> with the arguments; throws with its error text when it fails.</summary>
    public static void Run(params string[] arguments)
    {
        var (code, error) = TryRun(arguments);
        if (code != 0)
        {
            throw new StackSetupException(
                $"`ip {string.Join(' ', arguments)}` failed: {error.Trim()}");
        }
    }

    /// <summary>Runs <c>ip</c> and returns its exit code and standard error.</summary>
    public static (int Code, string Error) TryRun(params string[] arguments)
    {
        var psi = new ProcessStartInfo("ip")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        Process process;
        try
        {
            process = Process.Start(psi)
                ?? throw new StackSetupException("could not start `ip`: install iproute2 (apt-get install -y iproute2)");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new StackSetupException(
                "`ip` was not found: install iproute2 (apt-get install -y iproute2)", e);
        }

        using (process)
        {
            var error = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, error.Result);
        }
    }
}
