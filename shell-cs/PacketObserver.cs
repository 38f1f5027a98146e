namespace Stack.Shell;

/// <summary>Which way a packet went through the device.</summary>
public enum PacketDirection
{
    /// <summary>Read from the device: to the stack.</summary>
    In,

    /// <summary>Written to the device: from the stack.</summary>
    Out,
}

/// <summary>
/// Sees every packet in and out, on the stack thread, before it is handled or sent. The
/// span is only valid during the call; keep it short, the stack waits.
/// </summary>
public delegate void PacketObserver(PacketDirection direction, ReadOnlySpan<byte> packet);
