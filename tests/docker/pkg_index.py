#!/usr/bin/env python3
"""A PEP 503 simple index on the host's loopback, for the package tests.

Builds tiny pure-Python wheels by hand (a wheel is a zip with a
.dist-info: METADATA, WHEEL, RECORD) and serves them at
http://127.0.0.1:PORT/simple/. Prints the port on stdout, then serves
until its stdin closes (the test holds the other end), so it never
outlives the test. Each package's module has VALUE = "<name> <version>".
"""
import base64
import hashlib
import http.server
import os
import sys
import tempfile
import threading
import zipfile

WHEELS = [("isol8probe", "1.0"), ("isol8probe", "2.0"), ("isol8extra", "1.0")]


def digest(data):
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel(outdir, name, version):
    fn = f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f'VALUE = "{name} {version}"\n',
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: isol8-test\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    path = os.path.join(outdir, fn)
    with zipfile.ZipFile(path, "w") as z:
        for arc, text in files.items():
            data = text.encode()
            z.writestr(arc, data)
            record.append(f"{arc},sha256={digest(data)},{len(data)}")
        record.append(f"{info}/RECORD,,")
        z.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    with open(path, "rb") as f:
        return fn, hashlib.sha256(f.read()).hexdigest()


def main():
    root = tempfile.mkdtemp(prefix="isol8-pkg-index.")
    os.makedirs(os.path.join(root, "files"))
    links = {}
    for name, version in WHEELS:
        fn, sha = wheel(os.path.join(root, "files"), name, version)
        links.setdefault(name, []).append(f'<a href="/files/{fn}#sha256={sha}">{fn}</a>')
    os.makedirs(os.path.join(root, "simple"))
    with open(os.path.join(root, "simple", "index.html"), "w") as f:
        f.write("".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in links))
    for name, anchors in links.items():
        os.makedirs(os.path.join(root, "simple", name))
        with open(os.path.join(root, "simple", name, "index.html"), "w") as f:
            f.write("<!DOCTYPE html><html><body>\n" + "\n".join(anchors) + "\n</body></html>\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(srv.server_address[1], flush=True)
    sys.stdin.read()
    srv.shutdown()


main()
