/// Fills in a TCP header where it lies (in an output slot), a field at a time, straight
/// from the values. A header built as a record and then copied into place is written in
/// narrow stores and read back at once in wide loads, which the CPU cannot forward: it
/// waits for the stores to reach the cache, once per segment. The header and option types
/// are immutable to everyone else; this module is the one place that stores into their
/// fields, and only into a header being written for the first time. A header in an
/// output slot is read-only to the type system (its fields are immutable), so each
/// function takes it by `inref` and writes through `Unsafe.AsRef`.
module Stack.Core.Wire.HeaderWriter

open System.Runtime.CompilerServices

/// Every field but the options: the reserved bits and the urgent pointer are zero.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let writeFields
    (h: inref<TcpHeader>)
    (sourcePort: uint16)
    (destinationPort: uint16)
    (sequenceNumber: uint32)
    (acknowledgmentNumber: uint32)
    (flags: TcpFlags)
    (window: uint16)
    =
    Unsafe.AsRef<uint16>(&h.SourcePort) <- sourcePort
    Unsafe.AsRef<uint16>(&h.DestinationPort) <- destinationPort
    Unsafe.AsRef<uint32>(&h.SequenceNumber) <- sequenceNumber
    Unsafe.AsRef<uint32>(&h.AcknowledgmentNumber) <- acknowledgmentNumber
    Unsafe.AsRef<byte>(&h.Reserved) <- 0uy
    Unsafe.AsRef<TcpFlags>(&h.Flags) <- flags
    Unsafe.AsRef<uint16>(&h.Window) <- window
    Unsafe.AsRef<uint16>(&h.UrgentPointer) <- 0us

/// The options: NOP, NOP, timestamps, the options of nearly every segment a connection
/// sends, eight bytes at a time.
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let writeTimestamps (h: inref<TcpHeader>) (tsval: uint32) (tsecr: uint32) =
    let options = &Unsafe.AsRef<OptionBytes>(&h.Options)
    Unsafe.AsRef<uint64>(&options.W0) <- (0x0101080AUL <<< 32) ||| uint64 tsval
    Unsafe.AsRef<uint64>(&options.W1) <- uint64 tsecr <<< 32
    Unsafe.AsRef<uint64>(&options.W2) <- 0UL
    Unsafe.AsRef<uint64>(&options.W3) <- 0UL
    Unsafe.AsRef<uint64>(&options.W4) <- 0UL
    Unsafe.AsRef<int>(&options.Length) <- 12

/// The options, from a value (SACK blocks, or none).
[<MethodImpl(MethodImplOptions.AggressiveInlining)>]
let writeOptions (h: inref<TcpHeader>) (options: OptionBytes) =
    // Word by word: a whole-struct store through `Unsafe.AsRef` did not reach the slot
    // in this module's property test.
    let target = &Unsafe.AsRef<OptionBytes>(&h.Options)
    Unsafe.AsRef<uint64>(&target.W0) <- options.W0
    Unsafe.AsRef<uint64>(&target.W1) <- options.W1
    Unsafe.AsRef<uint64>(&target.W2) <- options.W2
    Unsafe.AsRef<uint64>(&target.W3) <- options.W3
    Unsafe.AsRef<uint64>(&target.W4) <- options.W4
    Unsafe.AsRef<int>(&target.Length) <- options.Length
