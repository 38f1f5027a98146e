using Stack.Core.Host;
using Stack.Core.Tcp;
using Stack.Core.Wire;

namespace Stack.Shell;

/// <summary>
/// The trace of a run (<see cref="TcpStackOptions.TracePath"/>): after each step, the
/// connections it touched are sampled into the core's trace recorder, on the stack's
/// clock; the file is written when the stack thread ends.
/// </summary>
internal sealed partial class StackLoop
{
    private Trace.Recorder? _trace;
    private string? _tracePath;

    // Each connection's track name, made once: formatting it per step would cost more
    // than the trace itself.
    private readonly Dictionary<FourTuple, string> _trackNames = [];

    /// <summary>Where the trace goes when the thread ends; null (the default) traces nothing.</summary>
    public string? TracePath
    {
        get => _tracePath;
        init
        {
            _tracePath = value;
            _trace = value is null ? null : new Trace.Recorder();
        }
    }

    /// <summary>Packets read by the last batch (for its span in the trace).</summary>
    private int _lastBatch;

    /// <summary>A span of the stack thread's own track: a batch read, due timers run, a wait.</summary>
    private void TraceThread(long start, string what) => _trace!.Span(start, Now - start, "stack thread", what);

    private void TraceStep(FourTuple tuple)
    {
        if (OwnedHost.TryGetConnection(_host, tuple, out var connection))
        {
            if (!_trackNames.TryGetValue(tuple, out var name))
            {
                name = $"{tuple.LocalAddress}:{tuple.LocalPort} to {tuple.RemoteAddress}:{tuple.RemotePort}";
                _trackNames[tuple] = name;
            }

            _trace!.Add(Now, name, Trace.sample(connection));
        }
    }

    private void WriteTrace()
    {
        if (_trace is null || _tracePath is null)
        {
            return;
        }

        try
        {
            File.WriteAllText(_tracePath, _trace.ToJson($"tcpstack {_host.Options.Address}"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"tcp stack {_host.Options.Address}: could not write the trace to {_tracePath}: {e.Message}");
        }
    }
}
