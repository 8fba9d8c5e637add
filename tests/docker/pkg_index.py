#!/usr/bin/env python3
"""A PEP 503 simple index on the host's loopback, for the package tests.

Builds tiny pure-Python wheels by hand (a wheel is a zip with a
.dist-info: METADATA, WHEEL, RECORD) and serves them at
http://127.0.0.1:PORT/simple/. Prints the port on stdout, then serves
until its stdin closes (the test holds the other end), so it never
outlives the test. Each package's module has VALUE = "<name> <version>".

It is also an npm registry at http://127.0.0.1:PORT/npm/ with the
packages of NPMS (metadata documents and tarballs made here); each
exports { value: "<name> <version>" }.
"""
import base64
import hashlib
import http.server
import os
import shutil
import sys
import tempfile
import threading
import zipfile

WHEELS = [("isol8probe", "1.0"), ("isol8probe", "2.0"), ("isol8extra", "1.0")]
NPMS = [("isol8-probe", "1.0.0"), ("isol8-probe", "2.0.0")]


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


def npm_tarball(name, version):
    import io
    import json
    import tarfile

    files = {
        "package/package.json": json.dumps({"name": name, "version": version, "main": "index.js"}),
        "package/index.js": f'module.exports = {{ value: "{name} {version}" }};\n',
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as t:
        for arc, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(arc)
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def npm_registry(root, port):
    import json

    docs = {}
    for name, version in NPMS:
        data = npm_tarball(name, version)
        fn = f"{name}-{version}.tgz"
        os.makedirs(os.path.join(root, "npm", name, "-"), exist_ok=True)
        with open(os.path.join(root, "npm", name, "-", fn), "wb") as f:
            f.write(data)
        doc = docs.setdefault(name, {"name": name, "versions": {}, "dist-tags": {}})
        doc["versions"][version] = {
            "name": name,
            "version": version,
            "main": "index.js",
            "dist": {
                "tarball": f"http://127.0.0.1:{port}/npm/{name}/-/{fn}",
                "shasum": hashlib.sha1(data).hexdigest(),
                "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
            },
        }
        doc["dist-tags"]["latest"] = version
    # A hostile registry's package: its tarball is on another port of the
    # same host, which the installer's proxy must refuse.
    docs["isol8-elsewhere"] = {
        "name": "isol8-elsewhere",
        "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {"name": "isol8-elsewhere", "version": "1.0.0",
                               "dist": {"tarball": f"http://127.0.0.1:{port + 1}/x.tgz"}}},
    }
    for name, doc in docs.items():
        os.makedirs(os.path.join(root, "npm", name), exist_ok=True)
        # The document at /npm/<name>: a directory's index for the server.
        with open(os.path.join(root, "npm", name, "index.html"), "w") as f:
            json.dump(doc, f)


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

        def do_GET(self):
            # npm asks for /npm/<name>: the document, not a redirect.
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) == 2 and parts[0] == "npm":
                doc = os.path.join(root, "npm", parts[1], "index.html")
                if not os.path.exists(doc):
                    self.send_error(404)
                    return
                with open(doc, "rb") as f:
                    data = f.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            super().do_GET()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    npm_registry(root, srv.server_address[1])
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(srv.server_address[1], flush=True)
    sys.stdin.read()
    srv.shutdown()
    shutil.rmtree(root, ignore_errors=True)


main()
