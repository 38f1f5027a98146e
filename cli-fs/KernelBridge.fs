/// Two kernels joined through the stack's impaired link: a TUN device in each of two new
/// namespaces, and two threads that carry every packet from one device to the other
/// through the same impairment model the stack's own link uses. So the kernel's sender
/// can be measured against the kernel's receiver through exactly the faults that the
/// stack meets, as a reference for the stack's own numbers.
module Stack.Cli.KernelBridge

open System
open System.Threading
open Stack.Core
open Stack.Shell.Device

/// One direction: reads packets from `source` through the impairment and writes them to
/// `target`, until `stopping` is set.
let private carry (source: ImpairedDevice) (target: IPacketDevice) (stopping: unit -> bool) =
    let buffer = Array.zeroCreate<byte> 65536

    while not (stopping ()) do
        let n = source.TryRead(buffer.AsSpan())

        if n > 0 then
            target.Write(ReadOnlySpan(buffer, 0, n))
        else
            // Bounded, so a stop is noticed even when no packet comes.
            source.Wait 100_000L

/// Namespaces `a` and `b`, their kernels at `addressA` and `addressB` (with prefix, in one
/// subnet), joined by the impairment `link` in each direction. Disposing stops the
/// threads and removes both devices and namespaces.
type Bridge(a: string, b: string, addressA: string, addressB: string, link: Impair.Options, seed: uint64) =
    let open' ns address =
        TunDevice.Open(TunOptions(Name = "tun0", Namespace = ns, KernelAddress = address, Offload = false))

    let deviceA = open' a addressA
    let deviceB = open' b addressB
    let fromA = new ImpairedDevice(deviceA, LinkOptions.toShell link, null, seed)
    let fromB = new ImpairedDevice(deviceB, LinkOptions.toShell link, null, seed + 1UL)
    let stopping = new CancellationTokenSource()
    let stop () = stopping.IsCancellationRequested

    let start (source: ImpairedDevice) (target: IPacketDevice) =
        let thread = Thread((fun () -> carry source target stop), IsBackground = true)
        thread.Start()
        thread

    let threads = [ start fromA deviceB; start fromB deviceA ]

    /// Packets the impairment dropped, both directions.
    member _.Dropped = fromA.DroppedIn + fromB.DroppedIn

    interface IDisposable with
        member _.Dispose() =
            stopping.Cancel()
            deviceA.Wake()
            deviceB.Wake()

            for t in threads do
                t.Join()

            deviceA.Dispose()
            deviceB.Dispose()
            stopping.Dispose()
