#!/usr/bin/env python3
"""A tiny DNS server for the filtered network's tests, on a loopback address.

    dns_server.py ADDR LOG [--silent] [NAME=IPV4 ...]

Answers A queries for the NAMEs given (case-insensitive, exact), an empty
answer (NODATA) for their other types, NXDOMAIN for every other name; with
--silent it reads queries and never answers (a resolver that is down).
Every query name is appended to LOG, one a line, as it came on the wire.
"""
import socket
import struct
import sys


def qname(msg, off):
    labels = []
    while True:
        n = msg[off]
        off += 1
        if n == 0:
            return ".".join(labels), off
        if n & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(msg[off:off + n].decode("latin-1"))
        off += n


def main():
    addr, log = sys.argv[1], sys.argv[2]
    silent = "--silent" in sys.argv[3:]
    table = {}
    for arg in sys.argv[3:]:
        if "=" in arg:
            name, ip = arg.split("=", 1)
            table[name.lower()] = socket.inet_aton(ip)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    while True:
        msg, peer = s.recvfrom(4096)
        try:
            qid, flags, qd = struct.unpack(">HHH", msg[:6])
            name, end = qname(msg, 12)
            qtype = struct.unpack(">H", msg[end:end + 2])[0]
        except (ValueError, IndexError, struct.error):
            continue
        with open(log, "a") as f:
            f.write(name + "\n")
        if silent:
            continue
        question = msg[12:end + 4]
        ip = table.get(name.lower())
        rcode = 3 if ip is None else 0
        answers = b""
        if ip is not None and qtype == 1:
            answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + ip
        head = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1,
                           1 if answers else 0, 0, 0)
        s.sendto(head + question + answers, peer)


if __name__ == "__main__":
    main()
