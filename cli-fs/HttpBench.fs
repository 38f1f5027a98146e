/// `tcpstack bench --http`: Kestrel over the stack against Kestrel over kernel sockets,
/// loaded by the same HTTP client in the same run, and a 100 MB HttpClient download
/// through the stack against one through kernel sockets.
module Stack.Cli.HttpBench

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Http
open System.Net.Sockets
open System.Threading
open System.Threading.Tasks
open Microsoft.AspNetCore.Builder
open Microsoft.AspNetCore.Hosting
open Microsoft.AspNetCore.Http
open Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets
open Microsoft.Extensions.DependencyInjection
open Microsoft.Extensions.Logging
open Stack.AspNetCore
open Stack.Http
open Stack.Shell
open Stack.Shell.Device
open Stack.Cli.Namespaces

/// The page every request fetches, and the download's size.
let private page = "hello over HTTP"B
let private downloadSize = 100_000_000
let private chunk = Array.init (1 <<< 16) byte

/// `/` answers the page; `/bytes` sends `downloadSize` bytes.
let private handle (context: HttpContext) : Task =
    if context.Request.Path.Value = "/bytes" then
        task {
            context.Response.ContentLength <- Nullable(int64 downloadSize)
            let mutable left = downloadSize

            while left > 0 do
                let n = min left chunk.Length
                do! context.Response.Body.WriteAsync(chunk.AsMemory(0, n))
                left <- left - n
        }
    else
        context.Response.ContentLength <- Nullable(int64 page.Length)
        context.Response.Body.WriteAsync(page, 0, page.Length)

/// A Kestrel app on `url`, its transport set by `useTransport`.
let private startApp (url: string) (useTransport: IWebHostBuilder -> unit) =
    let builder = WebApplication.CreateSlimBuilder()
    builder.Logging.ClearProviders() |> ignore
    useTransport builder.WebHost
    builder.WebHost.UseUrls(url) |> ignore
    let app = builder.Build()
    app.Run(RequestDelegate handle)
    app.StartAsync().Wait()
    app

/// Kestrel on kernel sockets made in namespace `ns`.
let private kernelTransport (ns: string) (web: IWebHostBuilder) =
    web.UseSockets(fun o ->
        o.CreateBoundListenSocket <-
            fun endpoint ->
                NetworkNamespace.RunIn(ns, fun () -> SocketTransportOptions.CreateDefaultBoundListenSocket endpoint))
    |> ignore

/// An HttpClient whose kernel sockets live in namespace `ns`.
let private kernelClient (ns: string) (connections: int) =
    let handler =
        new SocketsHttpHandler(
            MaxConnectionsPerServer = connections,
            ConnectCallback =
                fun context cancel ->
                    task {
                        let s = socketIn ns
                        s.NoDelay <- true

                        try
                            do! s.ConnectAsync(context.DnsEndPoint, cancel)
                            return new NetworkStream(s, true) :> Stream
                        with _ ->
                            s.Dispose()
                            return raise (HttpRequestException $"connect to {context.DnsEndPoint} failed")
                    }
                    |> ValueTask<Stream>
        )

    new HttpClient(handler)

/// Requests per second: `connections` workers fetch `url` for `duration`, each on its own
/// kept-alive connection, or each request on a new one (Connection: close).
let private requestRate (http: HttpClient) (url: string) (connections: int) (keepAlive: bool) (duration: TimeSpan) =
    task {
        let stopwatch = Stopwatch.StartNew()
        let mutable total = 0L
        let mutable failed = 0L

        let worker () =
            task {
                while stopwatch.Elapsed < duration do
                    use request = new HttpRequestMessage(HttpMethod.Get, url)

                    if not keepAlive then
                        request.Headers.ConnectionClose <- Nullable true

                    try
                        use! response = http.SendAsync request
                        let! body = response.Content.ReadAsByteArrayAsync()

                        if body.Length = page.Length then
                            Interlocked.Increment &total |> ignore
                        else
                            Interlocked.Increment &failed |> ignore
                    with _ ->
                        Interlocked.Increment &failed |> ignore
            }

        let! _ = Task.WhenAll(Array.init connections (fun _ -> worker ()))
        return float total / stopwatch.Elapsed.TotalSeconds, failed
    }

/// Seconds one download of `/bytes` takes.
let private download (http: HttpClient) (url: string) =
    task {
        let stopwatch = Stopwatch.StartNew()
        use! stream = http.GetStreamAsync(url: string)
        let buffer = Array.zeroCreate<byte>(1 <<< 16)
        let mutable got = 0L
        let mutable reading = true

        while reading do
            let! n = stream.ReadAsync(buffer.AsMemory())
            if n = 0 then reading <- false else got <- got + int64 n

        if got <> int64 downloadSize then
            failwith $"the download ended after {got} of {downloadSize} bytes"

        return stopwatch.Elapsed.TotalSeconds
    }

