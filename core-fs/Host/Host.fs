namespace Stack.Core.Host

open System
open System.Collections.Immutable
open Stack.Core.Tcp
open Stack.Core.Wire

/// A connection's 4-tuple, from this host's side, of either family.
[<Struct; CustomEquality; CustomComparison>]
type FourTuple =
    {
        LocalAddress: IpAddress
        LocalPort: uint16
        RemoteAddress: IpAddress
        RemotePort: uint16
    }

    /// Both ports in one number.
    member private t.Ports = (uint32 t.LocalPort <<< 16) ||| uint32 t.RemotePort

    /// Equality without boxing (F#'s `=` on a struct with custom equality boxes). The
    /// fields that differ most between connections are compared first.
    static member Same(a: FourTuple, b: FourTuple) =
        a.Ports = b.Ports
        && a.RemoteAddress.Low = b.RemoteAddress.Low
        && a.RemoteAddress.High = b.RemoteAddress.High
        && a.LocalAddress.Low = b.LocalAddress.Low
        && a.LocalAddress.High = b.LocalAddress.High

    /// Compared as primitives: generic comparison of a tuple would box on every call.
    static member private Compare(a: FourTuple, b: FourTuple) =
        let inline order (x: uint64) (y: uint64) = if x < y then -1 else 1

        if a.LocalAddress.High <> b.LocalAddress.High then
            order a.LocalAddress.High b.LocalAddress.High
        elif a.LocalAddress.Low <> b.LocalAddress.Low then
            order a.LocalAddress.Low b.LocalAddress.Low
        elif a.LocalPort <> b.LocalPort then
            order (uint64 a.LocalPort) (uint64 b.LocalPort)
        elif a.RemoteAddress.High <> b.RemoteAddress.High then
            order a.RemoteAddress.High b.RemoteAddress.High
        elif a.RemoteAddress.Low <> b.RemoteAddress.Low then
            order a.RemoteAddress.Low b.RemoteAddress.Low
        elif a.RemotePort <> b.RemotePort then
            order (uint64 a.RemotePort) (uint64 b.RemotePort)
        else
            0

    /// Equality without boxing, for C# callers (whose `Equals` would pick the `obj` one).
    member t.Equals(other: FourTuple) = FourTuple.Same(t, other)

    override t.Equals(o: obj) =
        match o with
        | :? FourTuple as other -> FourTuple.Same(t, other)
        | _ -> false

    override t.GetHashCode() =
        HashCode.Combine(t.RemoteAddress.Low, t.RemoteAddress.High ^^^ t.LocalAddress.High, t.LocalAddress.Low, t.Ports)

    /// "10.0.0.1:7-10.0.0.2:40000", or with IPv6 "[fd00::1]:7-[fd00::2]:40000".
    override t.ToString() =
        $"{t.LocalAddress.WithPort t.LocalPort}-{t.RemoteAddress.WithPort t.RemotePort}"

    interface IEquatable<FourTuple> with
        member t.Equals(other: FourTuple) = FourTuple.Same(t, other)

    interface IComparable<FourTuple> with
        member t.CompareTo(other: FourTuple) = FourTuple.Compare(t, other)

    interface IComparable with
        member t.CompareTo(o: obj) =
            match o with
            | :? FourTuple as other -> FourTuple.Compare(t, other)
            | _ -> invalidArg "o" "not a FourTuple"

