/// The shell's protocol options: their defaults are the core's, each setting reaches the
/// core, and a bad one is refused by name.
module Stack.Tests.ProtocolOptionsTests

open System
open System.Threading
open Expecto
open Stack.Core.Host
open Stack.Core.Tcp
open Stack.Core.Wire
open Stack.Shell

let private coreDefaults = HostOptions.create (Ipv4Address.Parse "10.0.0.1")

/// The options as text with the congestion controller (a function) set aside, so two
/// option values can be compared whole.
let private shown (o: HostOptions) =
    let algorithm = (o.Connection.CongestionControl 1460).Algorithm.GetType().Name

    let comparable =
        { o with
            Connection =
                { o.Connection with
                    CongestionControl = coreDefaults.Connection.CongestionControl
                }
        }

    $"%A{comparable} controller {algorithm}"

let private refused (options: TcpProtocolOptions) =
    try
        TcpStackOptions(Tcp = options).Validate()
        failtest $"accepted {options}"
    with :? ArgumentException as e ->
        e.Message

[<Tests>]
let tests =
    testList
        "protocol options"
        [
            testCase "the defaults are the core's, field for field"
            <| fun () ->
                Expect.equal (shown (TcpProtocolOptions().ApplyTo coreDefaults)) (shown coreDefaults) "defaults"

            testCase "every setting reaches the core"
            <| fun () ->
                let options =
                    TcpProtocolOptions(
                        WindowScaling = false,
                        Timestamps = false,
                        SelectiveAcknowledgments = false,
                        CongestionControl = TcpCongestionControl.NewReno,
                        LossDetection = TcpLossDetection.DuplicateThreshold,
                        DelayedAck = TimeSpan.FromMilliseconds 10.,
                        TimeWait = TimeSpan.FromSeconds 4.,
                        FinWait2Timeout = Timeout.InfiniteTimeSpan,
                        InitialRetransmitTimeout = TimeSpan.FromSeconds 2.,
                        MinRetransmitTimeout = TimeSpan.FromMilliseconds 5.,
                        MaxRetransmitTimeout = TimeSpan.FromSeconds 9.,
                        MaxRetries = 3,
                        MaxSynRetries = 1,
                        MaxSynAckRetries = 2,
                        SynBacklog = 7,
                        SynCookies = false,
                        MaxConnections = 99,
                        AnswerPings = false,
                        Keepalive = TcpKeepalive(TimeSpan.FromSeconds 30., TimeSpan.FromSeconds 5., 4)
                    )

                let o = options.ApplyTo coreDefaults
                let c = o.Connection

                Expect.equal
                    (c.WindowScaling, c.Timestamps, c.Sack, c.LossDetection)
                    (false, false, false, LossDetector.DupThresh)
                    "offers and loss detection"

                Expect.equal ((c.CongestionControl 1460).Algorithm.GetType().Name) "NewReno" "controller"

                Expect.equal
                    (c.DelayedAckMicros, c.MslMicros * 2L, c.FinWait2TimeoutMicros)
                    (10_000L, 4_000_000L, Int64.MaxValue)
                    "timers"

                Expect.equal
                    c.Rtt
                    {
                        InitialRto = 2_000_000L
                        MinRto = 5_000L
                        MaxRto = 9_000_000L
                    }
                    "retransmission timeout bounds"

                Expect.equal (c.MaxRetries, c.MaxSynRetries, c.MaxSynAckRetries) (3, 1, 2) "retries"

                Expect.equal
                    (o.SynBacklog, o.SynCookies, o.MaxConnections, o.AnswerPings)
                    (7, false, 99, false)
                    "host limits"

                Expect.equal
                    c.Keepalive
                    (ValueSome
                        {
                            IdleMicros = 30_000_000L
                            IntervalMicros = 5_000_000L
                            Count = 4
                        })
                    "keepalive"

            testCase "a bad setting is refused by name"
            <| fun () ->
                let cases =
                    [
                        TcpProtocolOptions(DelayedAck = TimeSpan.FromSeconds 1.), "DelayedAck"
                        TcpProtocolOptions(MinRetransmitTimeout = TimeSpan.Zero), "MinRetransmitTimeout"
                        TcpProtocolOptions(MaxRetransmitTimeout = TimeSpan.FromMilliseconds 100.),
                        "MaxRetransmitTimeout"
                        TcpProtocolOptions(InitialRetransmitTimeout = TimeSpan.FromMinutes 5.),
                        "InitialRetransmitTimeout"
                        TcpProtocolOptions(FinWait2Timeout = TimeSpan.Zero), "FinWait2Timeout"
                        TcpProtocolOptions(MaxRetries = 0), "MaxRetries"
                        TcpProtocolOptions(SynBacklog = 0), "SynBacklog"
                        TcpProtocolOptions(Keepalive = TcpKeepalive(TimeSpan.Zero, TimeSpan.FromSeconds 1., 1)),
                        "keepalive"
                    ]

                for options, name in cases do
                    Expect.stringContains (refused options) name $"the message names {name}"
        ]
