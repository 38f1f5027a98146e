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

/// `options` with an IPv6 address as well: the host then speaks both families.
let withAddress6 (address: IpAddress) (options: HostOptions) =
    if address.IsIpv4 then
        invalidArg "address" $"{address} is an IPv4 address, not IPv6"

    { options with
        Address6 = ValueSome address.Ipv6
    }

/// `options` with reassembly holding at most `bytes` of fragments, a quarter of that
/// from any one source.
let withFragmentMemory (bytes: int) (options: HostOptions) =
    if bytes < 0 then
        invalidArg "bytes" $"fragment memory cannot be negative ({bytes})"

    { options with
        Fragments =
            { options.Fragments with
                MaxBytes = bytes
                MaxBytesPerSource = bytes / 4
            }
    }

/// The protocol's tunables as a shell's settings give them, applied to `options`: the
/// options TCP offers on a SYN, the congestion controller (NewReno when `newReno`, else
/// CUBIC) and loss detector (RFC 6675's duplicate threshold when `duplicateThreshold`, else
/// RACK-TLP), timers in microseconds, retry counts and the host's limits. Named
/// parameters, so a C# caller reads as settings, not positions.
let withProtocol
    (windowScaling: bool)
    (timestamps: bool)
    (selectiveAcknowledgments: bool)
    (newReno: bool)
    (duplicateThreshold: bool)
    (delayedAckMicros: int64)
    (timeWaitMicros: int64)
    (finWait2TimeoutMicros: int64)
    (initialRtoMicros: int64)
    (minRtoMicros: int64)
    (maxRtoMicros: int64)
    (maxRetries: int)
    (maxSynRetries: int)
    (maxSynAckRetries: int)
    (synBacklog: int)
    (synCookies: bool)
    (maxConnections: int)
    (answerPings: bool)
    (options: HostOptions)
    : HostOptions =
    { options with
        SynBacklog = synBacklog
        SynCookies = synCookies
        MaxConnections = maxConnections
        AnswerPings = answerPings
        Connection =
            { options.Connection with
                WindowScaling = windowScaling
                Timestamps = timestamps
                Sack = selectiveAcknowledgments
                CongestionControl = if newReno then Congestion.newReno else Congestion.cubic
                LossDetection =
                    if duplicateThreshold then
                        LossDetector.DupThresh
                    else
                        LossDetector.Rack
                DelayedAckMicros = delayedAckMicros
                MslMicros = timeWaitMicros / 2L
                FinWait2TimeoutMicros = finWait2TimeoutMicros
                MaxRetries = maxRetries
                MaxSynRetries = maxSynRetries
                MaxSynAckRetries = maxSynAckRetries
                Rtt =
                    {
                        InitialRto = initialRtoMicros
                        MinRto = minRtoMicros
                        MaxRto = maxRtoMicros
                    }
            }
    }

/// `options` with every connection keeping notes of the engine's decisions for a trace
/// (`ConnectionOptions.Trace`).
let withTraceNotes (options: HostOptions) : HostOptions =
    { options with
        Connection = { options.Connection with Trace = true }
    }

/// Keepalive for every connection from the start (idle and interval in microseconds).
let withKeepalive (idleMicros: int64) (intervalMicros: int64) (count: int) (options: HostOptions) : HostOptions =
    { options with
        Connection =
            { options.Connection with
                Keepalive =
                    ValueSome
                        {
                            IdleMicros = idleMicros
                            IntervalMicros = intervalMicros
                            Count = count
                        }
            }
    }

/// The command that turns keepalive on for one connection (idle and interval in
/// microseconds, then `count` unanswered probes end it).
let keepaliveOn (idleMicros: int64) (intervalMicros: int64) (count: int) : Command =
    Command.SetKeepalive(
        ValueSome
            {
                IdleMicros = idleMicros
                IntervalMicros = intervalMicros
                Count = count
            }
    )

/// The command that turns keepalive off for one connection.
let keepaliveOff: Command = Command.SetKeepalive ValueNone
