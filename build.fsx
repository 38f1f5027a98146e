// The build script: `dotnet fsi build.fsx -- <target> [args]`.
// Targets: clean, packages, restore, build, format, checkformat, pack, package-test, test, trim-check, aot-check,
// linux-loss-baseline, soak,
// property-soak, bench,
// loss-bench, memory-bench, demo, help.
// A small runner of our own (FAKE 6 does not restore on these machines; see
// ../shared/TOOLCHAIN.md): each target names the targets it needs, and each runs once.

open System
open System.Diagnostics
open System.IO

let root = __SOURCE_DIRECTORY__
let solution = Path.Combine(root, "Stack.sln")

/// The C# projects `dotnet format` keeps formatted (F# has fantomas).
let csharpProjects =
    [
        "shell-cs/Stack.Shell.csproj"
        "integrations/Stack.AspNetCore/Stack.AspNetCore.csproj"
        "integrations/Stack.Http/Stack.Http.csproj"
        "integrations/Stack.Hosting/Stack.Hosting.csproj"
        "samples/WebOverStack/WebOverStack.csproj"
        "samples/FetchOverStack/FetchOverStack.csproj"
        "samples/TestingOverStack/TestingOverStack.csproj"
    ]

let testDll =
    Path.Combine(root, "tests", "bin", "Release", "net10.0", "Stack.Tests.dll")

let cliDll =
    Path.Combine(root, "cli-fs", "bin", "Release", "net10.0", "tcpstack.dll")

let args = fsi.CommandLineArgs |> Array.skip 1 |> List.ofArray

let step (text: string) =
    Console.ForegroundColor <- ConsoleColor.Cyan
    printfn "==> %s" text
    Console.ResetColor()

/// Runs a program in the repository root with the console passed through; returns its
/// exit code.
let exec (program: string) (arguments: string list) =
    let psi = ProcessStartInfo(program, arguments)
    psi.WorkingDirectory <- root
    psi.UseShellExecute <- false
    use p = Process.Start psi
    p.WaitForExit()
    p.ExitCode

/// Runs a program and stops the build with a clear message when it fails.
let run (program: string) (arguments: string list) =
    let code = exec program arguments

    if code <> 0 then
        let line = String.Join(" ", program :: arguments)
        eprintfn "build: `%s` failed with exit code %d" line code
        exit code

let dotnet = run "dotnet"

let packagesDir = Path.Combine(root, "out", "packages")

/// What a user does with the packages: a new console project takes TcpStack.Shell from a
/// local feed and echoes through two stacks in memory; `tcpstack` installs as a tool.
let packageTest () =
    step "testing the packages in a fresh project"
    let work = Directory.CreateTempSubdirectory("tcpstack-packages-").FullName

    try
        let app = Path.Combine(work, "app")
        // The local feed beside the machine's own sources (no <clear/>): dependencies such
        // as FSharp.Core come from where they always do. A cache of its own, so a package
        // made again under the same version is not taken from an older run.
        File.WriteAllText(
            Path.Combine(work, "nuget.config"),
            $"""<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <config>
    <add key="globalPackagesFolder" value="{Path.Combine(work, "cache")}" />
  </config>
  <packageSources>
    <add key="tcpstack-local" value="{packagesDir}" />
  </packageSources>
</configuration>
"""
        )

        dotnet [ "new"; "console"; "-o"; app; "--framework"; "net10.0" ]
        let project = Path.Combine(app, "app.csproj")
        dotnet [ "add"; project; "package"; "TcpStack.Shell"; "--version"; "0.1.0" ]

        File.WriteAllText(
            Path.Combine(app, "Program.cs"),
            """using System.Net;
using Stack.Shell;
using Stack.Shell.Device;

var (a, b) = MemoryDevice.CreatePair();
using var server = TcpStack.Start(new TcpStackOptions { Address = IPAddress.Parse("10.0.0.2"), Device = b });
using var client = TcpStack.Start(new TcpStackOptions { Address = IPAddress.Parse("10.0.0.1"), Device = a });
using var listener = server.Listen(7);
var serving = Task.Run(async () =>
{
    using var c = await listener.AcceptAsync();
    await c.Stream.CopyToAsync(c.GetStream(leaveOpen: true));
    c.ShutdownWrite();
});
using var conn = await client.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 7));
await conn.Pipe.Output.WriteAsync("hello from a package"u8.ToArray());
await conn.Pipe.Output.CompleteAsync();
Console.WriteLine("echo: " + await new StreamReader(conn.Pipe.Input.AsStream()).ReadToEndAsync());
await serving;
"""
        )

        let output = Path.Combine(work, "output.txt")
        dotnet [ "build"; project; "-c"; "Release"; "-nologo"; "-v"; "q" ]

        let echoed =
            let psi =
                ProcessStartInfo("dotnet", [ "run"; "--project"; project; "-c"; "Release"; "--no-build" ])

            psi.RedirectStandardOutput <- true
            psi.UseShellExecute <- false
            use p = Process.Start psi
            let text = p.StandardOutput.ReadToEnd()
            p.WaitForExit()
            File.WriteAllText(output, text)
            text

        if not (echoed.Contains "echo: hello from a package") then
            eprintfn "build: the fresh project printed %A, not the echo" echoed
            exit 1

        let tools = Path.Combine(work, "tools")

        dotnet
            [
                "tool"
                "install"
                "tcpstack"
                "--tool-path"
                tools
                "--version"
                "0.1.0"
                "--add-source"
                packagesDir
            ]

        run (Path.Combine(tools, "tcpstack")) [ "decode"; "--help" ]
        printfn "packages: the fresh project echoed through the stack; the tcpstack tool runs"
    finally
        Directory.Delete(work, true)

