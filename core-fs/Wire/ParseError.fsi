namespace Stack.Core.Wire

/// The layer a parse error belongs to.
[<RequireQualifiedAccess>]
type Layer =
    | Ipv4
    | Ipv6
    | Tcp
    | Icmpv4
    | Icmpv6
    | Pcap

    override ToString: unit -> string

/// Why bytes could not be read as a packet. Every case names the problem; parsing never
/// throws.
type ParseError =

    /// The buffer ends before `field` is complete: `needed` bytes were required, `available` were there.
    | Truncated of layer: Layer * field: string * needed: int * available: int

    /// The IP version nibble is not the one the parser reads (4, or 6).
    | BadVersion of version: int

    /// The header length field is below the minimum or beyond the bytes present.
    | BadHeaderLength of layer: Layer * headerLength: int

    /// The IPv4 total length is smaller than the header or larger than the buffer.
    | BadTotalLength of totalLength: int * headerLength: int * available: int

    /// The stored checksum does not match the bytes.
    | BadChecksum of layer: Layer * stored: uint16 * computed: uint16

    /// An option's length byte is impossible (below 2, beyond the option area, or wrong for its kind).
    | BadOptionLength of layer: Layer * kind: byte * length: int * offset: int

    /// The packet is well formed but of a kind this reader does not handle.
    | Unsupported of layer: Layer * what: string

    /// An IPv6 packet the RFC says to discard and answer with an ICMPv6 parameter
    /// problem (RFC 8200 4): `code` 0 an erroneous field, 1 an unrecognized next header,
    /// 2 an unrecognized option; `pointer` the offset of the byte at fault.
    | Ipv6ParameterProblem of code: byte * pointer: int * what: string

    /// The original datagram quoted in an ICMP error cannot be read.
    | BadQuote of ParseError

module ParseError =

    /// One readable sentence for a parse error.
    val describe: e: ParseError -> string

/// Whether a parser checks the checksum field.
type ChecksumPolicy =
    | Verify
    | Ignore
