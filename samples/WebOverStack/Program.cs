using System.Net;
using Stack.AspNetCore;
using Stack.Shell;

// A web app served by Kestrel over tcpstack. As root: the stack makes network namespace
// NAME (first argument, "web" by default) with a TUN device in it, and anything in that
// namespace reaches the app: ip netns exec web curl http://10.7.0.2/
var name = args.Length > 0 ? args[0] : "web";
using var stack = TcpStack.Start(new TcpStackOptions
{
    Namespace = name,
    KernelAddress = "10.7.0.1/24",
    Address = IPAddress.Parse("10.7.0.2"),
});

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
builder.WebHost.UseTcpStack(stack).UseUrls($"http://{stack.Address}:80");
var app = builder.Build();
app.UseDefaultFiles();
app.UseStaticFiles();
app.MapGet("/api/greeting", () => new { text = "Hello from Kestrel over tcpstack" });
await app.StartAsync();
Console.WriteLine($"serving http://{stack.Address}/ in namespace {name}");
await app.WaitForShutdownAsync();
