#!/usr/bin/env python3
"""A lenient HTTP/1.1 server for the filtered network's tests.

    http_server.py ADDR PORT LOG

Answers every request on a connection with `host=<its Host field>` and
keeps the connection open whatever the request says (a server that
ignores `Connection: close`), so that only the proxy stands between a
second request on a connection and this server. Appends
`<request line> host=<Host>` to LOG for every request it gets.
"""
import socket
import sys
import threading


def serve(conn, log):
    buf = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            host, length = b"", 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"host":
                    host = value.strip()
                elif name.lower() == b"content-length":
                    length = int(value)
            while len(buf) < length:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            buf = buf[length:]
            with open(log, "ab") as f:
                f.write(lines[0] + b" host=" + host + b"\n")
            body = b"host=" + host + b"\n"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                         b"Connection: keep-alive\r\n\r\n" % len(body) + body)


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(sys.argv[2])))
    s.listen(64)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, sys.argv[3]),
                         daemon=True).start()


if __name__ == "__main__":
    main()
