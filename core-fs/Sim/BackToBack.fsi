namespace Stack.Core.Sim

/// Two hosts joined back to back by a perfect link (no delay, no loss, no clock but the
/// steps themselves): A connects to B and sends without end, B reads and (unless told not
/// to, `Compare`) checks every byte as soon as it arrives. The core at full speed: packets are real bytes (written,
/// checksummed, parsed) kept in a fixed pool of buffers; with `owned` the hosts step in
/// place (`Host.Owned`), so once the transfer is under way a packet allocates nothing.
/// For measuring the core, and for checking the value steps against the owned ones
/// (`capture` keeps every packet).
[<System.Runtime.CompilerServices.SkipLocalsInit>]
type BackToBack =

    new: owned: bool * connection: Stack.Core.Tcp.ConnectionOptions * capture: bool -> BackToBack

    /// A opens the connection.
    member Connect: unit -> unit

    /// Delivers the next packet `count` times; when none is in flight, runs the earliest
    /// timer, or lets A write.
    member Run: count: int -> unit

    /// Bytes B received and compared with what A sent.
    member Checked: int64

    /// Whether B compares the bytes that arrive with what A sent (on at first). Off, B's
    /// application reads without looking, as a benchmark's does, and the run measures the
    /// core alone; the TCP checksum still covers every byte.
    member Compare: bool with get, set

    /// Whether `Connect` connects over IPv6 (off at first: IPv4).
    member Ipv6: bool with get, set

    /// Packets the link carried.
    member Delivered: int64

    /// Segments whose bytes were not the ones A sent (none, unless the core is wrong).
    member Mismatches: int64

    /// Every packet, in order, when `capture` is on.
    member Packets: System.Collections.Generic.IReadOnlyList<byte array>

    /// Bytes B has read.
    member Received: int64