type private Figures =
    {
        KeepAlive: float
        Closing: float
        Failed: int64
        DownloadSeconds: float
    }

/// The request rates; the download is `download` (its seconds).
let private measure
    progress
    (label: string)
    (client: HttpClient)
    (serverUrl: string)
    (download: unit -> Task<float>)
    duration
    =
    task {
        let connections = 50
        progress $"{label}: warming up"
        let! _ = requestRate client serverUrl connections true (TimeSpan.FromSeconds 1.)
        progress $"{label}: requests, keep-alive"
        let! keepAlive, failedKept = requestRate client serverUrl connections true duration
        progress $"{label}: requests, a connection each"
        let! closing, failedClosing = requestRate client serverUrl connections false duration
        progress $"{label}: 100 MB download"
        let! seconds = download ()

        return
            {
                KeepAlive = keepAlive
                Closing = closing
                Failed = failedKept + failedClosing
                DownloadSeconds = seconds
            }
    }

/// The kernel: Kestrel on kernel sockets at one end of a veth pair, the client at the other.
let private kernelFigures progress duration =
    task {
        use veth =
            new VethPair(uniqueName "tsh" "a", uniqueName "tsh" "b", "10.8.0.1/24", "10.8.0.2/24", 1500)

        let app = startApp "http://10.8.0.2:8080" (kernelTransport veth.B)

        try
            use client = kernelClient veth.A 50
            let url = "http://10.8.0.2:8080/"
            return! measure progress "kernel (veth)" client url (fun () -> download client (url + "bytes")) duration
        finally
            app.StopAsync().Wait()
    }

/// The stack: Kestrel over it, loaded by kernel sockets across its TUN device; the
/// download is HttpClient over the stack from Kestrel on the kernel's side of the device.
let private stackFigures progress duration =
    task {
        let ns = uniqueName "tsh" "t"

        let! stack = benchStack ns 1500 (4 <<< 20)

        try
            let overStack =
                startApp "http://10.9.0.2:8080" (fun web -> web.UseTcpStack stack |> ignore)

            let onKernel = startApp "http://10.9.0.1:8081" (kernelTransport ns)

            try
                use client = kernelClient ns 50
                use overStackClient = new HttpClient(TcpStackHttpHandler.Create stack)

                return!
                    measure
                        progress
                        "stack (TUN)"
                        client
                        "http://10.9.0.2:8080/"
                        (fun () -> download overStackClient "http://10.9.0.1:8081/bytes")
                        duration
            finally
                overStack.StopAsync().Wait()
                onKernel.StopAsync().Wait()
        finally
            stack.DisposeAsync().AsTask().Wait()
    }

let run (seconds: float) (out: TextWriter) =
    Validate.root "bench --http makes network namespaces, a veth pair and a TUN device"
    removeOnInterrupt [ uniqueName "tsh" "a"; uniqueName "tsh" "b"; uniqueName "tsh" "t" ]
    let progress (text: string) = eprintfn "bench: %s" text
    let duration = TimeSpan.FromSeconds seconds
    let kernel = (kernelFigures progress duration).Result
    let stack = (stackFigures progress duration).Result
    let mb (s: float) = float downloadSize * 8.0 / s / 1e6

    out.WriteLine(
        $"{seconds} s per measurement, 50 connections; Kestrel over kernel sockets (veth) against Kestrel over the stack (TUN), the same client"
    )

    out.WriteLine(
        String.Format("{0,-44} {1,8} {2,14} {3,14} {4,8}", "measure", "unit", "kernel (veth)", "stack (TUN)", "ratio")
    )

    for name, unit, k, s in
        [
            "HTTP requests, keep-alive", "per s", kernel.KeepAlive, stack.KeepAlive
            "HTTP requests, a connection each", "per s", kernel.Closing, stack.Closing
            "HttpClient download of 100 MB", "Mbit/s", mb kernel.DownloadSeconds, mb stack.DownloadSeconds
        ] do
        out.WriteLine(String.Format("{0,-44} {1,8} {2,14:F1} {3,14:F1} {4,8:F3}", name, unit, k, s, s / k))

    out.WriteLine($"failed requests: kernel {kernel.Failed}, stack {stack.Failed}")
    if kernel.Failed + stack.Failed > 0L then 1 else 0
