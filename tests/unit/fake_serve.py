#!/usr/bin/env python3
"""A stand-in for `isol8 serve` on 127.0.0.1, for the client's tests that
need no Docker (cli_remote.sh). Usage: fake_serve.py MODE DIR; the port it
listens on goes to DIR/port, and it ends by itself after LIFE seconds.

  silent  take connections and say nothing (nobody reads or answers)
  stall   answer a run with `start` and some output, then say nothing
  echo    answer a run with the Authorization header it got as stdout and
          exit 0; each request's body is written to DIR/body
"""
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LIFE = 120
mode, folder = sys.argv[1], sys.argv[2]


def announce(port):
    with open(folder + "/port.tmp", "w") as f:
        f.write(str(port))
    os.rename(folder + "/port.tmp", folder + "/port")


def event(name, data):
    return ("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection does

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(folder + "/body", "wb") as f:
            f.write(body)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(event("start", {"run": "1"}))
        if mode == "stall":
            self.wfile.write(event("stdout", {"data": "so far\n"}))
            self.wfile.flush()
            time.sleep(LIFE)
            return
        auth = self.headers.get("Authorization", "(none)")
        self.wfile.write(event("stdout", {"data": auth + "\n"}))
        self.wfile.write(event("exit", {"exitCode": 0, "error": None}))


def silent():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    announce(s.getsockname()[1])
    held = []

    def take():
        while True:
            held.append(s.accept()[0])

    threading.Thread(target=take, daemon=True).start()
    time.sleep(LIFE)


if mode == "silent":
    silent()
else:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    announce(srv.server_address[1])
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    time.sleep(LIFE)