/// Publishes samples/FetchOverStack trimmed and self-contained from a clean clone of HEAD
/// (its lock files then gain the runtime's packages, so the clone, not this tree, restores
/// them) and fails when the trimmer warns about one of our assemblies; FSharp.Core's own
/// warnings are reported, not fatal.
let trimCheck () =
    step "publishing samples/FetchOverStack trimmed (linux-x64, self-contained)"
    let work = Directory.CreateTempSubdirectory("tcpstack-trim-").FullName

    try
        let clone = Path.Combine(work, "src")
        run "git" [ "clone"; "-q"; root; clone ]

        let psi =
            ProcessStartInfo(
                "dotnet",
                [
                    "publish"
                    Path.Combine(clone, "samples", "FetchOverStack", "FetchOverStack.csproj")
                    "-c"
                    "Release"
                    "-r"
                    "linux-x64"
                    "--self-contained"
                    "-p:PublishTrimmed=true"
                    "-p:TreatWarningsAsErrors=false"
                    "-p:RestoreLockedMode=false"
                    "-o"
                    Path.Combine(work, "out")
                ]
            )

        psi.RedirectStandardOutput <- true
        psi.UseShellExecute <- false
        use p = Process.Start psi
        let output = p.StandardOutput.ReadToEnd()
        p.WaitForExit()

        let warnings =
            output.Split('\n')
            |> Array.filter (fun line -> line.Contains "warning IL")
            |> Array.map (fun line -> line.Trim())
            |> Array.distinct

        let ours =
            warnings
            |> Array.filter (fun line -> [ "Stack."; "FetchOverStack" ] |> List.exists line.Contains)
            |> Array.filter (fun line -> not (line.Contains "FSharp.Core"))

        for line in warnings do
            printfn "%s" line

        if p.ExitCode <> 0 then
            eprintfn "build: the trimmed publish failed:\n%s" output
            exit 1
        elif ours.Length > 0 then
            eprintfn "build: the trimmer warns about our assemblies (above)"
            exit 1
        else
            printfn "trim: the sample published trimmed; %d warning(s), none about our assemblies" warnings.Length
    finally
        Directory.Delete(work, true)

/// Builds each C# library in a clean clone with the trimming and AOT analyzers on
/// (`IsAotCompatible`); fails on any warning they give about our code. A clone, because
/// the extra property would rewrite the lock files of the working tree.
let aotCheck () =
    let work = Directory.CreateTempSubdirectory("tcpstack-aot-").FullName

    try
        let clone = Path.Combine(work, "src")
        run "git" [ "clone"; "-q"; root; clone ]

        let failed =
            [
                "shell-cs/Stack.Shell.csproj"
                "integrations/Stack.AspNetCore/Stack.AspNetCore.csproj"
                "integrations/Stack.Http/Stack.Http.csproj"
                "integrations/Stack.Hosting/Stack.Hosting.csproj"
            ]
            |> List.filter (fun project ->
                step $"{project} with the trimming and AOT analyzers"

                exec
                    "dotnet"
                    [
                        "build"
                        Path.Combine(clone, project)
                        "-c"
                        "Release"
                        "-nologo"
                        "-p:IsAotCompatible=true"
                        "-p:RestoreLockedMode=false"
                    ]
                <> 0)

        if not failed.IsEmpty then
            eprintfn
                "build: the trimming or AOT analyzers warn about %s (warnings are errors)"
                (String.Join(", ", failed))

            exit 1
    finally
        Directory.Delete(work, true)

