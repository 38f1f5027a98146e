/// The simulator's standard run: two hosts, one connects to the other, each sends N
/// pseudo-random bytes while receiving the other's, both half-close, and both check every
/// byte they received. The bytes go through real send and receive ring buffers, indexed
/// by sequence number as the shell's are, so reassembly is checked end to end.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Sim.Transfer

type Config =
    {

        /// Bytes A sends to B, and B to A unless `BytesBack` says otherwise.
        Bytes: int64

        /// Bytes B sends to A, when not the same as `Bytes`.
        BytesBack: int64 option
        Seed: uint64

        /// The link, the same both ways.
        Link: Stack.Core.Impair.Options

        /// Options of every connection (buffer sizes must be powers of two).
        Connection: Stack.Core.Tcp.ConnectionOptions

        /// The run fails if it has not finished by this virtual time.
        TimeLimitMicros: int64

        /// Keep the event log's lines (its hash is always computed).
        KeepEvents: bool

        /// Keep the link traffic as a pcap file.
        Capture: bool

        /// Keep a trace of both connections (Chrome trace-event JSON, `Trace`).
        Trace: bool

        /// Connect over IPv6 (the hosts have fd00::1 and fd00::2 beside their IPv4
        /// addresses).
        Ipv6: bool
    }

val defaults: Config

/// How one side ended.
type SideResult =
    {
        Name: string
        FinalState: Stack.Core.Tcp.State
        BytesSent: int64
        BytesReceived: int64

        /// Every received byte was the one expected, and the peer's FIN came after them all.
        Verified: bool
        ReceivedSha256: string
        Retransmissions: int64

        /// Of the loss recovery: retransmission timeouts, tail loss probes, and reductions
        /// undone as spurious.
        Timeouts: int64
        LossProbes: int64
        Undone: int64
    }

type Result =
    {
        Completed: bool

        /// Bytes received and checked, both directions together.
        BytesVerified: int64
        VirtualMicros: int64
        Retransmissions: int64

        /// Packets put on the links, both ways.
        PacketsSent: int64
        A: SideResult
        B: SideResult

        /// Why the run did not complete.
        Failure: string option
        EventLogSha256: string
        Events: string list
        Pcap: byte array option

        /// The trace, when the config asked for one.
        Trace: string option
    }

/// The byte at `offset` of the stream sent in `direction` (0: A to B, 1: B to A).
val streamByte: seed: uint64 -> direction: int -> offset: int64 -> byte

/// Runs the transfer and reports how it went.
val run: config: Config -> Result
