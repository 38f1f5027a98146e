using System.Net;
using System.Text;
using Stack.Shell;
using Stack.Shell.Device;

namespace TestingOverStack;

/// <summary>
/// Testing network code over the stack with xUnit: each test gets a client stack and a
/// server stack joined by an in-memory link (optionally a lossy one), so it runs anywhere
/// <c>dotnet test</c> runs.
/// </summary>
public sealed class UpperCaseServerTests
{
    private static readonly IPAddress ServerAddress = IPAddress.Parse("10.0.0.2");

    /// <summary>Two stacks on one in-memory link; the server runs <see cref="UpperCaseServer"/> on port 7.</summary>
    private sealed class Setup : IAsyncDisposable
    {
        private readonly TcpStackListener _listener;
        private readonly Task _serving;

        public Setup(LinkImpairment? link = null)
        {
            var (clientEnd, serverEnd) = MemoryDevice.CreatePair();
            Server = TcpStack.Start(new TcpStackOptions { Address = ServerAddress, Device = serverEnd, InboundImpairment = link });
            Client = TcpStack.Start(new TcpStackOptions { Address = IPAddress.Parse("10.0.0.1"), Device = clientEnd, InboundImpairment = link });
            _listener = Server.Listen(7);
            _serving = new UpperCaseServer(_listener).RunAsync();
        }

        public TcpStack Server { get; }

        public TcpStack Client { get; }

        public Task<TcpStackConnection> ConnectAsync() => Client.ConnectAsync(new IPEndPoint(ServerAddress, 7));

        public async ValueTask DisposeAsync()
        {
            _listener.Dispose();
            await _serving;
            await Client.DisposeAsync();
            await Server.DisposeAsync();
        }
    }

    private static async Task<string> AskAsync(TcpStackConnection connection, string line)
    {
        var stream = connection.GetStream(leaveOpen: true);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"));
        var answer = new StringBuilder();
        var one = new byte[1];
        while (await stream.ReadAsync(one) == 1 && one[0] != (byte)'\n')
        {
            answer.Append((char)one[0]);
        }

        return answer.ToString();
    }

    [Fact]
    public async Task AnswersEachLineInUpperCase()
    {
        await using var setup = new Setup();
        await using var connection = await setup.ConnectAsync();

        Assert.Equal("HELLO", await AskAsync(connection, "hello"));
        Assert.Equal("OVER THE STACK", await AskAsync(connection, "over the stack"));
    }

    [Fact]
    public async Task ServesManyClientsAtOnce()
    {
        await using var setup = new Setup();
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            await using var connection = await setup.ConnectAsync();
            return await AskAsync(connection, $"client {i}");
        }));

        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"CLIENT {i}"), answers);
    }

    [Fact]
    public async Task KeepsEveryByteThroughALossyLink()
    {
        // 5% of packets lost each way: the stack's retransmissions, not the server, repair it.
        await using var setup = new Setup(new LinkImpairment { Loss = 0.05 });
        await using var connection = await setup.ConnectAsync();
        var line = string.Concat(Enumerable.Repeat("lossy link ", 2000));

        Assert.Equal(line.ToUpperInvariant(), await AskAsync(connection, line));
        Assert.True(setup.Client.GetStatistics().Retransmissions + setup.Server.GetStatistics().Retransmissions > 0, "some packets were sent again");
    }

    [Fact]
    public async Task APortNobodyListensOnRefuses()
    {
        await using var setup = new Setup();
        var error = await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(
            () => setup.Client.ConnectAsync(new IPEndPoint(ServerAddress, 8)));

        Assert.Equal(System.Net.Sockets.SocketError.ConnectionRefused, error.SocketErrorCode);
    }
}