/// Every tunable of one stack instance. `HostOptions.create` gives Linux-like defaults.
type HostOptions =
    {
        /// This host's IPv4 address: packets to any other are dropped.
        Address: Ipv4Address
        /// This host's IPv6 address, when it has one (dual stack): IPv6 packets to any
        /// other, and all of them without one, are dropped.
        Address6: Ipv6Address voption
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
    [<Literal>]
    let IcmpErrorsPerSecond = 100

    let create (address: Ipv4Address) =
        {
            Address = address
            Address6 = ValueNone
            Connection = ConnectionOptions.defaults
            SynBacklog = 256
            EphemeralFirst = 32768
            EphemeralLast = 60999
            Ttl = 64uy
            AnswerPings = true
            ChallengeAckLimit = 1000
            SynCookies = true
            MaxConnections = 1_000_000
            Fragments =
                {
                    MaxBytes = 4 <<< 20
                    MaxBytesPerSource = 1 <<< 20
                    MaxPieces = 256
                    TimeoutMicros = 30_000_000L
                }
        }

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
        Template: Connection
        HalfOpen: ImmutableHashSet<FourTuple>
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
[<Struct>]
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
        /// `Arrived` offset counts from the start of the received packet, or of
        /// `Reassembled` when it is set.
        Connections: struct (FourTuple * Output) list
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
    | NoAddressFor of remote: IpAddress
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
            mutable Table: ImmutableDictionary<FourTuple, Connection>
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
            mutable MemoTable: ImmutableDictionary<FourTuple, Connection>
            mutable MemoTuple: FourTuple
            mutable MemoConnection: Connection
            /// Datagrams being put back together from fragments.
            mutable Reassembly: FragmentTable
            /// The identification of the next datagram this host fragments.
            mutable NextFragmentId: uint32
            /// The ICMP error budget (parameter problems): what is left of this second's,
            /// and when the second began.
            mutable IcmpErrorsLeft: int
            mutable IcmpErrorSecondStart: int64
        }

    member h.Options = h.Settings
    /// The connections by 4-tuple.
    member h.Connections = h.Table

    /// The connection with this tuple, if the host has it.
    member h.Find(tuple: FourTuple) : Connection voption =
        if h.Remembers tuple then
            ValueSome h.MemoConnection
        else
            match h.Table.TryGetValue tuple with
            | true, c -> ValueSome c
            | _ -> ValueNone

    /// The memo holds `tuple`'s connection in the current table.
    member private h.Remembers(tuple: FourTuple) =
        obj.ReferenceEquals(h.MemoTable, h.Table) && h.MemoTuple.Equals tuple

    /// `Find`, remembering what it found for the next time (owned steps only).
    member internal h.FindAndRemember(tuple: FourTuple) : Connection voption =
        if h.Remembers tuple then
            ValueSome h.MemoConnection
        else
            let found = h.Find tuple

            match found with
            | ValueSome c ->
                h.MemoTable <- h.Table
                h.MemoTuple <- tuple
                h.MemoConnection <- c
            | ValueNone -> ()

            found

    /// The listeners for both families or IPv4 only, by port.
    member h.Listeners = h.ListenerTable

    /// The listeners for IPv6 only, by port.
    member h.Listeners6 = h.ListenerTable6

    member h.Counters =
        { h.Tally with
            PacketsIn = h.PacketsIn
            PacketsOut = h.PacketsOut
        }

/// Collects what one step of the host produces. The caller owns it and may reuse it for
/// every step of `Host.Owned` (which clear it first), so a step in steady state
/// allocates nothing.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
[<Sealed; AllowNullLiteral>]
type HostOutbox() =
    let transmits = ResizeArray<Transmit>()
    let connections = ResizeArray<struct (FourTuple * Output)>()
    let connectionOutbox = Outbox()
    let mutable reassembled: byte array = null

    /// The datagram this step put back together from fragments, if it did: `Arrived`
    /// offsets count from its start (see `HostOutput.Reassembled`).
    member _.Reassembled
        with get () = reassembled
        and internal set (v: byte array) = reassembled <- v

    /// Packets to send, in order.
    member _.Transmits: ReadOnlySpan<Transmit> = Lists.spanOf transmits

    /// What each touched connection did (see `HostOutput.Connections`).
    member _.Connections: ReadOnlySpan<struct (FourTuple * Output)> =
        Lists.spanOf connections

    /// Where one connection's step goes before the host files it.
    member internal _.ConnectionOutbox = connectionOutbox
    member internal _.Send(t: Transmit) = transmits.Add t
    member internal _.File(tuple: FourTuple, output: Output) = connections.Add(struct (tuple, output))

    /// Forgets the last step's output. (Each connection's step clears the connection
    /// outbox itself.)
    member _.Clear() =
        transmits.Clear()
        connections.Clear()
        reassembled <- null

    /// The output as a value.
    member _.ToOutput() : HostOutput =
        {
            Transmits = Lists.ofResizeArray transmits
            Connections = Lists.ofResizeArray connections
            Reassembled = reassembled
        }
