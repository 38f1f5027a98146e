using System.Text;
using Stack.Shell;

namespace TestingOverStack;

/// <summary>
/// The code under test: a small line protocol that answers each line in upper case. It
/// takes a <see cref="TcpStackListener"/> as it would take a socket listener, so a test can
/// run it over two in-memory stacks, with no root, no TUN device and no ports of the host.
/// </summary>
public sealed class UpperCaseServer(TcpStackListener listener)
{
    /// <summary>Serves connections until the listener is disposed.</summary>
    public async Task RunAsync()
    {
        while (true)
        {
            TcpStackConnection connection;
            try
            {
                connection = await listener.AcceptAsync();
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            _ = ServeAsync(connection);
        }
    }

    private static async Task ServeAsync(TcpStackConnection connection)
    {
        await using (connection)
        {
            var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
            using var reader = new StreamReader(connection.GetStream(leaveOpen: true), utf8);
            var writer = new StreamWriter(connection.GetStream(leaveOpen: true), utf8) { AutoFlush = true };
            while (await reader.ReadLineAsync() is { } line)
            {
                await writer.WriteLineAsync(line.ToUpperInvariant());
            }
        }
    }
}
