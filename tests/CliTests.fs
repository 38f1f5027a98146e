/// `tcpstack` run end to end as a person runs it: decode, craft and sim, and the one-line
/// refusal of every bad value.
module Stack.Tests.CliTests

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Expecto
open Stack.Core.Wire
open Stack.Cli

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

/// Runs a command that must be refused: exit code `code`, nothing on stdout (nothing
/// started), and one line on stderr that starts with "tcpstack:", names `option`, says
/// `range` (what the option takes) and holds no stack trace.
let private refused (code: int) (option: string) (range: string) (args: string list) =
    let r = tcpstack "" args
    let command = String.concat " " args
    Expect.equal r.Code code $"exit code of `tcpstack {command}`; stderr: {r.Err}"
    Expect.equal r.Out "" $"`tcpstack {command}` printed nothing"
    Expect.isFalse (r.Err.Contains "   at ") $"no stack trace from `tcpstack {command}`: {r.Err}"
    let line = r.Err.TrimEnd()
    Expect.isFalse (line.Contains '\n') $"one line from `tcpstack {command}`: {r.Err}"
    Expect.stringStarts line "tcpstack: " $"`tcpstack {command}` says who speaks"
    Expect.stringContains line option $"`tcpstack {command}` names the option"
    Expect.stringContains line range $"`tcpstack {command}` says what it takes"

