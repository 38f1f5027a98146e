/// The library's public face: the core's modules have signature files, and the shell's
/// public API shows C# callers only .NET's types and its own, no F# list, option,
/// Result, function or core record.
module Stack.Tests.ApiTests

open System
open System.IO
open System.Reflection
open System.Text.RegularExpressions
open Expecto

/// The repository's root: the nearest directory up from the tests holding Stack.sln.
let repositoryRoot =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then
            failwith "Stack.sln not found above the tests"
        elif File.Exists(Path.Combine(dir.FullName, "Stack.sln")) then
            dir.FullName
        else
            up dir.Parent

    up (DirectoryInfo AppContext.BaseDirectory)

/// Every type a member's signature names, generic arguments and element types included.
let rec private typesIn (t: Type) : Type seq =
    seq {
        yield t

        if t.HasElementType then
            yield! typesIn (t.GetElementType())

        if t.IsGenericType then
            for a in t.GetGenericArguments() do
                yield! typesIn a
    }

/// What a public member of a public shell type shows its caller.
let private shownBy (m: MemberInfo) : Type seq =
    match m with
    | :? MethodInfo as mi when not mi.IsSpecialName || mi.Name.StartsWith "op_" ->
        Seq.append (Seq.singleton mi.ReturnType) (mi.GetParameters() |> Seq.map _.ParameterType)
    | :? ConstructorInfo as c -> c.GetParameters() |> Seq.map _.ParameterType
    | :? PropertyInfo as p -> Seq.singleton p.PropertyType
    | :? EventInfo as e -> Seq.singleton e.EventHandlerType
    | :? FieldInfo as f -> Seq.singleton f.FieldType
    | _ -> Seq.empty

[<Tests>]
let tests =
    testList
        "public API"
        [
            testCase "every source file of the core has a signature file, compiled just before it"
            <| fun () ->
                let project =
                    File.ReadAllText(Path.Combine(repositoryRoot, "core-fs", "Stack.Core.fsproj"))

                let files =
                    Regex.Matches(project, "<Compile Include=\"([^\"]+)\"")
                    |> Seq.map _.Groups[1].Value
                    |> List.ofSeq

                let sources = files |> List.filter (fun f -> f.EndsWith ".fs")
                Expect.isGreaterThan sources.Length 30 "the core's files are listed"

                for source in sources do
                    let index = List.findIndex ((=) source) files
                    Expect.isGreaterThan index 0 $"{source}: its signature comes first"
                    Expect.equal files[index - 1] (source + "i") $"{source}: its signature comes just before it"

                    Expect.isTrue
                        (File.Exists(Path.Combine(repositoryRoot, "core-fs", source + "i")))
                        $"{source}i exists"

            testCase "the shell's public types show no F# list, option, Result, function or core type"
            <| fun () ->
                let shell = typeof<Stack.Shell.TcpStack>.Assembly
                let core = typeof<Stack.Core.Wire.Ipv4Address>.Assembly
                let fsharp = typeof<list<int>>.Assembly

                let offending =
                    [
                        for t in shell.GetExportedTypes() do
                            for m in
                                t.GetMembers(
                                    BindingFlags.Public
                                    ||| BindingFlags.Instance
                                    ||| BindingFlags.Static
                                    ||| BindingFlags.DeclaredOnly
                                ) do
                                for shown in shownBy m |> Seq.collect typesIn do
                                    if shown.Assembly = fsharp || shown.Assembly = core then
                                        $"{t.Name}.{m.Name}: {shown.Name}"
                    ]
                    |> List.distinct

                Expect.isEmpty offending "public members that show an F# or core type"
        ]
