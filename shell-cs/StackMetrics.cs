using System.Diagnostics.Metrics;

namespace Stack.Shell;

/// <summary>
/// Publishes a stack's statistics through System.Diagnostics.Metrics (meter
/// <c>Stack.Shell</c>), read when a listener such as dotnet-counters or OpenTelemetry asks.
/// </summary>
internal sealed class StackMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Stack.Shell";

    private readonly Meter _meter;

    // A meter a factory made is the factory's to dispose.
    private readonly bool _owned;

    public StackMetrics(string stack, Func<StackStatistics> read, IMeterFactory? factory)
    {
        _owned = factory is null;
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        var tag = new KeyValuePair<string, object?>("stack", stack);
        KeyValuePair<string, object?> Tag(string key, object value) => new(key, value);
        _meter.CreateObservableCounter(
            "tcpstack.packets",
            () =>
            {
                var s = read();
                return new[]
                {
                    new Measurement<long>(s.PacketsIn, tag, Tag("direction", "in")),
                    new Measurement<long>(s.PacketsOut, tag, Tag("direction", "out")),
                };
            },
            "{packet}",
            "Packets read from and written to the device");
        _meter.CreateObservableCounter(
            "tcpstack.bytes",
            () =>
            {
                var s = read();
                return new[]
                {
                    new Measurement<long>(s.BytesIn, tag, Tag("direction", "in")),
                    new Measurement<long>(s.BytesOut, tag, Tag("direction", "out")),
                };
            },
            "By",
            "Bytes of the packets read and written");
        _meter.CreateObservableCounter(
            "tcpstack.retransmissions",
            () => new Measurement<long>(read().Retransmissions, tag),
            "{segment}",
            "Segments sent again");
        _meter.CreateObservableCounter(
            "tcpstack.drops",
            () => read().Drops.Select(d => new Measurement<long>(d.Value, tag, Tag("reason", d.Key))),
            "{packet}",
            "Packets dropped, by reason");
        _meter.CreateObservableUpDownCounter(
            "tcpstack.connections",
            () => read().ConnectionsByState.Select(c => new Measurement<int>(c.Value, tag, Tag("state", c.Key.ToString()))),
            "{connection}",
            "Connections, by state");
    }

    public void Dispose()
    {
        if (_owned)
        {
            _meter.Dispose();
        }
    }
}
