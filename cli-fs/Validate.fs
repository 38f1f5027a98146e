/// Checks of option values, shared by every command. Each failure is one line naming the
/// option and what it accepts. Commands run them before they set anything up, and they
/// need no privileges, so a bad value is refused before anything needs root and leaves
/// nothing behind.
module Stack.Cli.Validate

open System
open System.Globalization
open System.IO
open System.Net
open Stack.Core.Wire

/// A bad argument: the program exits with 2.
exception UsageError of string

/// The machine cannot do what was asked (privilege, device support, a file that cannot
/// be written): the program exits with 1.
exception SetupError of string

let usage (message: string) : 'a = raise (UsageError message)
let setup (message: string) : 'a = raise (SetupError message)

/// `value` if it lies from `lo` to `hi`. Written so NaN fails too.
let inRange (name: string) (lo: 'T) (hi: 'T) (value: 'T) : 'T =
    if not (lo <= value && value <= hi) then
        usage $"{name} {value}: out of range; use {lo} to {hi}"

    value

let port (name: string) (value: int) = inRange name 1 65535 value

/// A power of two from `lo` to `hi` (both powers of two).
let powerOfTwo (name: string) (lo: int) (hi: int) (value: int) =
    if value < lo || value > hi || value &&& (value - 1) <> 0 then
        usage $"{name} {value}: use a power of two from {lo} to {hi}"

    value

/// A probability written as 0.05 or 5%.
let probability (name: string) (text: string) =
    let t = text.Trim()
    let isPercent = t.EndsWith "%"
    let number = if isPercent then t.TrimEnd('%').Trim() else t

    match Double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture) with
    | true, v ->
        let p = if isPercent then v / 100.0 else v

        if not (0.0 <= p && p <= 1.0) then
            usage $"{name} {text}: out of range; a probability lies between 0 and 1 (or 0%% and 100%%)"

        p
    | _ -> usage $"{name} {text}: not a probability; write it as 0.05 or 5%%"

/// Dotted-quad IPv4 text; stricter than IPAddress.TryParse, which takes "10.1" too.
let ipv4 (name: string) (text: string) : Ipv4Address =
    match Ipv4Address.TryParse text with
    | Some a -> a
    | None -> usage $"{name} '{text}': not an IPv4 address; use four numbers 0-255 such as 10.7.0.2"

let toIPAddress (a: Ipv4Address) = IPAddress(a.Octets)

/// IPv6 text, such as fd00:7::2 (no zone: the stack has one link).
let ipv6 (name: string) (text: string) : IpAddress =
    match Ipv6Address.TryParse text with
    | Some a when not (IpAddress.OfIpv6 a).IsIpv4 -> IpAddress.OfIpv6 a
    | _ -> usage $"{name} '{text}': not an IPv6 address; write it as fd00:7::2"

/// ADDRESS:PORT, such as 10.7.0.1:5001, or [ADDRESS]:PORT for IPv6, such as [fd00:7::1]:5001.
let endpoint (name: string) (text: string) =
    let bracketed = text.StartsWith "["

    let address, portText =
        if bracketed then
            match text.IndexOf "]:" with
            | close when close > 0 -> text.Substring(1, close - 1), text.Substring(close + 2)
            | _ -> usage $"{name} '{text}': not [IPV6]:PORT, such as [fd00:7::1]:5001"
        else
            match text.Split ':' with
            | [| address; port |] -> address, port
            | parts when parts.Length > 2 ->
                usage $"{name} '{text}': write an IPv6 address in brackets, such as [fd00:7::1]:5001"
            | _ -> usage $"{name} '{text}': not ADDRESS:PORT, such as 10.7.0.1:5001 or [fd00:7::1]:5001"

    let ip =
        if bracketed then
            (ipv6 name address).ToIPAddress()
        else
            toIPAddress (ipv4 name address)

    match Int32.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture) with
    | true, p when 1 <= p && p <= 65535 -> IPEndPoint(ip, p)
    | _ -> usage $"{name} {text}: the port must be a number from 1 to 65535"

/// An IPv6 address with its prefix, as the kernel side of a device takes it.
let subnet6 (name: string) (text: string) =
    match text.Split '/' with
    | [| address; prefix |] ->
        let a = ipv6 name address

        match Int32.TryParse(prefix, NumberStyles.None, CultureInfo.InvariantCulture) with
        | true, p when 1 <= p && p <= 128 -> a, p
        | _ -> usage $"{name} {text}: the prefix must be a number from 1 to 128"
    | _ -> usage $"{name} '{text}': not ADDRESS/PREFIX, such as fd00:7::1/64"

