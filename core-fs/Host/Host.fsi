namespace Stack.Core.Host

/// A connection's 4-tuple, from this host's side, of either family.
[<CustomEquality; CustomComparison; Struct>]
type FourTuple =
    {
        LocalAddress: Stack.Core.Wire.IpAddress
        LocalPort: uint16
        RemoteAddress: Stack.Core.Wire.IpAddress
        RemotePort: uint16
    }

    interface System.IComparable
    interface System.IComparable<FourTuple>
    interface System.IEquatable<FourTuple>

    /// Equality without boxing (F#'s `=` on a struct with custom equality boxes). The
    /// fields that differ most between connections are compared first.
    static member Same: a: FourTuple * b: FourTuple -> bool

    override Equals: o: obj -> bool

    /// Equality without boxing, for C# callers (whose `Equals` would pick the `obj` one).
    member Equals: other: FourTuple -> bool

    override GetHashCode: unit -> int

    /// "10.0.0.1:7-10.0.0.2:40000", or with IPv6 "[fd00::1]:7-[fd00::2]:40000".
    override ToString: unit -> string

/// Every tunable of one stack instance. `HostOptions.create` gives Linux-like defaults.
type HostOptions =
    {

        /// This host's IPv4 address: packets to any other are dropped.
        Address: Stack.Core.Wire.Ipv4Address

        /// This host's IPv6 address, when it has one (dual stack): IPv6 packets to any
        /// other, and all of them without one, are dropped.
        Address6: Stack.Core.Wire.Ipv6Address voption

        /// Options of every connection.
        Connection: Stack.Core.Tcp.ConnectionOptions

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

        /// Challenge ACKs (RFC 5961 7) the whole stack sends per second at most, besides
        /// each connection's one per 500 ms (Linux's tcp_challenge_ack_limit was 1000).
        ChallengeAckLimit: int

        /// Answer SYNs with SYN cookies (RFC 4987 3.6) once a listener's SYN queue is
        /// full, instead of dropping them, so a SYN flood cannot lock a port.
        SynCookies: bool

        /// Connections the host holds at most, in any state: at the limit a SYN is
        /// dropped and a connect fails (TooManyConnections), so memory stays bounded.
        MaxConnections: int

        /// What IPv4 and IPv6 reassembly may hold, and for how long.
        Fragments: FragmentLimits
    }

module HostOptions =

    val create: address: Stack.Core.Wire.Ipv4Address -> HostOptions

    /// ICMP errors a host sends in a second, at most (RFC 4443 2.4(f) asks for a limit:
    /// an error quotes up to 1,232 bytes of what it answers).
    [<Literal>]
    val IcmpErrorsPerSecond: int = 100

/// Which families a listener takes connections from.
type ListenFamily =
    | Both = 0
    | Ipv4 = 4
    | Ipv6 = 6

/// A listening port: the LISTEN connection it copies for each SYN, how many of those
/// are half-open, and the established ones waiting for `accept`, oldest first.
type Listener =
    {
        Port: uint16
        Backlog: int
        Template: Stack.Core.Tcp.Connection
        HalfOpen: System.Collections.Immutable.ImmutableHashSet<FourTuple>
        Ready: FourTuple list

        /// When this listener last answered a SYN with a cookie: returned cookies are
        /// checked only for a while after (as Linux does), so a listener that never
        /// overflowed gives blind ACKs nothing to guess at.
        LastCookieAt: int64

        /// The families it takes connections from; a SYN of another gets a reset, as if
        /// nobody listened.
        Family: ListenFamily
    }

/// Packets counted by what became of them. A struct: counting allocates nothing.
[<Struct>]
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

        /// From a source no peer can have (RFC 1122 3.2.1.3: this network, loopback,
        /// multicast, class E and broadcast) or from our own address (a LAND attack).
        BadSource: int64

        /// Fragments received, each held for reassembly.
        Fragments: int64

        /// Datagrams put back together from fragments.
        Reassembled: int64

        /// Fragments dropped: overlapping, malformed, over a limit, or of a datagram
        /// whose time ran out.
        FragmentsDropped: int64

        /// Bytes the reassembly table holds now, as charged against
        /// `FragmentLimits.MaxBytes`: a level, not a count.
        FragmentBytesHeld: int64

        /// ICMPv6 parameter problems sent, for IPv6 packets RFC 8200 says to discard and
        /// answer (an unrecognized next header or option, a route to follow).
        ParameterProblemsSent: int64

        /// Protocols other than TCP and ICMP.
        UnknownProtocol: int64

        /// SYNs dropped because the listener's backlog was full.
        SynsDropped: int64

        /// SYNs answered with a SYN cookie, and connections rebuilt from one.
        SynCookiesSent: int64
        SynCookiesAccepted: int64

        /// SYNs and connects refused because the host held `MaxConnections`.
        ConnectionLimitHits: int64
        ResetsSent: int64
        EchoReplies: int64
        IcmpErrors: int64
    }

/// Something to put on the wire. A struct: a step's list of them allocates nothing per entry
/// in an outbox.
[<NoComparison; Struct>]
type Transmit =

    /// A segment of a connection; its payload comes from that connection's send buffer.
    | Segment of tuple: FourTuple * segment: Stack.Core.Tcp.Outgoing

    /// A whole IPv4 packet the host built (resets for closed ports, echo replies).
    | Datagram of bytes: byte array

