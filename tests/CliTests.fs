/// `tcpstack decode` and `craft` run end to end as a person runs them.
module Stack.Tests.CliTests

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Expecto
open Stack.Core.Wire

type Run = { Code: int; Out: string; Err: string }

/// Runs the built `tcpstack` with `args`, feeding `input` to stdin.
let tcpstack (input: string) (args: string list) =
    let dll = Path.Combine(AppContext.BaseDirectory, "tcpstack.dll")
    let psi = ProcessStartInfo("dotnet", dll :: args)
    psi.RedirectStandardInput <- true
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    use p = Process.Start psi
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()
    p.StandardInput.Write input
    p.StandardInput.Close()

    if not (p.WaitForExit 60_000) then
        p.Kill true
        failtest $"tcpstack {args} did not finish in 60 s"

    {
        Code = p.ExitCode
        Out = out.Result
        Err = err.Result
    }

let private lines (s: string) =
    s.Split('\n', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries)

let private json (line: string) = JsonDocument.Parse(line).RootElement

let private seedSyn =
    [
        "craft"
        "--src"
        "10.0.1.7"
        "--dst"
        "10.0.0.6"
        "--sport"
        "12345"
        "--dport"
        "9999"
        "--flags"
        "S"
        "--seq"
        "1"
    ]

