/// The samples as a user runs them: samples/WebOverStack serves a page over the stack in
/// its own namespace; curl and a headless Chromium in that namespace load it. Needs root,
/// /dev/net/tun, curl and chromium (the test command installs them): run in CI.
module Stack.Tests.SampleTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Stack.Shell.Device
open Stack.Tests.KernelTests

/// The repository's root: the nearest directory up from the tests holding Stack.sln.
let private repositoryRoot =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then
            failwith "Stack.sln not found above the tests"
        elif File.Exists(Path.Combine(dir.FullName, "Stack.sln")) then
            dir.FullName
        else
            up dir.Parent

    up (DirectoryInfo AppContext.BaseDirectory)

/// Runs `program` in namespace `ns`; its standard output (it must exit 0 within 60 s).
let private inNamespace (ns: string) (program: string) (arguments: string list) =
    let psi = ProcessStartInfo("ip", [ "netns"; "exec"; ns; program ] @ arguments)
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    use p = Process.Start psi
    let reading = p.StandardOutput.ReadToEndAsync()
    let errors = p.StandardError.ReadToEndAsync()

    if not (p.WaitForExit 60_000) then
        p.Kill true
        failtestf "%s did not finish within 60 s" program

    Expect.equal p.ExitCode 0 $"{program} ran: {errors.Result}"
    reading.Result

let private requireTool (tool: string) =
    let found =
        [ "/usr/bin"; "/bin"; "/usr/local/bin" ]
        |> List.exists (fun dir -> File.Exists(Path.Combine(dir, tool)))

    match found with
    | true -> ()
    | false when Environment.GetEnvironmentVariable "CI" = "true" ->
        failtestf "the sample tests must run in CI, but %s is missing" tool
    | false -> skiptestf "the sample tests need %s (apt-get install -y %s)" tool tool

/// Runs the web sample in a new namespace until `f` returns; stops it with SIGTERM.
let private withWebSample (f: string -> unit) =
    requireKernel ()
    requireTool "curl"
    requireTool "chromium"
    let ns = freshNamespace ()

    let dll =
        Path.Combine(repositoryRoot, "samples", "WebOverStack", "bin", "Release", "net10.0", "WebOverStack.dll")

    let psi = ProcessStartInfo("dotnet", [ dll; ns ])
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
        Process.Start("kill", [ "-TERM"; string sample.Id ]).WaitForExit()

        if not (sample.WaitForExit 20_000) then
            sample.Kill true

        if NetworkNamespace.Exists ns then
            Process.Start("ip", [ "netns"; "del"; ns ]).WaitForExit()

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
        ]
