/// Initial sequence numbers as RFC 6528 asks: a clock that ticks every 4 microseconds plus
/// a keyed hash of the connection's 4-tuple, so an off-path attacker cannot guess them and
/// a new incarnation of a connection starts past the old one. The key and the time come
/// in from the caller; nothing here reads a clock or draws a random number.
[<System.Runtime.CompilerServices.SkipLocalsInit>]
module Stack.Core.Tcp.Isn

#nowarn "9" // stackalloc for the bytes a hash reads

open System
open System.Buffers.Binary
open Microsoft.FSharp.NativeInterop
open Stack.Core.Tcp
open Stack.Core.Wire

/// The 128-bit secret of one stack instance (RFC 6528's secretkey): make it once from a
/// cryptographic random source and keep it for the instance's life.
[<Struct>]
type IsnKey = { K0: uint64; K1: uint64 }

let inline private rotl (x: uint64) (b: int) = (x <<< b) ||| (x >>> (64 - b))

/// SipHash-2-4 (Aumasson and Bernstein, 2012) of `data` under the key (k0, k1): the keyed
/// pseudo-random function behind the ISN.
let sipHash24 (k0: uint64) (k1: uint64) (data: ReadOnlySpan<byte>) : uint64 =
    let mutable v0 = k0 ^^^ 0x736f6d6570736575UL
    let mutable v1 = k1 ^^^ 0x646f72616e646f6dUL
    let mutable v2 = k0 ^^^ 0x6c7967656e657261UL
    let mutable v3 = k1 ^^^ 0x7465646279746573UL

    let inline round () =
        v0 <- v0 + v1
        v1 <- rotl v1 13
        v1 <- v1 ^^^ v0
        v0 <- rotl v0 32
        v2 <- v2 + v3
        v3 <- rotl v3 16
        v3 <- v3 ^^^ v2
        v0 <- v0 + v3
        v3 <- rotl v3 21
        v3 <- v3 ^^^ v0
        v2 <- v2 + v1
        v1 <- rotl v1 17
        v1 <- v1 ^^^ v2
        v2 <- rotl v2 32

    let whole = data.Length / 8

    for i in 0 .. whole - 1 do
        let m = BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i * 8, 8))
        v3 <- v3 ^^^ m
        round ()
        round ()
        v0 <- v0 ^^^ m

    // The last block: the remaining bytes, little-endian, with the length in the top byte.
    let mutable last = uint64 (byte data.Length) <<< 56

    for i in whole * 8 .. data.Length - 1 do
        last <- last ||| (uint64 data[i] <<< (8 * (i - whole * 8)))

    v3 <- v3 ^^^ last
    round ()
    round ()
    v0 <- v0 ^^^ last
    v2 <- v2 ^^^ 0xFFUL
    round ()
    round ()
    round ()
    round ()
    v0 ^^^ v1 ^^^ v2 ^^^ v3

/// What one key's hash is for: each use hashes its own input, so no value tells of another.
type private Purpose =
    | Isn = 0uy
    | TimestampOffset = 1uy
    | EphemeralPort = 2uy

/// The keyed hash of a connection's addresses and ports for `purpose`.
let private hashOf
    (key: IsnKey)
    (purpose: Purpose)
    (localAddress: Ipv4Address)
    (localPort: uint16)
    (remoteAddress: Ipv4Address)
    (remotePort: uint16)
    =
    let data = Span<byte>(NativePtr.toVoidPtr (NativePtr.stackalloc<byte> 13), 13)
    BinaryPrimitives.WriteUInt32BigEndian(data.Slice(0, 4), localAddress.Value)
    BinaryPrimitives.WriteUInt32BigEndian(data.Slice(4, 4), remoteAddress.Value)
    BinaryPrimitives.WriteUInt16BigEndian(data.Slice(8, 2), localPort)
    BinaryPrimitives.WriteUInt16BigEndian(data.Slice(10, 2), remotePort)
    data[12] <- byte purpose
    // The ISN's input stays the 12 bytes of the tuple alone, as it always was.
    let length = if purpose = Purpose.Isn then 12 else 13
    sipHash24 key.K0 key.K1 (Span<byte>.op_Implicit(data.Slice(0, length)))

/// The ISN for a connection from (localAddress, localPort) to (remoteAddress, remotePort)
/// at `nowMicros` (any monotonic microsecond count): M + F(4-tuple, key), M ticking every
/// 4 microseconds (RFC 6528 section 3).
let generate
    (key: IsnKey)
    (nowMicros: int64)
    (localAddress: Ipv4Address)
    (localPort: uint16)
    (remoteAddress: Ipv4Address)
    (remotePort: uint16)
    : SeqNum =
    let f =
        uint32 (hashOf key Purpose.Isn localAddress localPort remoteAddress remotePort)

    let m = uint32 (nowMicros / 4L)
    SeqNum(m + f)

/// What a connection adds to its timestamp clock (RFC 7323 5.4): a keyed hash of its
/// 4-tuple, so its TSvals tell nothing of the host's uptime or of its other connections.
let timestampOffset
    (key: IsnKey)
    (localAddress: Ipv4Address)
    (localPort: uint16)
    (remoteAddress: Ipv4Address)
    (remotePort: uint16)
    : uint32 =
    uint32 (hashOf key Purpose.TimestampOffset localAddress localPort remoteAddress remotePort)

/// Where the search for a free ephemeral port to `remote:remotePort` starts, before the
/// host's counter is added (RFC 6056 3.3.3, algorithm 3): a keyed hash of the local
/// address and the remote end, so the ports one destination sees say nothing of those
/// another sees, and cannot be guessed.
let ephemeralOffset (key: IsnKey) (localAddress: Ipv4Address) (remoteAddress: Ipv4Address) (remotePort: uint16) =
    uint32 (hashOf key Purpose.EphemeralPort localAddress 0us remoteAddress remotePort)
