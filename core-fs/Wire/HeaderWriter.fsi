/// Fills in a TCP header where it lies (in an output slot), a field at a time, straight
/// from the values. A header built as a record and then copied into place is written in
/// narrow stores and read back at once in wide loads, which the CPU cannot forward: it
/// waits for the stores to reach the cache, once per segment. The header and option types
/// are immutable to everyone else; this module is the one place that stores into their
/// fields, and only into a header being written for the first time. A header in an
/// output slot is read-only to the type system (its fields are immutable), so each
/// function takes it by `inref` and writes through `Unsafe.AsRef`.
module Stack.Core.Wire.HeaderWriter

/// Every field but the options: the reserved bits and the urgent pointer are zero.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val writeFields:
    h: inref<Stack.Core.Wire.TcpHeader> ->
    sourcePort: uint16 ->
    destinationPort: uint16 ->
    sequenceNumber: uint32 ->
    acknowledgmentNumber: uint32 ->
    flags: Stack.Core.Wire.TcpFlags ->
    window: uint16 ->
        unit

/// The options: NOP, NOP, timestamps, the options of nearly every segment a connection
/// sends, eight bytes at a time.
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val writeTimestamps: h: inref<Stack.Core.Wire.TcpHeader> -> tsval: uint32 -> tsecr: uint32 -> unit

/// The options, from a value (SACK blocks, or none).
[<System.Runtime.CompilerServices.MethodImpl(enum<System.Runtime.CompilerServices.MethodImplOptions>(256))>]
val writeOptions: h: inref<Stack.Core.Wire.TcpHeader> -> options: Stack.Core.Wire.OptionBytes -> unit
