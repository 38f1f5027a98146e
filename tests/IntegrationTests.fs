/// The integrations: Kestrel serving over one stack, HttpClient fetching over another,
/// joined back to back in memory (no root needed).
module Stack.Tests.IntegrationTests

open System
open System.Net.Http
open System.Threading.Tasks
open Microsoft.AspNetCore.Builder
open Microsoft.AspNetCore.Hosting
open Microsoft.AspNetCore.Http
open Microsoft.Extensions.Logging
open Expecto
open Stack.AspNetCore
open Stack.Http
open Stack.Shell
open Stack.Tests.ShellTests

/// The bytes `/bytes/N` serves.
let private body (count: int) = streamBytes 12 count

/// A small app: `/` says hello, `/bytes/N` sends N bytes, `/sha` answers the SHA-256 of
/// the request body.
let private handle (context: HttpContext) : Task =
    let path = context.Request.Path.Value

    if path = "/" then
        context.Response.WriteAsync "hello over tcpstack"
    elif path.StartsWith "/bytes/" then
        let data = body (int (path.Substring 7))
        context.Response.ContentLength <- Nullable(int64 data.Length)
        context.Response.Body.WriteAsync(data, 0, data.Length)
    elif path = "/sha" then
        task {
            let! hash = Security.Cryptography.SHA256.HashDataAsync context.Request.Body
            do! context.Response.WriteAsync(Convert.ToHexString hash)
        }
    else
        context.Response.StatusCode <- 404
        Task.CompletedTask

/// Kestrel over `stack` at `urls`, running `handle`; stopped and disposed by the caller.
let private serveAt (urls: string array) (stack: TcpStack) =
    let builder = WebApplication.CreateSlimBuilder()
    builder.Logging.ClearProviders() |> ignore

    builder.WebHost.UseTcpStack(stack).UseUrls(urls) |> ignore

    let app = builder.Build()
    app.Run(RequestDelegate handle)
    app.StartAsync().Wait(TimeSpan.FromSeconds 30.) |> ignore
    app

let private serve (stack: TcpStack) =
    serveAt [| $"http://{stack.Address}:80" |] stack

let private withServerAt (urls: TcpStack -> string array) (f: HttpClient -> TcpStack -> unit) =
    withPair (fun client server ->
        let app = serveAt (urls server) server

        try
            use http = new HttpClient(TcpStackHttpHandler.Create client)
            f http client
        finally
            app.StopAsync().Wait(TimeSpan.FromSeconds 30.) |> ignore

            (app :> IAsyncDisposable).DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds 30.)
            |> ignore)

let private withServer f =
    withServerAt (fun server -> [| $"http://{server.Address}:80" |]) f

