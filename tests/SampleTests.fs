/// The samples as a user runs them: samples/WebOverStack serves a page over the stack in
/// its own namespace, and curl and a headless Chromium in that namespace load it;
/// samples/FetchOverStack fetches a file from nginx on the kernel's side with HttpClient.
/// Needs root, /dev/net/tun, curl, chromium and nginx (the test command installs them):
/// run in CI.
module Stack.Tests.SampleTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Microsoft.Playwright
open Stack.Shell.Device
open Stack.Tests.KernelTests
open Stack.Tests.ShellTests
open Stack.Tests.ApiTests

/// A sample's program, as the solution's build leaves it.
let private sampleDll (name: string) =
    Path.Combine(repositoryRoot, "samples", name, "bin", "Release", "net10.0", name + ".dll")

/// Runs `program`; its standard output (it must exit 0 within 60 s).
let private runToEnd (program: string) (arguments: string list) =
    let psi = ProcessStartInfo(program, arguments)
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    use p = Process.Start psi
    let reading = p.StandardOutput.ReadToEndAsync()
    let errors = p.StandardError.ReadToEndAsync()

    if not (p.WaitForExit 60_000) then
        p.Kill true
        failtestf "%s did not finish within 60 s" (String.Join(" ", program :: arguments))

    Expect.equal p.ExitCode 0 $"{program} ran: {errors.Result}"
    reading.Result

/// Runs `program` in namespace `ns`; its standard output (it must exit 0 within 60 s).
let private inNamespace (ns: string) (program: string) (arguments: string list) =
    runToEnd "ip" ([ "netns"; "exec"; ns; program ] @ arguments)

let private requireTool (tool: string) =
    let found =
        [ "/usr/bin"; "/bin"; "/usr/local/bin"; "/usr/sbin"; "/sbin" ]
        |> List.exists (fun dir -> File.Exists(Path.Combine(dir, tool)))

    match found with
    | true -> ()
    | false when Environment.GetEnvironmentVariable "CI" = "true" ->
        failtestf "the sample tests must run in CI, but %s is missing" tool
    | false -> skiptestf "the sample tests need %s (apt-get install -y %s)" tool tool

/// Stops a process this test started (SIGTERM, then SIGKILL after 20 s) and removes
/// namespace `ns` if it is still there.
let private stopAndRemove (p: Process) (ns: string) =
    Process.Start("kill", [ "-TERM"; string p.Id ]).WaitForExit()

    if not (p.WaitForExit 20_000) then
        p.Kill true

    if NetworkNamespace.Exists ns then
        Process.Start("ip", [ "netns"; "del"; ns ]).WaitForExit()

/// Runs the web sample in a new namespace until `f` returns; stops it with SIGTERM.
let private withWebSample (f: string -> unit) =
    requireKernel ()
    requireTool "curl"
    requireTool "chromium"
    let ns = freshNamespace ()

    let psi = ProcessStartInfo("dotnet", [ sampleDll "WebOverStack"; ns ])
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    use sample = Process.Start psi
    let errors = sample.StandardError.ReadToEndAsync()

    try
        // Its own line says where it serves once it does; the host's log lines come first.
        let deadline = DateTime.UtcNow.AddSeconds 60.
        let mutable serving = false

        while not serving && DateTime.UtcNow < deadline do
            let line = sample.StandardOutput.ReadLineAsync()

            if not (line.Wait(deadline - DateTime.UtcNow)) || isNull line.Result then
                failtestf "the sample did not start: %s" (if errors.IsCompleted then errors.Result else "")

            serving <- line.Result.Contains "serving http://10.7.0.2/"

        Expect.isTrue serving "the sample says where it serves"
        f ns
    finally
        stopAndRemove sample ns

