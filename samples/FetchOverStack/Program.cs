using System.Net;
using System.Security.Cryptography;
using Stack.Http;
using Stack.Shell;

// Fetches a URL with HttpClient through tcpstack and prints its size and SHA-256.
// As root: FetchOverStack NAMESPACE URL. The stack's TUN device goes into network
// namespace NAMESPACE (made if missing), the stack at 10.7.0.2 and the kernel at 10.7.0.1,
// so a server in that namespace (nginx, say) answers http://10.7.0.1:PORT/...
if (args.Length != 2)
{
    Console.Error.WriteLine("usage: FetchOverStack NAMESPACE URL");
    return 2;
}

using var stack = TcpStack.Start(new TcpStackOptions
{
    Namespace = args[0],
    KernelAddress = "10.7.0.1/24",
    Address = IPAddress.Parse("10.7.0.2"),
});
using var http = new HttpClient(TcpStackHttpHandler.Create(stack));
using var response = await http.GetAsync(args[1], HttpCompletionOption.ResponseHeadersRead);
response.EnsureSuccessStatusCode();
await using var body = await response.Content.ReadAsStreamAsync();

using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
var buffer = new byte[1 << 16];
long total = 0;
int n;
while ((n = await body.ReadAsync(buffer)) > 0)
{
    sha.AppendData(buffer, 0, n);
    total += n;
}

Console.WriteLine($"{total} bytes, sha256 {Convert.ToHexString(sha.GetHashAndReset())}");
return 0;
