using System.Buffers.Binary;
using Stack.Core.Wire;

namespace Stack.Shell.Device;

/// <summary>
/// The 10-byte virtio-net header a TUN device with IFF_VNET_HDR puts before each packet
/// (flags, GSO type, header length, GSO size, checksum start and offset; little-endian).
/// </summary>
internal static class VirtioNetHeader
{
    public const int Size = 10;

    /// <summary>The checksum is left to the reader: the field holds the pseudo-header's sum.</summary>
    public const byte NeedsChecksum = 1;

    /// <summary>The packet's checksums are known good.</summary>
    public const byte DataValid = 2;

    /// <summary>A header for a packet whose checksums we computed: the kernel need not check them.</summary>
    public static readonly byte[] ChecksumValid = [DataValid, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    /// <summary>GSO type: a run of TCP/IPv4 segments.</summary>
    public const byte GsoTcpV4 = 1;

    /// <summary>GSO type: a run of TCP/IPv6 segments.</summary>
    public const byte GsoTcpV6 = 4;

    /// <summary>A header for a run of TCP segments with complete checksums, of the family of <paramref name="packet"/>.</summary>
    public static void WriteRun(Span<byte> header, ReadOnlySpan<byte> packet, int headerLength, int segmentSize)
    {
        header[0] = DataValid;
        header[1] = packet.Length > 0 && packet[0] >> 4 == 6 ? GsoTcpV6 : GsoTcpV4;
        BinaryPrimitives.WriteUInt16LittleEndian(header[2..], (ushort)headerLength);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], (ushort)segmentSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[6..], 0);
    }

    /// <summary>
    /// Fills in a checksum the kernel left to us: the one's complement sum from
    /// <c>csum_start</c> to the end (which includes the pseudo-header's sum already in the
    /// field), written at <c>csum_start + csum_offset</c>.
    /// </summary>
    public static void CompleteChecksum(ReadOnlySpan<byte> header, Span<byte> packet)
    {
        if ((header[0] & NeedsChecksum) == 0)
        {
            return;
        }

        int start = BinaryPrimitives.ReadUInt16LittleEndian(header[6..]);
        int offset = BinaryPrimitives.ReadUInt16LittleEndian(header[8..]);
        if (start + offset + 2 > packet.Length)
        {
            // A header that points outside the packet: leave it for the core to reject.
            return;
        }

        var checksum = Checksum.compute(packet[start..]);
        BinaryPrimitives.WriteUInt16BigEndian(packet[(start + offset)..], checksum);
    }
}
