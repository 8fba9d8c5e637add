#!/usr/bin/env python3
"""HTTP clients for tests/docker/serve.sh that curl cannot be: many at once,
slow on purpose, or gone mid-run. Loopback (or the server's Unix socket)
only; every socket has a timeout. Prints one result line per mode; the
shell test checks it.

  serve_client.py streams ADDR KEY N   N concurrent POST /execute/stream, each
                                       printing its own token: "ok N" when
                                       every stream got exactly its own stdout
  serve_client.py slowloris ADDR KEY   a request sent a byte at a time; while
                                       it trickles a normal request is made:
                                       "cut MS normal STATUS"
  serve_client.py vanish ADDR KEY      a long run streamed, the client goes
                                       after its first output: prints the
                                       container id it ran in
ADDR is unix:PATH or HOST:PORT.
"""
import json
import re
import socket
import sys
import threading
import time


def connect(addr):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(120)
        s.connect(addr[5:])
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=120)
    return s


def request(method, path, key, body=b""):
    head = "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n" \
        "Content-Type: application/json\r\nContent-Length: %d\r\n" \
        "Connection: close\r\n\r\n" % (method, path, key, len(body))
    return head.encode() + body


def read_all(s):
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def dechunk(body):
    out = b""
    while body:
        line, _, rest = body.partition(b"\r\n")
        size = int(line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out


def sse_events(raw):
    """The events of an SSE reply: (event, id, data) in order."""
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        body = dechunk(body)
    events = []
    for block in body.decode().split("\n\n"):
        ev, eid, data = None, None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                ev = line[7:]
            elif line.startswith("id: "):
                eid = line[4:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if ev is not None:
            events.append((ev, eid, "\n".join(data)))
    return head, events


def one_stream(addr, key, i, results):
    token = "token-%d-%s" % (i, "x" * (i % 7))
    body = json.dumps({"runtime": "python",
                       "code": "print(%r)" % token}).encode()
    try:
        s = connect(addr)
        s.sendall(request("POST", "/execute/stream", key, body))
        raw = read_all(s)
        s.close()
        head, events = sse_events(raw)
        out = "".join(json.loads(d)["data"] for e, _, d in events
                      if e == "stdout")
        ex = [json.loads(d) for e, _, d in events if e == "exit"]
        ok = (head.startswith(b"HTTP/1.1 200") and out == token + "\n"
              and len(ex) == 1 and ex[0]["exitCode"] == 0)
        results[i] = "ok" if ok else "bad: %r %r" % (out, ex[:1])
    except Exception as exc:  # reported, counted as a failure
        results[i] = "error: %s" % exc


def streams(addr, key, n):
    results = [None] * n
    threads = [threading.Thread(target=one_stream,
                                args=(addr, key, i, results))
               for i in range(n)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    good = sum(1 for r in results if r == "ok")
    for i, r in enumerate(results):
        if r != "ok":
            print("# stream %d: %s" % (i, r))
    print("ok %d of %d in %.1f s" % (good, n, time.time() - t0))


def slowloris(addr, key):
    req = request("GET", "/version", key)
    s = connect(addr)
    t0 = time.time()
    cut = None
    normal = "none"
    for i, b in enumerate(req[:-1]):
        try:
            s.send(bytes([b]))
        except OSError:
            cut = time.time() - t0
            break
        if i == 5:
            # another client meanwhile: answered at once
            n = connect(addr)
            n.sendall(req)
            normal = read_all(n).split(b" ", 2)[1].decode()
            n.close()
        time.sleep(0.2)
        if time.time() - t0 > 60:
            break
    if cut is None:
        # the server may have closed without our write failing yet
        s.settimeout(5)
        try:
            if s.recv(1) == b"":
                cut = time.time() - t0
        except OSError:
            cut = time.time() - t0
    print("cut %s normal %s" % ("never" if cut is None else
                                int(cut * 1000), normal))


def vanish(addr, key):
    code = ("import socket,sys,time\n"
            "print(socket.gethostname(), flush=True)\n"
            "time.sleep(60)\n")
    body = json.dumps({"runtime": "python", "code": code}).encode()
    s = connect(addr)
    s.sendall(request("POST", "/execute/stream", key, body))
    raw = b""
    found = None
    while found is None:
        chunk = s.recv(4096)
        if not chunk:
            break
        raw += chunk
        found = re.search(rb'"data":"([0-9a-f]{12})', raw)
    s.close()
    print(found.group(1).decode() if found else "none")


def main():
    mode, addr, key = sys.argv[1:4]
    if mode == "streams":
        streams(addr, key, int(sys.argv[4]))
    elif mode == "slowloris":
        slowloris(addr, key)
    elif mode == "vanish":
        vanish(addr, key)


if __name__ == "__main__":
    main()
