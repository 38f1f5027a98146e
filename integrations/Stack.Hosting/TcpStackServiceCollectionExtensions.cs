using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Stack.Shell;
using Stack.Shell.Device;

namespace Stack.Hosting;

/// <summary>tcpstack in a .NET generic host.</summary>
public static class TcpStackServiceCollectionExtensions
{
    /// <summary>
    /// Adds a <see cref="TcpStack"/> started with the host and stopped with it, set up from
    /// the configuration's "TcpStack" section (<see cref="TcpStackSettings"/>), validated
    /// when the host starts: a bad setting stops the start with a message that names it.
    /// An <see cref="IPacketDevice"/> registered in the container (an in-memory one in
    /// tests) is used instead of a TUN device; the container's logger and meter factories
    /// are the stack's.
    /// </summary>
    /// <example><code>
    /// builder.Services.AddTcpStack(builder.Configuration);   // "TcpStack": { "Address": "10.7.0.2", "Namespace": "app" }
    /// </code></example>
    public static IServiceCollection AddTcpStack(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<TcpStackSettings>().Bind(configuration.GetSection(TcpStackSettings.Section));
        return AddStack(services);
    }

    /// <summary>As <see cref="AddTcpStack(IServiceCollection, IConfiguration)"/>, with the settings from code.</summary>
    public static IServiceCollection AddTcpStack(this IServiceCollection services, Action<TcpStackSettings> configure)
    {
        services.AddOptions<TcpStackSettings>().Configure(configure);
        return AddStack(services);
    }

    private static IServiceCollection AddStack(IServiceCollection services)
    {
        services.AddOptions<TcpStackSettings>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<TcpStackSettings>, SettingsValidation>();
        services.AddSingleton(provider =>
        {
            var options = provider.GetRequiredService<IOptions<TcpStackSettings>>().Value.ToOptions();
            return TcpStack.Start(options with
            {
                Device = provider.GetService<IPacketDevice>(),
                LoggerFactory = provider.GetService<ILoggerFactory>(),
                MeterFactory = provider.GetService<IMeterFactory>(),
            });
        });
        services.AddHostedService<TcpStackService>();
        return services;
    }

    /// <summary>Checks the settings when the host starts, before the stack does.</summary>
    private sealed class SettingsValidation : IValidateOptions<TcpStackSettings>
    {
        public ValidateOptionsResult Validate(string? name, TcpStackSettings settings)
        {
            try
            {
                settings.ToOptions();
                return ValidateOptionsResult.Success;
            }
            catch (ArgumentException e)
            {
                return ValidateOptionsResult.Fail($"{TcpStackSettings.Section}: {e.Message}");
            }
        }
    }

    /// <summary>Starts the stack with the host (resolving it starts it) and stops it with the host.</summary>
    private sealed class TcpStackService(TcpStack stack) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => stack.DisposeAsync().AsTask();
    }
}