[<Tests>]
let tests =
    testSequenced
    <| testList
        "CLI"
        [
            test "craft prints a packet that decode --json reads back field by field" {
                let crafted =
                    tcpstack
                        ""
                        (seedSyn
                         @ [
                             "--mss"
                             "1460"
                             "--wscale"
                             "7"
                             "--sack-permitted"
                             "--timestamps"
                             "100,200"
                             "--ttl"
                             "33"
                             "--id"
                             "4660"
                             "--df"
                             "--window"
                             "4096"
                             "--payload"
                             "hello"
                         ])

                Expect.equal crafted.Code 0 crafted.Err
                let hex = crafted.Out.Trim()
                let decoded = tcpstack "" [ "decode"; "--json"; hex ]
                Expect.equal decoded.Code 0 decoded.Err
                let root = json (decoded.Out.Trim())
                let ip = root.GetProperty "ipv4"
                let tcp = root.GetProperty "tcp"
                Expect.equal (ip.GetProperty("src").GetString()) "10.0.1.7" "src"
                Expect.equal (ip.GetProperty("dst").GetString()) "10.0.0.6" "dst"
                Expect.equal (ip.GetProperty("ttl").GetInt32()) 33 "ttl"
                Expect.equal (ip.GetProperty("identification").GetInt32()) 4660 "id"
                Expect.isTrue (ip.GetProperty("df").GetBoolean()) "df"
                Expect.isTrue (ip.GetProperty("checksumValid").GetBoolean()) "ip checksum"
                Expect.equal (tcp.GetProperty("srcPort").GetInt32()) 12345 "sport"
                Expect.equal (tcp.GetProperty("dstPort").GetInt32()) 9999 "dport"
                Expect.equal (tcp.GetProperty("seq").GetUInt32()) 1u "seq"
                Expect.equal (tcp.GetProperty("window").GetInt32()) 4096 "window"
                Expect.equal (tcp.GetProperty("payloadLength").GetInt32()) 5 "payload"
                Expect.isTrue (tcp.GetProperty("checksumValid").GetBoolean()) "tcp checksum"

                Expect.equal [ for f in tcp.GetProperty("flags").EnumerateArray() -> f.GetString() ] [ "SYN" ] "flags"

                let options = tcp.GetProperty("options").GetRawText()

                Expect.equal
                    options
                    """[{"kind":"mss","value":1460},{"kind":"sackPermitted"},{"kind":"timestamps","tsval":100,"tsecr":200},{"kind":"nop"},{"kind":"wscale","value":7}]"""
                    "options"
            }

            test "decode reads hex lines from stdin and reports unparseable packets as errors" {
                let syn = (tcpstack "" seedSyn).Out.Trim()
                let bad = "45000014"
                let r = tcpstack $"{syn}\n\n# a comment\n{bad}\n" [ "decode"; "--json" ]
                Expect.equal r.Code 0 "the input was readable hex"
                let out = lines r.Out
                Expect.equal out.Length 2 "one line per packet"
                Expect.isTrue ((json out[0]).TryGetProperty("tcp") |> fst) "first is TCP"
                Expect.stringContains ((json out[1]).GetProperty("error").GetString()) "truncated" "second is an error"
            }

            test "decode exits non-zero on input that is not hex" {
                let r = tcpstack "zz\n" [ "decode"; "--json" ]
                Expect.equal r.Code 1 "unreadable input"
                Expect.stringContains ((json (r.Out.Trim())).GetProperty("error").GetString()) "not hex" "error"
            }

            test "decode --pcap reads the Linux capture in both forms" {
                let path = Path.Combine(AppContext.BaseDirectory, "data", "linux-kernel.pcap")
                let j = tcpstack "" [ "decode"; "--json"; "--pcap"; path ]
                Expect.equal j.Code 0 j.Err
                let objects = lines j.Out |> Array.map json
                Expect.equal objects.Length 434 "one object per packet"

                let sack =
                    objects
                    |> Array.exists (fun o ->
                        match o.TryGetProperty "tcp" with
                        | true, t -> t.GetProperty("options").GetRawText().Contains "\"kind\":\"sack\",\"blocks\":[["
                        | _ -> false)

                Expect.isTrue sack "SACK blocks appear"

                let icmp =
                    objects
                    |> Array.filter (fun o -> fst (o.TryGetProperty "icmp"))
                    |> Array.map (fun o -> o.GetProperty "icmp")

                Expect.equal icmp.Length 5 "two echo pairs and one unreachable"
                let text = tcpstack "" [ "decode"; "--pcap"; path ]
                Expect.equal text.Code 0 text.Err
                Expect.stringContains text.Out "IP Packet:" "pretty blocks"
                Expect.stringContains text.Out "Original Datagram: 10.203.0.1 -> 10.203.0.2 UDP" "quoted datagram"
            }

            test "craft --pcap appends packets that decode reads back" {
                let path = Path.Combine(Path.GetTempPath(), $"craft-{Guid.NewGuid()}.pcap")

                try
                    for seq in [ "1"; "2" ] do
                        let r = tcpstack "" [ "craft"; "--seq"; seq; "--flags"; "SA"; "--pcap"; path ]
                        Expect.equal r.Code 0 r.Err

                    let decoded = tcpstack "" [ "decode"; "--json"; "--pcap"; path ]
                    let objects = lines decoded.Out |> Array.map json
                    Expect.equal objects.Length 2 "two packets"

                    Expect.equal
                        [ for o in objects -> o.GetProperty("tcp").GetProperty("seq").GetUInt32() ]
                        [ 1u; 2u ]
                        "in order"

                    Expect.equal
                        [
                            for f in objects[0].GetProperty("tcp").GetProperty("flags").EnumerateArray() ->
                                f.GetString()
                        ]
                        [ "SYN"; "ACK" ]
                        "flags"
                finally
                    File.Delete path
            }

            test "sim runs a transfer and ends with one JSON object; the same seed gives the same log" {
                let run () =
                    tcpstack "" [ "sim"; "--bytes"; "1"; "--loss"; "10%"; "--seed"; "7"; "--json" ]

                let first = run ()
                Expect.equal first.Code 0 $"exit code; stderr: {first.Err}"
                Expect.stringContains first.Out "completed in" "readable summary"
                let last = json (Array.last (lines first.Out))
                Expect.isTrue (last.GetProperty("completed").GetBoolean()) "completed"
                Expect.equal (last.GetProperty("bytesVerified").GetInt64()) 2L "one byte each way"
                Expect.equal (last.GetProperty("finalStates").GetProperty("A").GetString()) "TIME-WAIT" "A's state"

                let hash (r: Run) =
                    (json (Array.last (lines r.Out))).GetProperty("eventLogSha256").GetString()

                Expect.equal (hash (run ())) (hash first) "same seed, same event log"
                let bad = tcpstack "" [ "sim"; "--loss"; "150%" ]
                Expect.equal bad.Code 2 "a probability over 100% is refused"
                Expect.stringContains bad.Err "between 0 and 1" "and the message says why"
            }

            test "wrong arguments print usage and a clear message with a non-zero exit" {
                let badFlag = tcpstack "" [ "craft"; "--flags"; "X" ]
                Expect.equal badFlag.Code 2 "exit code"
                Expect.stringContains badFlag.Err "unknown flag letter 'X'" "message"
                Expect.stringContains badFlag.Err "--sport" "usage"
                let badAddress = tcpstack "" [ "craft"; "--src"; "10.0.0" ]
                Expect.stringContains badAddress.Err "'10.0.0' is not an IPv4 address" "address"
                let badPort = tcpstack "" [ "craft"; "--sport"; "70000" ]
                Expect.stringContains badPort.Err "out of range" "port"
                let unknown = tcpstack "" [ "craft"; "--bogus" ]
                Expect.equal unknown.Code 2 "unknown option"
                Expect.stringContains unknown.Err "--bogus" "names the option"
                let trials = tcpstack "" [ "bench"; "--loss"; "--trials"; "0" ]
                Expect.notEqual trials.Code 0 "no runs to take a median of"
                Expect.stringContains trials.Err "--trials 0: out of range; use 1 to" "says what is wrong"
                let missing = tcpstack "" [ "decode"; "--pcap"; "/nonexistent/x.pcap" ]
                Expect.notEqual missing.Code 0 "missing file"
                Expect.stringContains missing.Err "no such file" "says what is wrong"
            }
        ]
