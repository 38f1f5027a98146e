/// `tcpstack bench --idle N`: what an idle connection costs. The stack opens N connections
/// to kernel listeners on the other side of its TUN device and holds them open, idle; the
/// growth of the managed heap and of the stack's pooled buffers, divided by N, is the
/// cost of one. The kernel never accepts them: they wait, established, in its listeners'
/// queues, which costs this process no file descriptor per connection.
module Stack.Cli.IdleBench

open System
open System.Diagnostics
open System.Net
open System.Threading.Tasks
open Stack.Cli.Namespaces
open Stack.Shell

/// Connections to one kernel port: each takes one of the stack's 28232 ephemeral ports.
let private perPort = 20000

/// Connections opened at once.
let private wave = 500

type IdleFigures =
    {
        /// Managed heap plus the stack's pooled buffers, per connection.
        BytesPerConnection: float
        /// Growth of the resident set, per connection (all of the process's memory).
        ResidentPerConnection: float
    }

let private memoryInUse () =
    GC.GetTotalMemory true + BufferPool.Shared.BytesHeld

/// The resident set after a full, compacting collection that gives free heap back, so
/// the garbage of the measurements before does not hide the connections' growth.
let private resident () =
    GC.Collect(2, GCCollectionMode.Aggressive, true, true)
    use p = Process.GetCurrentProcess()
    p.WorkingSet64

/// Runs a program in namespace `ns`; its standard output.
let private runIn (ns: string) (arguments: string list) =
    let psi = ProcessStartInfo("ip", [ "netns"; "exec"; ns ] @ arguments)
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    psi.UseShellExecute <- false
    use p = Process.Start psi
    let output = p.StandardOutput.ReadToEnd()
    let error = p.StandardError.ReadToEnd()
    p.WaitForExit()

    if p.ExitCode <> 0 then
        failwith $"""`{String.Join(" ", arguments)}` in namespace {ns} failed: {error.Trim()}"""

    output

/// Connections waiting in the accept queues of the kernel's listeners in `ns` (`ss`'s Recv-Q).
let private queuedInKernel (ns: string) =
    runIn ns [ "ss"; "-Hltn" ]
    |> fun text -> text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
    |> Array.sumBy (fun line -> int64 (line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]))

/// Opens `count` idle connections from `stack` to the kernel at `kernelAddress` in
/// namespace `ns`, measures, and aborts them all again.
let measure (progress: string -> unit) (stack: TcpStack) (ns: string) (kernelAddress: IPAddress) (count: int) =
    task {
        let ports = (count + perPort - 1) / perPort
        // The namespace is this run's own: its listeners may queue every connection.
        runIn ns [ "sysctl"; "-qw"; "net.core.somaxconn=65535" ] |> ignore

        let listeners =
            [
                for i in 0 .. ports - 1 ->
                    let l = socketIn ns
                    l.Bind(IPEndPoint(kernelAddress, 6000 + i))
                    l.Listen 65535
                    l
            ]

        let ours = ResizeArray<TcpStackConnection>(count)

        try
            let before = memoryInUse ()
            let residentBefore = resident ()

            for start in 0..wave .. count - 1 do
                let n = min wave (count - start)

                let! opened =
                    Task.WhenAll(
                        Array.init n (fun i -> stack.ConnectAsync(kernelAddress.ToString(), 6000 + (start + i) % ports))
                    )

                ours.AddRange opened

                if ours.Count % 10000 = 0 || ours.Count = count then
                    progress $"stack (TUN): {ours.Count} of {count} idle connections open"

            let after = memoryInUse ()
            let residentAfter = resident ()
            let queued = queuedInKernel ns

            if queued <> int64 count then
                progress $"stack (TUN): the kernel holds {queued} of the {count} connections"

            return
                {
                    BytesPerConnection = float (after - before) / float count
                    ResidentPerConnection = float (residentAfter - residentBefore) / float count
                }
        finally
            for c in ours do
                c.Abort()

            for l in listeners do
                l.Dispose()
    }
