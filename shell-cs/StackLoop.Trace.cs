using System.Collections.Concurrent;
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

    // The application's calls that waited (connect, accept, read, write), from its own
    // threads: the recorder belongs to the stack thread, which writes them out at the end.
    private readonly ConcurrentQueue<(long Start, long End, string Track, string Name)> _calls = new();

    /// <summary>Whether this run keeps a trace.</summary>
    internal bool Tracing => _trace is not null;

    /// <summary>The trace's clock (microseconds since the stack started), for any thread.</summary>
    internal long TraceClock => Now;

    /// <summary>
    /// An application call that waited from <paramref name="start"/> until now, on the
    /// track <paramref name="track"/>; any thread may call it.
    /// </summary>
    internal void TraceCall(string track, string name, long start)
    {
        if (_trace is not null)
        {
            _calls.Enqueue((start, Now, track, name));
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
                name = $"{tuple.LocalAddress.WithPort(tuple.LocalPort)} to {tuple.RemoteAddress.WithPort(tuple.RemotePort)}";
                _trackNames[tuple] = name;
            }

            _trace!.Record(Now, name, connection);
        }
    }

    private void WriteTrace()
    {
        if (_trace is null || _tracePath is null)
        {
            return;
        }

        while (_calls.TryDequeue(out var call))
        {
            _trace.Span(call.Start, call.End - call.Start, call.Track, call.Name);
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