/// What one step of the host asks of its caller.
type HostOutput =
    {

        /// Packets to send, in order.
        Transmits: Transmit list

        /// What each touched connection did (its segments are in `Transmits`). An
        /// `Arrived` offset counts from the start of the received packet, or of
        /// `Reassembled` when it is set.
        Connections: struct (FourTuple * Stack.Core.Tcp.Output) list

        /// The datagram a step put back together from fragments and then read; null
        /// when the step read the packet it was given.
        Reassembled: byte array
    }

/// Why a user call on the host failed.
type HostError =
    | AddressInUse of port: uint16
    | NoEphemeralPort

    /// A connect to an address of a family this host has no address of (IPv6 without
    /// `Address6`).
    | NoAddressFor of remote: Stack.Core.Wire.IpAddress

    /// The host holds `MaxConnections` already.
    | TooManyConnections
    | NoSuchConnection of FourTuple

/// One stack instance: its connections by 4-tuple, its listeners, and its counters.
/// Callers see it as a value, as they see a `Connection`: every step of `Host` works on
/// a private copy and returns it; only the in-place steps of `Host.Owned` change it.
type Host =
    internal
        {
            Settings: HostOptions

            /// By 4-tuple. A hash map, not an F# Map: Map compares keys through F#'s
            /// generic comparer, which boxes a struct key at every step of every lookup.
            mutable Table: System.Collections.Immutable.ImmutableDictionary<FourTuple, Stack.Core.Tcp.Connection>
            /// Listeners for both families or for IPv4 only, by port.
            mutable ListenerTable: Map<uint16, Listener>
            /// Listeners for IPv6 only, by port: a port may have one of these beside an
            /// IPv4-only one, as a socket bound to an IPv6 address beside one bound to an
            /// IPv4 address.
            mutable ListenerTable6: Map<uint16, Listener>

            /// RFC 6056's next_ephemeral: counts the connections opened, and is added to
            /// each destination's keyed offset to pick where the search for a port starts.
            mutable NextEphemeral: int

            /// Every count but the two that change with each packet, kept apart so that
            /// counting a packet is one addition, not a copy of the whole record.
            mutable Tally: Counters
            mutable PacketsIn: int64
            mutable PacketsOut: int64

            /// The stack's challenge-ACK budget: what is left of this second's, and when
            /// the second began.
            mutable ChallengeAcksLeft: int
            mutable ChallengeSecondStart: int64

            /// The driver is short of memory for buffers: receive buffers stop growing.
            mutable MemoryPressure: bool

            /// The last connection an owned step looked up, and the table it was found in:
            /// a transfer asks for the same connection packet after packet, and a lookup
            /// in the immutable table costs about 15 ns. Written only by owned steps (a
            /// value may be read from many threads), so it never changes under a reader.
            mutable MemoTable: System.Collections.Immutable.ImmutableDictionary<FourTuple, Stack.Core.Tcp.Connection>
            mutable MemoTuple: FourTuple
            mutable MemoConnection: Stack.Core.Tcp.Connection

            /// Datagrams being put back together from fragments.
            mutable Reassembly: FragmentTable

            /// The identification of the next datagram this host fragments.
            mutable NextFragmentId: uint32
            /// The ICMP error budget (parameter problems): what is left of this second's,
            /// and when the second began.
            mutable IcmpErrorsLeft: int
            mutable IcmpErrorSecondStart: int64
        }

    /// The connection with this tuple, if the host has it.
    member Find: tuple: FourTuple -> Stack.Core.Tcp.Connection voption

    /// `Find`, remembering what it found for the next time (owned steps only).
    member internal FindAndRemember: tuple: FourTuple -> Stack.Core.Tcp.Connection voption

    /// The connections by 4-tuple.
    member Connections: System.Collections.Immutable.ImmutableDictionary<FourTuple, Stack.Core.Tcp.Connection>

    member Counters: Counters

    /// The listeners for both families or IPv4 only, by port.
    member Listeners: Map<uint16, Listener>

    /// The listeners for IPv6 only, by port.
    member Listeners6: Map<uint16, Listener>

    member Options: HostOptions

/// Collects what one step of the host produces. The caller owns it and may reuse it for
/// every step of `Host.Owned` (which clear it first), so a step in steady state
/// allocates nothing.
[<System.Runtime.CompilerServices.SkipLocalsInit; Sealed; AllowNullLiteral>]
type HostOutbox =

    new: unit -> HostOutbox

    /// Forgets the last step's output. (Each connection's step clears the connection
    /// outbox itself.)
    member Clear: unit -> unit

    member internal File: tuple: FourTuple * output: Stack.Core.Tcp.Output -> unit

    member internal Send: t: Transmit -> unit

    /// The output as a value.
    member ToOutput: unit -> HostOutput

    /// Where one connection's step goes before the host files it.
    member internal ConnectionOutbox: Stack.Core.Tcp.Outbox

    /// What each touched connection did (see `HostOutput.Connections`).
    member Connections: System.ReadOnlySpan<struct (FourTuple * Stack.Core.Tcp.Output)>

    /// Packets to send, in order.
    member Transmits: System.ReadOnlySpan<Transmit>

    /// The datagram this step put back together from fragments, if it did: `Arrived`
    /// offsets count from its start (see `HostOutput.Reassembled`).
    member Reassembled: byte array with get

    /// The datagram this step put back together from fragments, if it did: `Arrived`
    /// offsets count from its start (see `HostOutput.Reassembled`).
    member internal Reassembled: byte array with set
