/// Host options built from the few settings a shell exposes, so that C# callers need not
/// rebuild F# records field by field.
module Stack.Core.Host.Configure

open Stack.Core.Tcp.Isn
open Stack.Core.Tcp
open Stack.Core.Wire

/// Options for a host at `address` on a link with this MTU, with the given buffer sizes
/// (powers of two; the receive buffer starts at `initialReceiveBuffer` and autotuning
/// grows it), Nagle on or off, and the secret for initial sequence numbers.
let hostOptions
    (address: Ipv4Address)
    (mtu: int)
    (sendBuffer: int)
    (initialReceiveBuffer: int)
    (receiveBuffer: int)
    (noDelay: bool)
    (isnKey: IsnKey)
    : HostOptions =
    let defaults = HostOptions.create address

    { defaults with
        Connection =
            { defaults.Connection with
                Mss = ConnectionOptions.mssForMtu mtu
                SendBufferSize = sendBuffer
                ReceiveBufferSize = receiveBuffer
                InitialReceiveBufferSize = initialReceiveBuffer
                NoDelay = noDelay
                IsnKey = isnKey
            }
    }
