#!/usr/bin/env python3
"""SYN flood from spoofed sources, for `tcpstack bench --flood`.

Sends TCP SYNs to DEST:PORT from random addresses in SOURCE_NET (a /16) and random ports,
as fast as one core allows, for at most SECONDS and at most MAX_PACKETS. Run it only in a
network namespace of its own with no route out and forwarding off: replies to the spoofed
sources then die there. Prints the number sent.
"""
import argparse
import random
import socket
import struct
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn(source: bytes, dest: bytes, sport: int, dport: int, seq: int) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = source + dest + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, socket.IPPROTO_TCP, 0, source, dest)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest")
    parser.add_argument("port", type=int)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--source-net", default="10.200.0.0", help="spoofed sources: this /16")
    parser.add_argument("--max-packets", type=int, default=50_000_000)
    parser.add_argument("--distinct", type=int, default=65536, help="distinct SYNs, built ahead and sent in turn")
    args = parser.parse_args()

    dest = socket.inet_aton(args.dest)
    net = socket.inet_aton(args.source_net)[:2]
    rng = random.Random(1)
    packets = [
        syn(net + bytes([rng.randrange(256), rng.randrange(1, 255)]), dest, rng.randrange(1024, 65536), args.port, rng.getrandbits(32))
        for _ in range(args.distinct)
    ]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    target = (args.dest, 0)
    batches = [packets[k:k + 4096] for k in range(0, len(packets), 4096)]
    sent = 0
    deadline = time.monotonic() + args.seconds
    send = s.sendto
    while sent < args.max_packets and time.monotonic() < deadline:
        for p in batches[(sent // 4096) % len(batches)]:
            try:
                send(p, target)
            except OSError:
                pass
        sent += 4096
    print(sent, flush=True)


if __name__ == "__main__":
    main()