/// Bad values and the option and range each refusal must name; exit code 2.
let private usageErrors =
    [
        [ "serve"; "--echo"; "7"; "--mtu"; "10" ], "--mtu 10", "576 to 65535"
        [ "serve"; "--echo"; "7"; "--pcap"; "/nonexistent/dir/x.pcap" ], "--pcap", "/nonexistent/dir does not exist"
        [ "serve"; "--echo"; "7"; "--discard"; "7" ], "--echo 7 and --discard 7", "its own port"
        [ "serve"; "--echo"; "7"; "--echo"; "7" ], "--echo 7 and --echo 7", "its own port"
        [ "serve"; "--echo"; "70000" ], "--echo 70000", "1 to 65535"
        [ "serve"; "--echo"; "7"; "--delay"; "-5" ], "--delay -5", "0 to 60000"
        [ "serve"; "--echo"; "7"; "--jitter"; "NaN" ], "--jitter", "0 to 60000"
        [ "serve"; "--echo"; "7"; "--rate"; "0" ], "--rate 0", "0.001 to 1000000"
        [ "serve"; "--echo"; "7"; "--loss"; "150%" ], "--loss 150%", "between 0 and 1"
        [ "serve"; "--echo"; "7"; "--max-conns"; "0" ], "--max-conns 0", "1 to 2147483647"
        [ "serve"; "--echo"; "7"; "--kernel-addr"; "10.7.0.2/24" ], "--kernel-addr 10.7.0.2/24", "different addresses"
        [ "serve"; "--echo"; "7"; "--addr"; "10.7.0.1" ], "--addr 10.7.0.1", "different addresses"
        [ "serve"; "--echo"; "7"; "--addr"; "10.8.0.2" ], "--addr 10.8.0.2", "subnet 10.7.0.0/24"
        [ "serve"; "--echo"; "7"; "--addr"; "10.7.0.255" ], "--addr 10.7.0.255", "host address"
        [ "serve"; "--echo"; "7"; "--addr"; "10.7" ], "--addr '10.7'", "four numbers 0-255"
        [ "serve"; "--echo"; "7"; "--kernel-addr"; "10.7.0.1/33" ], "--kernel-addr", "1 to 31"
        [ "serve"; "--echo"; "7"; "--kernel-addr"; "10.7.0.1" ], "--kernel-addr", "ADDRESS/PREFIX"
        [ "serve"; "--echo"; "7"; "--tun"; "a/b" ], "--tun 'a/b'", "1 to 15 characters"
        [ "serve"; "--echo"; "7"; "--addr6"; "10.7.0.2" ], "--addr6 '10.7.0.2'", "fd00:7::2"
        [ "serve"; "--echo"; "7"; "--addr6"; "fd00:7::1" ], "--addr6 fd00:7::1", "different addresses"
        [ "serve"; "--echo"; "7"; "--addr6"; "fd00:8::2" ], "--addr6 fd00:8::2", "prefix fd00:7::1/64"
        [ "serve"; "--echo"; "7"; "--kernel-addr6"; "fd00:7::1/129" ], "--kernel-addr6", "1 to 128"
        [ "serve"; "--echo"; "7"; "--kernel-addr6"; "fd00:7::1" ], "--kernel-addr6", "ADDRESS/PREFIX"
        [ "serve"; "--echo"; "7"; "--no-ipv6"; "--addr6"; "fd00:7::3" ], "--no-ipv6", "choose one"
        [ "serve"; "--echo"; "7"; "--netns"; "a b" ], "--netns 'a b'", "1 to 64 letters"
        [ "echo"; "--port"; "0" ], "--port 0", "1 to 65535"
        [ "echo"; "--max-conns"; "-1" ], "--max-conns -1", "1 to"
        [ "echo"; "--delay"; "-5" ], "--delay -5", "0 to 60000"
        [ "send"; "--to"; "10.7.0.1:0" ], "--to 10.7.0.1:0", "1 to 65535"
        [ "send"; "--to"; "10.7.0.1" ], "--to '10.7.0.1'", "ADDRESS:PORT"
        [ "send"; "--to"; "fd00:7::1:5001" ], "--to 'fd00:7::1:5001'", "in brackets"
        [ "send"; "--to"; "[fd00:7::1]:0" ], "--to [fd00:7::1]:0", "1 to 65535"
        [ "send"; "--to"; "[10.7.0.1]:5001" ], "--to '10.7.0.1'", "not an IPv6 address"
        [ "send"; "--to"; "10.7.0.1:5001"; "--bytes"; "-1" ], "--bytes -1", "0 to"
        [ "recv"; "--port"; "99999" ], "--port 99999", "1 to 65535"
        [ "recv"; "--port"; "5001"; "--mtu"; "70000" ], "--mtu 70000", "576 to 65535"
        [ "host"; "--port"; "0" ], "--port 0", "1 to 65535"
        [ "host"; "--addr"; "10.7.1.1" ], "--addr 10.7.1.1", "different addresses"
        [ "peer"; "--to"; "nowhere" ], "--to 'nowhere'", "ADDRESS:PORT"
        [ "sim"; "--delay"; "-5" ], "--delay -5", "0 to 60000"
        [ "sim"; "--queue"; "0" ], "--queue 0", "1500 to"
        [ "sim"; "--time-limit"; "0" ], "--time-limit 0", "0.001 to"
        [ "sim"; "--buffer"; "1000" ], "--buffer 1000", "power of two from 1024"
        [ "sim"; "--pcap"; "/nonexistent/dir/x.pcap" ], "--pcap", "does not exist"
        [ "sim"; "--events"; "/nonexistent/dir/x.log" ], "--events", "does not exist"
        [ "craft"; "--pcap"; "/nonexistent/dir/x.pcap" ], "--pcap", "does not exist"
        [ "decode"; "--pcap"; "/nonexistent/x.pcap" ], "--pcap", "no such file"
        [ "soak"; "--seconds"; "0" ], "--seconds 0", "1 to 86400"
        [ "soak"; "--flood-rate"; "-1" ], "--flood-rate -1", "0 to 100000"
        [ "bench"; "--idle"; "0" ], "--idle 0", "1 to 100000"
        [ "bench"; "--duration"; "0" ], "--duration 0", "0.1 to 600"
        [ "bench"; "--trials"; "2" ], "--trials", "bench --loss"
        [ "bench"; "--loss"; "--mtu"; "9000" ], "--mtu", "does not apply to bench --loss"
        [ "bench"; "--loss"; "--buffer"; "1000" ], "--buffer 1000", "power of two from 4096"
        [ "bench"; "--loss"; "--pcap-dir"; "/nonexistent" ], "--pcap-dir", "no such directory"
        [ "bench"; "--stalled"; "0" ], "--stalled 0", "1 to 10000"
        [ "bench"; "--rounds"; "2" ], "--rounds", "bench --stalled"
        [ "bench"; "--stalled"; "5"; "--mtu"; "9000" ], "--mtu", "does not apply to bench --stalled"
        [ "bench"; "--loss"; "--stalled"; "5" ], "--stalled", "choose one"
        [ "bench"; "--flood"; "0" ], "--flood 0", "1 to 600"
        [ "bench"; "--fragment-flood"; "601" ], "--fragment-flood 601", "1 to 600"
        [ "bench"; "--fragment-flood"; "5"; "--flood"; "5" ], "--fragment-flood", "choose one"
        [ "bench"; "--http"; "0" ], "--http 0", "1 to 600"
        [ "bench"; "--http"; "5"; "--idle"; "10" ], "--idle", "does not apply to bench --http"
        [ "demo"; "--bytes"; "-1" ], "--bytes -1", "0 to"
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

            test "craft makes TCP/IPv6 from IPv6 addresses, and decode --json reads it back" {
                let crafted =
                    tcpstack
                        ""
                        [
                            "craft"
                            "--src"
                            "fd00:7::1"
                            "--dst"
                            "fd00:7::2"
                            "--ttl"
                            "9"
                            "--mss"
                            "1440"
                            "--payload"
                            "hi"
                        ]

                Expect.equal crafted.Code 0 crafted.Err
                let decoded = tcpstack "" [ "decode"; "--json"; crafted.Out.Trim() ]
                Expect.equal decoded.Code 0 decoded.Err
                let root = json (decoded.Out.Trim())
                let ip = root.GetProperty "ipv6"
                let tcp = root.GetProperty "tcp"
                Expect.equal (ip.GetProperty("src").GetString()) "fd00:7::1" "src"
                Expect.equal (ip.GetProperty("dst").GetString()) "fd00:7::2" "dst"
                Expect.equal (ip.GetProperty("hopLimit").GetInt32()) 9 "hop limit"
                Expect.equal (ip.GetProperty("payloadLength").GetInt32()) 26 "payload length"
                Expect.isTrue (tcp.GetProperty("checksumValid").GetBoolean()) "checksum over the IPv6 pseudo-header"
                Expect.equal (tcp.GetProperty("payloadLength").GetInt32()) 2 "payload"
                let mixed = tcpstack "" [ "craft"; "--src"; "fd00::1"; "--dst"; "10.0.0.2" ]
                Expect.notEqual mixed.Code 0 "two families refused"
                Expect.stringContains mixed.Err "give two addresses of one family" "says why"
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

            test "serve's connection errors are counted by kind, not printed one line each" {
                let tally = Stack.Cli.ServeCommand.ErrorTally()

                for _ in 1..1000 do
                    tally.Add "Connection reset by peer"

                tally.Add "Connection timed out"

                Expect.equal
                    (tally.Summary())
                    [
                        "tcpstack: 1000 connection(s) ended: Connection reset by peer"
                        "tcpstack: 1 connection(s) ended: Connection timed out"
                    ]
                    "one line per kind, most first"
            }

            test "wrong arguments print usage and a clear message with a non-zero exit" {
                let badFlag = tcpstack "" [ "craft"; "--flags"; "X" ]
                Expect.equal badFlag.Code 2 "exit code"
                Expect.stringContains badFlag.Err "unknown flag letter 'X'" "message"
                Expect.stringContains badFlag.Err "--sport" "usage"
                let badAddress = tcpstack "" [ "craft"; "--src"; "10.0.0" ]
                Expect.stringContains badAddress.Err "'10.0.0' is not an IP address" "address"
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

            test "sim's connection options reach the connections" {
                let run (args: string list) =
                    let r = tcpstack "" ([ "sim"; "--json" ] @ args)
                    Expect.equal r.Code 0 r.Err
                    json (Array.last (lines r.Out))

                let ms (o: JsonElement) = o.GetProperty("virtualMs").GetDouble()
                let bulk = [ "--bytes"; "100000" ]

                Expect.isGreaterThan
                    (ms (run (bulk @ [ "--buffer"; "1024" ])))
                    (5.0 * ms (run bulk))
                    "a 1 KiB window is far slower"

                // The same seed gives the same run, so a flag that were ignored would change
                // nothing; each runs where it matters (SACK with losses, Nagle with a tail).
                let hash (o: JsonElement) =
                    o.GetProperty("eventLogSha256").GetString()

                for args, flag in
                    [
                        bulk, "--no-timestamps"
                        bulk, "--no-window-scaling"
                        [ "--bytes"; "300000"; "--loss"; "5%" ], "--no-sack"
                        [ "--bytes"; "3000" ], "--nodelay"
                    ] do
                    Expect.notEqual (hash (run (args @ [ flag ]))) (hash (run args)) $"{flag} changes the run"
            }

            test "every bad value is refused with exit code 2 and one line naming the option and its range" {
                for args, option, range in usageErrors do
                    refused 2 option range args
            }

            test "a capture that cannot be written is a setup error: exit code 1 and one line" {
                // Nobody, root included, makes files in /proc.
                refused
                    1
                    "--pcap /proc/tcpstack-test.pcap"
                    "cannot write"
                    [ "sim"; "--pcap"; "/proc/tcpstack-test.pcap" ]

                refused
                    1
                    "--pcap /proc/tcpstack-test.pcap"
                    "cannot write"
                    [ "serve"; "--echo"; "7"; "--pcap"; "/proc/tcpstack-test.pcap" ]
            }

            test "checking that a capture can be written leaves a good path to the command" {
                let dir = Path.Combine(Path.GetTempPath(), $"tcpstack-{Guid.NewGuid()}")
                Directory.CreateDirectory dir |> ignore

                try
                    let pcap = Path.Combine(dir, "sim.pcap")
                    let events = Path.Combine(dir, "sim.log")
                    let r = tcpstack "" [ "sim"; "--bytes"; "1"; "--pcap"; pcap; "--events"; events ]
                    Expect.equal r.Code 0 r.Err
                    Expect.isGreaterThan (FileInfo(pcap).Length) 24L "packets after the pcap header"
                    Expect.isNonEmpty (File.ReadAllLines events) "the event log"
                finally
                    Directory.Delete(dir, true)
            }

            test "an exception no check expected becomes one line and exit code 1" {
                let inner = InvalidOperationException "the device went away\nwhile reading"
                let line, code = Failures.describe (AggregateException(inner))
                Expect.equal line "tcpstack: the device went away while reading" "one line, the innermost message"
                Expect.equal code 1 "exit code"

                Expect.equal
                    (Failures.describe (Validate.UsageError "--x 1: use 2 to 3"))
                    ("tcpstack: --x 1: use 2 to 3", 2)
                    "usage"

                Expect.equal (snd (Failures.describe (Stack.Shell.Device.StackSetupException "needs root"))) 1 "setup"
            }

            test "a short soak: every kind of load made progress, nothing wrong, nothing left behind" {
                let r = tcpstack "" [ "soak"; "--seconds"; "6"; "--flood-rate"; "500" ]
                Expect.equal r.Code 0 $"soak passed; stdout: {r.Out} stderr: {r.Err}"
                Expect.stringContains r.Out "soak: passed" "the verdict"

                let last =
                    (lines r.Out |> Array.filter (fun l -> l.Contains "round trips")) |> Array.last

                let count (label: string) =
                    let m =
                        Text.RegularExpressions.Regex.Match(
                            last,
                            Text.RegularExpressions.Regex.Escape label + @" +(\d+)"
                        )

                    Expect.isTrue m.Success $"'{label}' in {last}"
                    int64 m.Groups[1].Value

                for label in [ "bulk"; "round trips"; "short"; "SYN cookies"; "malformed" ] do
                    Expect.isGreaterThan (count label) 0L $"{label} in {last}"

                Expect.equal (count "errors") 0L "errors"
                Expect.equal (count "wrong") 0L "wrong replies"
            }
        ]
