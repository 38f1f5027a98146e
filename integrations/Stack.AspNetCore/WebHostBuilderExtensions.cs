using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Stack.Shell;

namespace Stack.AspNetCore;

/// <summary>Serving ASP.NET Core over tcpstack.</summary>
public static class WebHostBuilderExtensions
{
    /// <summary>
    /// Kestrel accepts its connections from <paramref name="stack"/> instead of kernel
    /// sockets. The stack stays the caller's to dispose.
    /// </summary>
    /// <example><code>
    /// builder.WebHost.UseTcpStack(stack).UseUrls($"http://{stack.Address}:80");
    /// </code></example>
    public static IWebHostBuilder UseTcpStack(this IWebHostBuilder builder, TcpStack stack) =>
        builder.ConfigureServices(services =>
            services.AddSingleton<IConnectionListenerFactory>(new TcpStackTransportFactory(stack)));

    /// <summary>
    /// Kestrel serves over a stack started from <paramref name="options"/> when the host
    /// starts; the host disposes it when it stops.
    /// </summary>
    public static IWebHostBuilder UseTcpStack(this IWebHostBuilder builder, TcpStackOptions options) =>
        builder.ConfigureServices(services =>
        {
            services.AddSingleton(provider => TcpStack.Start(options with
            {
                LoggerFactory = options.LoggerFactory ?? provider.GetService<ILoggerFactory>(),
                MeterFactory = options.MeterFactory ?? provider.GetService<IMeterFactory>(),
            }));
            services.AddSingleton<IConnectionListenerFactory>(
                provider => new TcpStackTransportFactory(provider.GetRequiredService<TcpStack>()));
        });
}
