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

    override x.ToString() =
        match x with
        | Ipv4 -> "IPv4"
        | Ipv6 -> "IPv6"
        | Tcp -> "TCP"
        | Icmpv4 -> "ICMPv4"
        | Icmpv6 -> "ICMPv6"
        | Pcap -> "pcap"

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
    let rec describe (e: ParseError) =
        match e with
        | Truncated(layer, field, needed, available) ->
            $"{layer}: truncated at {field} (needs {needed} bytes, {available} present)"
        | BadVersion 6 -> "IPv4: bad version 6 (an IPv6 packet; this stack reads IPv4 only)"
        | BadVersion v -> $"IPv4: bad version {v} (expected 4)"
        | BadHeaderLength(layer, len) -> $"{layer}: bad header length {len} bytes"
        | BadTotalLength(total, header, available) ->
            $"IPv4: bad total length {total} (header is {header} bytes, {available} bytes present)"
        | BadChecksum(layer, stored, computed) -> $"{layer}: bad checksum 0x%04x{stored} (computed 0x%04x{computed})"
        | BadOptionLength(layer, kind, len, offset) ->
            $"{layer}: bad option length {len} for option kind {kind} at option byte {offset}"
        | Unsupported(layer, what) -> $"{layer}: unsupported {what}"
        | Ipv6ParameterProblem(_, pointer, what) -> $"IPv6: {what} (byte {pointer})"
        | BadQuote inner -> $"ICMPv4: the quoted original datagram is unreadable ({describe inner})"

/// Whether a parser checks the checksum field.
type ChecksumPolicy =
    | Verify
    | Ignore