[<Tests>]
let tests =
    testSequenced
    <| testList
        "integrations"
        [
            testCase "Kestrel serves over the stack and HttpClient fetches over the stack, keep-alive and not"
            <| fun () ->
                withServer (fun http _ ->
                    let url path = $"http://{addressB}{path}"
                    Expect.equal (http.GetStringAsync(url "/") |> within 30.) "hello over tcpstack" "the page"

                    for _ in 1..20 do
                        Expect.equal
                            (http.GetStringAsync(url "/") |> within 30.)
                            "hello over tcpstack"
                            "again, kept alive"

                    use closing = new HttpRequestMessage(HttpMethod.Get, url "/")
                    closing.Headers.ConnectionClose <- Nullable true
                    use response = http.SendAsync closing |> within 30.
                    let text = response.Content.ReadAsStringAsync() |> within 30.
                    Expect.equal text "hello over tcpstack" "with Connection: close"

                    use missing = http.GetAsync(url "/missing") |> within 30.
                    Expect.equal (int missing.StatusCode) 404 "not found")

            testCase "Kestrel bound to any address answers both families; bound to the IPv6 address, IPv6 only"
            <| fun () ->
                withServerAt (fun server -> [| "http://[::]:80"; $"http://[{server.Address6}]:81" |]) (fun http _ ->
                    let get (url: string) =
                        try
                            http.GetStringAsync url |> within 30.
                        with :? AggregateException as e when (e.InnerException :? HttpRequestException) ->
                            "refused"

                    Expect.equal (get $"http://{addressB}/") "hello over tcpstack" "IPv4 to any"
                    Expect.equal (get $"http://[{address6B}]/") "hello over tcpstack" "IPv6 to any"
                    Expect.equal (get $"http://[{address6B}]:81/") "hello over tcpstack" "IPv6 to the IPv6 address"
                    Expect.equal (get $"http://{addressB}:81/") "refused" "IPv4 to the IPv6 address")

            testCase
                "Kestrel bound to both of the stack's addresses on one port, and to localhost on another, answers both families"
            <| fun () ->
                withServerAt
                    (fun server ->
                        [|
                            $"http://{server.Address}:82"
                            $"http://[{server.Address6}]:82"
                            "http://localhost:83"
                        |])
                    (fun http _ ->
                        for url in
                            [
                                $"http://{addressB}:82/"
                                $"http://[{address6B}]:82/"
                                $"http://{addressB}:83/"
                                $"http://[{address6B}]:83/"
                            ] do
                            Expect.equal (http.GetStringAsync url |> within 30.) "hello over tcpstack" url)

            testCase "10 MB down and 2 MB up through Kestrel and HttpClient, bytes intact"
            <| fun () ->
                withServer (fun http _ ->
                    let size = 10_000_000
                    let got = http.GetByteArrayAsync($"http://{addressB}/bytes/{size}") |> within 60.
                    Expect.equal (sha got) (sha (body size)) "the download"

                    let upload = streamBytes 13 2_000_000
                    use content = new ByteArrayContent(upload)
                    use response = http.PostAsync($"http://{addressB}/sha", content) |> within 60.
                    let hash = response.Content.ReadAsStringAsync() |> within 60.
                    Expect.equal hash (sha upload) "the upload, as the server hashed it")

            testCase "a host name without a resolver fails and says what to do; with one, it connects"
            <| fun () ->
                withServer (fun http client ->
                    let failed =
                        try
                            http.GetStringAsync("http://server.test/") |> within 30. |> Some
                        with :? AggregateException as e ->
                            Expect.stringContains e.InnerException.Message "HostResolver" "says what to do"
                            None

                    Expect.isNone failed "no page without a resolver"

                    let resolve =
                        HostResolver(fun host _ ->
                            Expect.equal host "server.test" "the name asked for"
                            ValueTask.FromResult addressB)

                    use resolving = new HttpClient(TcpStackHttpHandler.Create(client, resolve))
                    let page = resolving.GetStringAsync("http://server.test/") |> within 30.
                    Expect.equal page "hello over tcpstack" "the page through the resolver")
        ]

open System.Collections.Generic
open Microsoft.Extensions.Configuration
open Microsoft.Extensions.DependencyInjection
open Microsoft.Extensions.Hosting
open Microsoft.Extensions.Options
open Stack.Hosting
open Stack.Shell.Device

/// A generic host whose stack is set up from `settings` (as configuration) on `device`.
let private hostWith (settings: (string * string) list) (device: IPacketDevice) =
    let builder = Host.CreateApplicationBuilder()
    builder.Logging.ClearProviders() |> ignore

    builder.Configuration.AddInMemoryCollection(settings |> List.map KeyValuePair.Create)
    |> ignore

    builder.Services.AddSingleton<IPacketDevice>(device).AddTcpStack(builder.Configuration)
    |> ignore

    builder.Build()

