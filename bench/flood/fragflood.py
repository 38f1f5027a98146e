#!/usr/bin/env python3
"""Fragment flood, for `tcpstack bench --fragment-flood`.

Writes IPv4 and IPv6 fragments for DEST4 and DEST6 into the TUN device IFNAME (so they
reach the stack unchanged, whatever the kernel would make of them), as fast as one core
allows, for at most SECONDS and at most MAX_PACKETS: first, middle and last fragments of
datagrams that never complete, tiny 8-byte ones piling into one datagram, and pairs that
overlap. Sources are spread over a /16 and a /64 of addresses that do not exist. Run it
only in a network namespace of its own with no route out and forwarding off. Prints the
number sent.
"""
import argparse
import ipaddress
import random
import socket
import struct
import time

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def fragment4(source: bytes, dest: bytes, ident: int, offset: int, more: bool, data: bytes, proto: int) -> bytes:
    flags = (0x2000 if more else 0) | (offset // 8)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident, flags, 64, proto, 0, source, dest)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + data


def fragment6(source: bytes, dest: bytes, ident: int, offset: int, more: bool, data: bytes, proto: int) -> bytes:
    header = struct.pack("!IHBB16s16s", 6 << 28, 8 + len(data), 44, 64, source, dest)
    fragment = struct.pack("!BBHI", proto, 0, offset | (1 if more else 0), ident)
    return header + fragment + data


def packets(rng: random.Random, dest4: bytes, dest6: bytes, count: int) -> list:
    net6 = ipaddress.IPv6Address("fd00:201::").packed[:8]
    sources4 = [bytes([10, 201, rng.randrange(256), rng.randrange(1, 255)]) for _ in range(4096)]
    sources6 = [net6 + rng.getrandbits(64).to_bytes(8, "big") for _ in range(4096)]
    out = []
    while len(out) < count:
        v6 = rng.random() < 0.5
        source = rng.choice(sources6 if v6 else sources4)
        dest = dest6 if v6 else dest4
        make = fragment6 if v6 else fragment4
        ident = rng.getrandbits(32 if v6 else 16)
        proto = rng.choice((6, 58 if v6 else 1))
        units = lambda most: 8 * rng.randrange(1, most // 8 + 1)
        kind = rng.random()
        if kind < 0.3:  # the first fragment of a datagram that never completes
            out.append(make(source, dest, ident, 0, True, rng.randbytes(units(1400)), proto))
        elif kind < 0.5:  # a middle fragment
            out.append(make(source, dest, ident, units(60000), True, rng.randbytes(units(1400)), proto))
        elif kind < 0.65:  # a last fragment
            out.append(make(source, dest, ident, units(60000), False, rng.randbytes(rng.randrange(1, 1400)), proto))
        elif kind < 0.8:  # tiny pieces of one datagram per source
            out.append(make(source, dest, 7, units(60000), True, rng.randbytes(8), proto))
        else:  # two fragments that overlap
            out.append(make(source, dest, ident, 0, True, rng.randbytes(64), proto))
            out.append(make(source, dest, ident, 32, True, rng.randbytes(64), proto))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ifname")
    parser.add_argument("dest4")
    parser.add_argument("dest6")
    parser.add_argument("seconds", type=float)
    parser.add_argument("--max-packets", type=int, default=100_000_000)
    parser.add_argument("--distinct", type=int, default=65536, help="distinct packets, built ahead and sent in turn")
    args = parser.parse_args()

    rng = random.Random(1)
    built = packets(rng, socket.inet_aton(args.dest4), ipaddress.IPv6Address(args.dest6).packed, args.distinct)
    targets = [(args.ifname, ETH_P_IPV6 if p[0] >> 4 == 6 else ETH_P_IP) for p in built]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
    sent = 0
    deadline = time.monotonic() + args.seconds
    send = s.sendto
    while sent < args.max_packets and time.monotonic() < deadline:
        for k in range(4096):
            i = (sent + k) % len(built)
            try:
                send(built[i], targets[i])
            except OSError:
                pass
        sent += 4096
    print(sent, flush=True)


if __name__ == "__main__":
    main()
