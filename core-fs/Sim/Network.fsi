namespace Stack.Core.Sim

/// What a simulated network remembers of its run: an event log (hashed as it grows, kept
/// only when asked for) and the packets put on its links (as pcap records). A line is
/// built in a reused buffer and hashed from there: logging allocates nothing unless the
/// lines are kept.
type Recorder =

    new: keepLines: bool * capture: bool -> Recorder

    member Capture: now: int64 * packet: System.ReadOnlySpan<byte> -> unit

    member Log: now: int64 * text: string -> unit

    /// "`source`>`destination` dropped (`reason`)": a packet the link dropped, logged
    /// without building a string (a lossy run drops thousands).
    member LogDrop:
        now: int64 *
        source: Stack.Core.Wire.Ipv4Address *
        destination: Stack.Core.Wire.Ipv4Address *
        reason: Stack.Core.Impair.DropReason ->
            unit

    /// "`name` sends `flags` seq=N ack=N win=N len=N", flags as letters (S F R P and a
    /// dot for ACK), the line every segment puts in the log.
    member LogSegment: now: int64 * name: string * h: Stack.Core.Wire.TcpHeader * payloadLength: int -> unit

    /// The captured packets as a pcap file (LINKTYPE_RAW).
    member Pcap: unit -> byte array

    /// The SHA-256 of the log so far, as lowercase hex.
    member Sha256: unit -> string

    member Lines: System.Collections.Generic.IReadOnlyList<string>

/// N hosts of the pure core on one virtual clock, joined by impaired links (one
/// `Impair.Link` per direction, routed by destination address). Deterministic: the same
/// seeds and the same calls give the same run, byte for byte. It holds the run's mutable
/// world: the clock, the packets in flight (in pooled buffers) and the hosts, which it
/// owns and steps in place (`Host.Owned`), so a packet allocates nothing.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
type Network =

    new: recorder: Recorder -> Network

    /// Takes over a host: from now on the network steps it in place.
    member Add: host: Stack.Core.Host.Host -> unit

    /// Joins two hosts with a link each way, each with its own generator seed.
    member Join:
        a: Stack.Core.Wire.Ipv4Address *
        b: Stack.Core.Wire.Ipv4Address *
        options: Stack.Core.Impair.Options *
        seed: uint64 ->
            unit

    member ReturnOutbox: outbox: Stack.Core.Host.HostOutbox -> unit

    /// Puts an IPv4 packet on the link towards its destination; the link decides its fate.
    member Send: packet: System.ReadOnlySpan<byte> -> unit

    /// Advances the clock to the next event and runs it: delivers every packet due then,
    /// or else runs the timers of every host due then. `onOutput` sees each host's output
    /// in an outbox of the pool, with the packet that caused it (null for timers; a pooled
    /// buffer, longer than the packet, valid only during the call), and may call back into
    /// the network. False when nothing is left to happen.
    member Step: onOutput: (Stack.Core.Wire.Ipv4Address -> byte array -> Stack.Core.Host.HostOutbox -> unit) -> bool

    /// An outbox for one step. Steps nest (a step's output leads to commands, whose steps
    /// need outboxes while the first one is still being read), so they come from a pool.
    member TakeOutbox: unit -> Stack.Core.Host.HostOutbox

    /// Replaces a host with the new value a value step returned for it.
    member Update: host: Stack.Core.Host.Host -> unit

    member Hosts: System.Collections.Generic.IReadOnlyDictionary<Stack.Core.Wire.Ipv4Address, Stack.Core.Host.Host>

    /// The time of the next thing to happen: a delivery or a host's timer.
    member NextEventTime: int64

    member Now: int64

    member Recorder: Recorder