/// Whether `a` and `b` share their first `prefix` bits.
let sameIpv6Prefix (a: IpAddress) (b: IpAddress) (prefix: int) =
    let inline top (v: uint64) (bits: int) =
        if bits <= 0 then 0UL
        elif bits >= 64 then v
        else v >>> (64 - bits)

    top a.High prefix = top b.High prefix
    && top a.Low (prefix - 64) = top b.Low (prefix - 64)

/// An address with its prefix, A.B.C.D/N, as the kernel side of a device takes it.
type Subnet =
    {
        Address: Ipv4Address
        Prefix: int
    }

    member s.Mask =
        if s.Prefix = 0 then
            0u
        else
            UInt32.MaxValue <<< (32 - s.Prefix)

    member s.Network = Ipv4Address(s.Address.Value &&& s.Mask)
    member s.Broadcast = Ipv4Address(s.Address.Value ||| ~~~s.Mask)
    member s.Contains(a: Ipv4Address) = a.Value &&& s.Mask = s.Network.Value

    /// A /31 has no network or broadcast address (RFC 3021); wider ones do.
    member s.IsHost(a: Ipv4Address) =
        s.Contains a && (s.Prefix = 31 || (a <> s.Network && a <> s.Broadcast))

    override s.ToString() = $"{s.Network}/{s.Prefix}"

let subnet (name: string) (text: string) =
    match text.Split '/' with
    | [| address; prefix |] ->
        let a = ipv4 name address

        match Int32.TryParse(prefix, NumberStyles.None, CultureInfo.InvariantCulture) with
        | true, p when 1 <= p && p <= 31 ->
            let s = { Address = a; Prefix = p }

            if not (s.IsHost a) then
                usage $"{name} {text}: {a} is the network or broadcast address of {s}; use a host address in it"

            s
        | _ -> usage $"{name} {text}: the prefix must be a number from 1 to 31"
    | _ -> usage $"{name} '{text}': not ADDRESS/PREFIX, such as 10.7.0.1/24"

/// Linux's rule for an interface name: 1 to 15 bytes, not . or .., no '/', ':' or space.
let deviceName (name: string) (text: string) =
    let bad =
        text.Length = 0
        || Text.Encoding.UTF8.GetByteCount text > 15
        || text = "."
        || text = ".."
        || text |> Seq.exists (fun c -> c = '/' || c = ':' || Char.IsWhiteSpace c)

    if bad then
        usage $"{name} '{text}': not a device name; use 1 to 15 characters without '/', ':' or spaces"

    text

/// A namespace name becomes a file in /run/netns: letters, digits, '-', '_' and '.'.
let namespaceName (name: string) (text: string) =
    let ok =
        text.Length >= 1
        && text.Length <= 64
        && text <> "."
        && text <> ".."
        && text
           |> Seq.forall (fun c -> Char.IsAsciiLetterOrDigit c || c = '-' || c = '_' || c = '.')

    if not ok then
        usage $"{name} '{text}': not a namespace name; use 1 to 64 letters, digits, '-', '_' or '.'"

    text

/// A file the command will write: its directory must exist (a usage error if not) and
/// take a new file (a setup error if not). An existing file is left as it is.
let writableFile (name: string) (path: string) =
    let full =
        try
            Path.GetFullPath path
        with _ ->
            usage $"{name} '{path}': not a file path"

    let directory = Path.GetDirectoryName full

    if path.Trim() = "" || Directory.Exists full then
        usage $"{name} '{path}': not a file name"

    if not (Directory.Exists directory) then
        usage $"{name} {path}: directory {directory} does not exist; make it first"

    let existed = File.Exists full

    try
        (new FileStream(full, FileMode.OpenOrCreate, FileAccess.Write)).Dispose()

        if not existed then
            File.Delete full
    with
    | :? UnauthorizedAccessException
    | :? IOException as e -> setup $"{name} {path}: cannot write there ({e.Message})"

    path

/// A file the command will read.
let readableFile (name: string) (path: string) =
    if Directory.Exists path then
        usage $"{name} {path}: is a directory; give a file"

    if not (File.Exists path) then
        usage $"{name} {path}: no such file"

    path

let existingDirectory (name: string) (path: string) =
    if not (Directory.Exists path) then
        usage $"{name} {path}: no such directory; make it first"

    path

/// Refuses to go on without root: what needs it says why.
let root (what: string) =
    if Environment.UserName <> "root" then
        setup $"{what}: run it as root (sudo)"
