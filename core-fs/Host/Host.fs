namespace Stack.Core.Host

open System
open Stack.Core.Tcp
open Stack.Core.Wire

/// A connection's 4-tuple, from this host's side.
[<Struct; CustomEquality; CustomComparison>]
type FourTuple =
    {
        LocalAddress: Ipv4Address
        LocalPort: uint16
        RemoteAddress: Ipv4Address
        RemotePort: uint16
    }

    /// The tuple as one number pair, for equality and ordering without boxing.
    member private t.Key =
        struct ((uint64 t.LocalAddress.Value <<< 16) ||| uint64 t.LocalPort,
                (uint64 t.RemoteAddress.Value <<< 16) ||| uint64 t.RemotePort)

    override t.Equals(o: obj) =
        match o with
        | :? FourTuple as other -> t.Key = other.Key
        | _ -> false

    override t.GetHashCode() = t.Key.GetHashCode()

    override t.ToString() =
        $"{t.LocalAddress}:{t.LocalPort}-{t.RemoteAddress}:{t.RemotePort}"

    interface IEquatable<FourTuple> with
        member t.Equals(other: FourTuple) = t.Key = other.Key

    interface IComparable<FourTuple> with
        member t.CompareTo(other: FourTuple) = compare t.Key other.Key

    interface IComparable with
        member t.CompareTo(o: obj) =
            match o with
            | :? FourTuple as other -> compare t.Key other.Key
            | _ -> invalidArg "o" "not a FourTuple"

/// Every tunable of one stack instance. `HostOptions.create` gives Linux-like defaults.
type HostOptions =
    {
        /// This host's IPv4 address: packets to any other are dropped.
        Address: Ipv4Address
        /// Options of every connection.
        Connection: ConnectionOptions
        /// Half-open connections (SYN received, handshake not done) per listener before
        /// further SYNs are dropped (Linux: tcp_max_syn_backlog, 128 to 1024).
        SynBacklog: int
        /// The range connections draw their local port from (Linux: 32768-60999).
        EphemeralFirst: int
        EphemeralLast: int
        /// TTL of the packets this host builds.
        Ttl: byte
        /// Answer ICMP echo requests.
        AnswerPings: bool
    }

module HostOptions =
    let create (address: Ipv4Address) =
        {
            Address = address
            Connection = ConnectionOptions.defaults
            SynBacklog = 256
            EphemeralFirst = 32768
            EphemeralLast = 60999
            Ttl = 64uy
            AnswerPings = true
        }

/// A listening port: the LISTEN connection it copies for each SYN, how many of those
/// are half-open, and the established ones waiting for `accept`, oldest first.
type Listener =
    {
        Port: uint16
        Backlog: int
        Template: Connection
        HalfOpen: Set<FourTuple>
        Ready: FourTuple list
    }

/// Packets counted by what became of them.
type Counters =
    {
        PacketsIn: int64
        PacketsOut: int64
        /// Not IPv4 (IPv6 router solicitations arrive first on a new device).
        NotIpv4: int64
        /// Unreadable headers or bad checksums.
        Malformed: int64
        /// Addressed to another host.
        NotForUs: int64
        /// Fragments (this stack does not reassemble).
        Fragments: int64
        /// Protocols other than TCP and ICMP.
        UnknownProtocol: int64
        /// SYNs dropped because the listener's backlog was full.
        SynsDropped: int64
        ResetsSent: int64
        EchoReplies: int64
        IcmpErrors: int64
    }

/// Something to put on the wire.
type Transmit =
    /// A segment of a connection; its payload comes from that connection's send buffer.
    | Segment of tuple: FourTuple * segment: Outgoing
    /// A whole IPv4 packet the host built (resets for closed ports, echo replies).
    | Datagram of bytes: byte array

/// What one step of the host asks of its caller.
type HostOutput =
    {
        /// Packets to send, in order.
        Transmits: Transmit list
        /// What each touched connection did (its segments are in `Transmits`). An
        /// `Arrived` offset counts from the start of the received IPv4 packet.
        Connections: struct (FourTuple * Output) list
    }

/// Why a user call on the host failed.
type HostError =
    | AddressInUse of port: uint16
    | NoEphemeralPort
    | NoSuchConnection of FourTuple

/// One stack instance: its connections by 4-tuple, its listeners, and its counters.
type Host =
    {
        Options: HostOptions
        Connections: Map<FourTuple, Connection>
        Listeners: Map<uint16, Listener>
        /// Where the search for a free ephemeral port starts next.
        NextPort: int
        Counters: Counters
    }