[<Tests>]
let tests =
    testSequenced
    <| testList
        "samples"
        [
            testCase "the web sample serves its page over the stack to curl, and to a headless Chromium with its assets"
            <| fun () ->
                withWebSample (fun ns ->
                    let page = inNamespace ns "curl" [ "-sS"; "--max-time"; "20"; "http://10.7.0.2/" ]
                    Expect.stringContains page "Served over tcpstack" "curl: the page"

                    let css =
                        inNamespace ns "curl" [ "-sS"; "--max-time"; "20"; "http://10.7.0.2/style.css" ]

                    Expect.stringContains css "font-family" "curl: the style sheet"

                    let profile = Directory.CreateTempSubdirectory("tcpstack-chromium-").FullName

                    try
                        let dom =
                            inNamespace
                                ns
                                "chromium"
                                [
                                    "--headless"
                                    "--no-sandbox"
                                    "--disable-gpu"
                                    "--disable-quic"
                                    "--no-first-run"
                                    "--disable-background-networking"
                                    "--disable-component-update"
                                    "--disable-sync"
                                    $"--user-data-dir={profile}"
                                    "--virtual-time-budget=10000"
                                    "--dump-dom"
                                    "http://10.7.0.2/"
                                ]

                        // The greeting is filled in by app.js from /api/greeting: the page,
                        // its script and the API call all crossed the stack.
                        Expect.stringContains dom "Served over tcpstack" "Chromium: the page"
                        Expect.stringContains dom "Hello from Kestrel over tcpstack" "Chromium: the script's API call"
                        Expect.stringContains dom "data-loaded=\"yes\"" "Chromium: the script ran to its end"
                    finally
                        Directory.Delete(profile, true))

            testCase
                "Playwright drives Chromium in the namespace through the page: its script fills the greeting, no request fails, a screenshot is kept"
            <| fun () ->
                withWebSample (fun ns ->
                    // Chromium from apt, started inside the namespace: Playwright runs
                    // this wrapper as the browser (it cannot download one here).
                    let work = Directory.CreateTempSubdirectory("tcpstack-playwright-").FullName
                    let browser = Path.Combine(work, "chromium-in-namespace")
                    File.WriteAllText(browser, $"#!/bin/sh\nexec ip netns exec {ns} chromium \"$@\"\n")

                    File.SetUnixFileMode(
                        browser,
                        UnixFileMode.UserRead ||| UnixFileMode.UserWrite ||| UnixFileMode.UserExecute
                    )

                    try
                        use playwright = Playwright.CreateAsync() |> within 60.

                        let options =
                            BrowserTypeLaunchOptions(
                                ExecutablePath = browser,
                                Headless = true,
                                Args =
                                    [
                                        "--no-sandbox"
                                        "--disable-gpu"
                                        "--disable-quic"
                                        "--disable-background-networking"
                                        "--disable-component-update"
                                        "--disable-sync"
                                    ]
                            )

                        let chromium = playwright.Chromium.LaunchAsync options |> within 60.

                        try
                            let page = chromium.NewPageAsync() |> within 30.
                            let failed = Collections.Concurrent.ConcurrentQueue<string>()
                            page.add_RequestFailed (fun _ request -> failed.Enqueue request.Url)

                            let response = page.GotoAsync "http://10.7.0.2/" |> within 30.
                            Expect.equal response.Status 200 "the page"

                            page.WaitForSelectorAsync("body[data-loaded='yes']") |> within 30. |> ignore

                            let greeting = page.Locator("#greeting").TextContentAsync() |> within 30.
                            Expect.equal greeting "Hello from Kestrel over tcpstack" "the script's API call"

                            let font =
                                page.EvaluateAsync<string> "getComputedStyle(document.body).fontFamily"
                                |> within 30.

                            Expect.isFalse (String.IsNullOrEmpty font) "the style sheet applied"
                            Expect.isEmpty failed "no request failed"

                            let shot = Path.Combine(Path.GetTempPath(), "tcpstack-web-over-stack.png")
                            page.ScreenshotAsync(PageScreenshotOptions(Path = shot)) |> within 30. |> ignore
                            Expect.isGreaterThan (FileInfo(shot).Length) 1000L "a screenshot"
                            printfn "screenshot of the page served over the stack: %s" shot
                        finally
                            chromium.CloseAsync().Wait(TimeSpan.FromSeconds 30.) |> ignore
                    finally
                        Directory.Delete(work, true))

            testCase
                "the fetch sample downloads 5 MB from nginx on the kernel's side with HttpClient over the stack, intact"
            <| fun () ->
                requireKernel ()
                requireTool "nginx"
                let ns = freshNamespace ()
                let work = Directory.CreateTempSubdirectory("tcpstack-nginx-").FullName
                let data = ShellTests.streamBytes 21 5_000_000
                Directory.CreateDirectory(Path.Combine(work, "www")) |> ignore
                File.WriteAllBytes(Path.Combine(work, "www", "data.bin"), data)
                let conf = Path.Combine(work, "nginx.conf")

                File.WriteAllText(
                    conf,
                    $"""daemon off;
user root;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ }}
http {{
    access_log off;
    server {{ listen 8080; root {work}/www; }}
}}
"""
                )

                // The namespace first, so nginx listens in it before the stack's device arrives.
                Process.Start("ip", [ "netns"; "add"; ns ]).WaitForExit()
                // `ip netns exec` becomes nginx: this PID is nginx's master.
                use nginx =
                    Process.Start("ip", [ "netns"; "exec"; ns; "nginx"; "-c"; conf; "-p"; work ])

                try
                    // nginx writes its pid file once it listens.
                    eventually 10. (fun () -> File.Exists(Path.Combine(work, "nginx.pid"))) (fun () ->
                        "nginx did not start: " + File.ReadAllText(Path.Combine(work, "error.log")))

                    let output =
                        runToEnd "dotnet" [ sampleDll "FetchOverStack"; ns; "http://10.7.0.1:8080/data.bin" ]

                    Expect.stringContains
                        output
                        $"5000000 bytes, sha256 {ShellTests.sha data}"
                        "every byte nginx served"
                finally
                    stopAndRemove nginx ns
                    Directory.Delete(work, true)
        ]