[<Tests>]
let hostingTests =
    testSequenced
    <| testList
        "hosting"
        [
            testCase "AddTcpStack binds the TcpStack section, starts the stack with the host and stops it with it"
            <| fun () ->
                let struct (ours, theirs) = MemoryDevice.CreatePair()

                use host =
                    hostWith
                        [
                            "TcpStack:Address", "10.0.0.2"
                            "TcpStack:Address6", "fd00:7::b"
                            "TcpStack:NoDelay", "true"
                        ]
                        ours

                host.StartAsync().Wait(TimeSpan.FromSeconds 30.) |> ignore
                let stack = host.Services.GetRequiredService<TcpStack>()
                Expect.equal (string stack.Address) "10.0.0.2" "the configured address"
                Expect.equal (string stack.Address6) "fd00:7::b" "the configured IPv6 address"
                use peer = TcpStack.Start(TcpStackOptions(Address = addressA, Device = theirs))
                let client, server = connectPair peer stack
                exchange client server 100_000 30.
                host.StopAsync().Wait(TimeSpan.FromSeconds 30.) |> ignore

                Expect.throws (fun () -> stack.Listen 8 |> ignore) "the host's stop disposed the stack"

            testCase "the protocol's tunables bind from the TcpStack:Tcp section"
            <| fun () ->
                let configuration =
                    ConfigurationBuilder()
                        .AddInMemoryCollection(
                            dict
                                [
                                    "TcpStack:Tcp:MaxSynRetries", "2"
                                    "TcpStack:Tcp:CongestionControl", "NewReno"
                                    "TcpStack:Tcp:FinWait2Timeout", "00:00:05"
                                    "TcpStack:Tcp:Keepalive:Idle", "00:01:00"
                                    "TcpStack:Tcp:Keepalive:Interval", "00:00:10"
                                    "TcpStack:Tcp:Keepalive:Count", "3"
                                ]
                        )
                        .Build()

                let settings =
                    configuration
                        .GetSection(Stack.Hosting.TcpStackSettings.Section)
                        .Get<Stack.Hosting.TcpStackSettings>()

                let tcp = settings.ToOptions().Tcp
                Expect.equal tcp.MaxSynRetries 2 "retries"
                Expect.equal tcp.CongestionControl TcpCongestionControl.NewReno "controller"
                Expect.equal tcp.FinWait2Timeout (TimeSpan.FromSeconds 5.) "FIN-WAIT-2 timeout"

                Expect.equal
                    tcp.Keepalive
                    (TcpKeepalive(TimeSpan.FromMinutes 1., TimeSpan.FromSeconds 10., 3))
                    "keepalive"

                Expect.isTrue tcp.SelectiveAcknowledgments "what is not set keeps its default"

            testCase "a bad setting stops the host's start with a message that names it"
            <| fun () ->
                let struct (ours, _) = MemoryDevice.CreatePair()
                use host = hostWith [ "TcpStack:Address", "10.0.0.300" ] ours

                let message =
                    try
                        host.StartAsync().Wait(TimeSpan.FromSeconds 30.) |> ignore
                        ""
                    with :? AggregateException as e ->
                        e.InnerException.Message

                Expect.stringContains message "TcpStack: Address '10.0.0.300' is not an IPv4 address" "names it"

            testCase "IPv6 settings: empty Address6 means IPv4 only, a bad one is named"
            <| fun () ->
                let settings (pairs: (string * string) list) =
                    ConfigurationBuilder()
                        .AddInMemoryCollection(pairs |> List.map KeyValuePair.Create)
                        .Build()
                        .GetSection(Stack.Hosting.TcpStackSettings.Section)
                        .Get<Stack.Hosting.TcpStackSettings>()

                let options =
                    (settings [ "TcpStack:Address6", ""; "TcpStack:FragmentMemory", "65536" ]).ToOptions()

                Expect.isNull options.Address6 "IPv4 only"
                Expect.isNull options.KernelAddress6 "and no kernel IPv6 address"
                Expect.equal options.FragmentMemory 65536 "the fragment memory"

                for key, value, expected in
                    [
                        "TcpStack:Address6", "10.0.0.2", "Address6 '10.0.0.2' is not an IPv6 address"
                        "TcpStack:KernelAddress6", "fd00:7::1/200", "KernelAddress6 'fd00:7::1/200'"
                        "TcpStack:FragmentMemory", "-1", "FragmentMemory"
                    ] do
                    let message =
                        try
                            (settings [ key, value ]).ToOptions() |> ignore
                            ""
                        with :? ArgumentException as e ->
                            e.Message

                    Expect.stringContains message expected $"{key} = {value}"
        ]