let targets: (string * string * string list * (string list -> unit)) list =
    [
        "clean",
        "remove build outputs",
        [],
        fun _ ->
            for dir in [ "core-fs"; "shell-cs"; "cli-fs"; "tests"; "bench" ] do
                for sub in [ "bin"; "obj" ] do
                    let path = Path.Combine(root, dir, sub)

                    if Directory.Exists path then
                        Directory.Delete(path, true)

        "packages",
        "install the Debian packages the tests use (iproute2, tshark, curl, chromium, nginx, python3) when missing",
        [],
        fun _ ->
            let missing =
                [
                    "ip", "iproute2"
                    "tshark", "tshark"
                    "curl", "curl"
                    "chromium", "chromium"
                    "nginx", "nginx"
                    "python3", "python3"
                ]
                |> List.filter (fun (tool, _) -> exec "sh" [ "-c"; $"command -v {tool} >/dev/null" ] <> 0)
                |> List.map snd

            if not missing.IsEmpty then
                if Environment.UserName <> "root" then
                    eprintfn
                        "build: the kernel interop tests need %s; not root, so not installing (apt-get install -y %s)"
                        (String.Join(", ", missing))
                        (String.Join(" ", missing))
                else
                    step $"""installing {String.Join(", ", missing)}"""
                    Environment.SetEnvironmentVariable("DEBIAN_FRONTEND", "noninteractive")
                    run "apt-get" [ "update"; "-q" ]
                    run "apt-get" ([ "install"; "-y"; "-q"; "--no-install-recommends" ] @ missing)

        "restore",
        "restore tools and packages exactly as the lock files say",
        [],
        fun _ ->
            dotnet [ "tool"; "restore" ]
            dotnet [ "restore"; solution; "--locked-mode" ]

        "build",
        "build everything in Release",
        [ "restore" ],
        fun _ -> dotnet [ "build"; solution; "-c"; "Release"; "--no-restore"; "-nologo" ]

        "format",
        "format F# (fantomas) and C# (dotnet format)",
        [ "restore" ],
        fun _ ->
            dotnet [ "fantomas"; "." ]

            for project in csharpProjects do
                dotnet [ "format"; project; "--no-restore" ]

        "checkformat",
        "fail when any file needs formatting",
        [ "restore" ],
        fun _ ->
            let fs = exec "dotnet" [ "fantomas"; "--check"; "." ]

            if fs <> 0 then
                eprintfn "build: F# files need formatting: run `dotnet fsi build.fsx -- format`"
                exit 1

            let cs =
                csharpProjects
                |> List.map (fun project -> exec "dotnet" [ "format"; project; "--verify-no-changes"; "--no-restore" ])
                |> List.exists ((<>) 0)

            if cs then
                eprintfn "build: C# files need formatting: run `dotnet fsi build.fsx -- format`"
                exit 1

        "pack",
        "make the NuGet packages (the libraries and the tcpstack tool) in out/packages",
        [ "build" ],
        fun _ ->
            dotnet
                [
                    "pack"
                    solution
                    "-c"
                    "Release"
                    "--no-build"
                    "-nologo"
                    "-o"
                    packagesDir
                ]

        "package-test",
        "install the packages from out/packages into a fresh project and as a dotnet tool, and run both",
        [ "pack" ],
        fun _ -> packageTest ()

        "test",
        "check formatting, build, test the packages, run every test; ends with `N passed, N failed`",
        [ "packages"; "checkformat"; "build"; "package-test" ],
        fun extra ->
            step "running the xUnit sample (samples/TestingOverStack)"

            dotnet
                [
                    "test"
                    "samples/TestingOverStack/TestingOverStack.csproj"
                    "-c"
                    "Release"
                    "--no-build"
                    "-nologo"
                ]

            step "running the tests"
            exit (exec "dotnet" (testDll :: "--colours" :: "0" :: "--no-spinner" :: extra))

        "soak",
        "two stacks under bulk, request/response, churn, a SYN flood and junk at once (default 600 s; pass --seconds N)",
        [ "build" ],
        fun extra ->
            let extra =
                if List.contains "--seconds" extra then
                    extra
                else
                    [ "--seconds"; "600" ] @ extra

            exit (exec "dotnet" (cliDll :: "soak" :: extra))

        "property-soak",
        "every test, with 40 times the property cases (STACK_SOAK=40)",
        [ "build" ],
        fun extra ->
            Environment.SetEnvironmentVariable("STACK_SOAK", "40")
            exit (exec "dotnet" (testDll :: "--colours" :: "0" :: "--no-spinner" :: extra))

        "linux-loss-baseline",
        "Linux to Linux through 25% loss each way, CUBIC and BBR, 1 MiB each way (as root; the sim's 25% target's baseline)",
        [],
        fun _ ->
            for cc in [ "cubic"; "bbr" ] do
                step $"Linux {cc}"
                Environment.SetEnvironmentVariable("CC", cc)
                run "bash" [ "bench/linux-loss-baseline.sh" ]

        "trim-check",
        "publish a sample trimmed and self-contained; fail if the trimmer warns about our assemblies",
        [],
        fun _ -> trimCheck ()

        "aot-check",
        "build the C# libraries with the trimming and AOT analyzers on; fail on any warning about our code",
        [],
        fun _ -> aotCheck ()

        "bench",
        "BenchmarkDotNet over the core (pass --quick for a short run)",
        [ "restore" ],
        fun extra ->
            // Without a filter BenchmarkDotNet asks which benchmarks to run: run them all.
            let extra =
                if List.contains "--filter" extra then
                    extra
                else
                    [ "--filter"; "*" ] @ extra

            dotnet ([ "run"; "-c"; "Release"; "--project"; "bench"; "--no-restore"; "--" ] @ extra)

        "loss-bench",
        "the kernel's sender, the stack's, and the kernel to itself through the same loss (as root; 10-20 min)",
        [ "packages"; "build" ],
        fun extra -> exit (exec "dotnet" (cliDll :: "bench" :: "--loss" :: extra))

        "memory-bench",
        "memory under load, as root: 100,000 idle connections, 2,000 stalled readers over 4 rounds, a 10 s SYN flood and a 60 s fragment flood (needs python3)",
        [ "packages"; "build" ],
        fun _ ->
            for args in
                [
                    [ "bench"; "--idle"; "100000"; "--duration"; "0.5" ]
                    [ "bench"; "--stalled"; "2000" ]
                    [ "bench"; "--flood"; "10" ]
                    [ "bench"; "--fragment-flood"; "60" ]
                ] do
                step (String.Join(" ", args))
                let code = exec "dotnet" (cliDll :: args)

                if code <> 0 then
                    exit code

        "demo",
        "the main job: the stack on a TUN device with the Linux kernel as its peer (as root)",
        [ "packages"; "build" ],
        fun extra -> exit (exec "dotnet" (cliDll :: "demo" :: extra))
    ]

let usage () =
    printfn "usage: dotnet fsi build.fsx -- <target> [args]\n\ntargets:"

    for name, doc, deps, _ in targets do
        let needs =
            if deps.IsEmpty then
                ""
            else
                $""" (after {String.Join(", ", deps)})"""

        printfn "  %-12s %s%s" name doc needs

let rec runTarget (visited: Collections.Generic.HashSet<string>) (name: string) (extra: string list) =
    match targets |> List.tryFind (fun (n, _, _, _) -> n = name) with
    | None ->
        eprintfn "build: unknown target '%s'" name
        usage ()
        exit 2
    | Some(_, _, deps, action) ->
        for dep in deps do
            if visited.Add dep then
                runTarget visited dep []

        step name
        action extra

match args with
| []
| [ "help" ]
| [ "--help" ] -> usage ()
| target :: extra ->
    runTarget (Collections.Generic.HashSet [ target.ToLowerInvariant() ]) (target.ToLowerInvariant()) extra
