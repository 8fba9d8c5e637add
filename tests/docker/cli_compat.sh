#!/bin/sh
# What a user of the original isol8 relies on (docs/compat.md), end to
# end: a caller that reads our output to its end and only then waits for
# our exit finds both (the warm pool's refill child lets go of stdio
# before we exit); --no-stream; --debug; --setup (one-use: a prelude that
# leaves the program exactly as without it; in a session: a run of its
# own); --workdir; --session-id; --persist; code from --url, --github and
# --gist, fetched from a server on the loopback under remoteCode's policy.
. "$(dirname "$0")/lib.sh"

# A pool key of our own (a distinct memory size): its refill follows each
# run, so every run below exits while the refill is still going.
held=$(python3 - "$ISOL8" <<'PY'
import fcntl, os, subprocess, sys
held = 0
for i in range(12):
    p = subprocess.Popen([sys.argv[1], "run", "--memory", "201m", "-e",
                          "print(1)"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.wait()
    for f in (p.stdout, p.stderr):
        fcntl.fcntl(f.fileno(), fcntl.F_SETFL, os.O_NONBLOCK)
        try:
            while os.read(f.fileno(), 65536):
                pass
        except BlockingIOError:  # no EOF: a writer is still open
            held += 1
            break
print(held)
PY
)
expect "after our exit, no process holds the caller's stdout/stderr (held in $held of 12 runs)" \
	'[ "$held" = 0 ]'

# --no-stream: the output held and printed at the end, stdout then stderr;
# the program's status; --out gets that stdout.
run -e 'import sys; print(1); sys.stderr.write("e1\n"); print(2); sys.exit(3)' --no-stream --out "$work/o.txt"
expect "--no-stream: stdout and stderr whole, the program's status" \
	'[ "$rc" = 3 ] && [ "$out" = "$(printf "1\n2")" ] && [ "$err" = e1 ] && [ "$(cat "$work/o.txt")" = "$(printf "1\n2")" ]'
run -e 'print("x" * 5000)' --no-stream --max-output 1k
expect "--no-stream with --max-output: what fits, then the note, 141" \
	'[ "$rc" = 141 ] && [ ${#out} = 1024 ] && echo "$err" | grep -q "output truncated"'

# --debug: the CLI's and the engine's lines on stderr, stdout the program's.
run -e 'print("debug-test")' --debug
expect "run --debug: [DEBUG] lines on stderr, stdout untouched" \
	'[ "$rc" = 0 ] && [ "$out" = debug-test ] && echo "$err" | grep -q "^\[DEBUG\] \[Run\] Runtime: python" && echo "$err" | grep -q "^\[DEBUG\] run .*running -> done"'
"$ISOL8" --debug run -e 'print(1)' >"$work/out" 2>"$work/err"
rc=$?
expect "isol8 --debug run: the same" \
	'[ "$rc" = 0 ] && grep -q "^\[DEBUG\] \[CLI\] Command: run" "$work/err"'

# --setup: before the code, in the same container, in /sandbox.
run -e "print(open('/sandbox/hello.txt').read().strip())" --setup 'echo hello > /sandbox/hello.txt'
expect "--setup runs before the code, in its container" '[ "$rc" = 0 ] && [ "$out" = hello ]'
run -e "import os; print(os.path.isfile('/sandbox/d/f'))" --setup 'mkdir -p /sandbox/d' --setup 'touch /sandbox/d/f'
expect "--setup twice: one script, in order" '[ "$rc" = 0 ] && [ "$out" = True ]'
printf 'echo from-file > /sandbox/ff.txt\necho two >> /sandbox/ff.txt\n' >"$work/setup.sh"
run -e "print(open('/sandbox/ff.txt').read().split())" --setup "$work/setup.sh"
expect "--setup FILE: the file's text" '[ "$rc" = 0 ] && [ "$out" = "['"'"'from-file'"'"', '"'"'two'"'"']" ]'
run -e 'print("ran")' --setup 'echo out-of-setup; exit 3'
expect "a failed setup: the code does not run, status 1, said" \
	'[ "$rc" = 1 ] && [ "$out" = out-of-setup ] && echo "$err" | grep -q "Setup script failed (exit code 3)"'
# The program cannot tell a setup was there: argv, file, cwd, environment,
# /sandbox and /tmp/.isol8, stdin (its pid is later: the setup ran first).
probe='import os, sys
print(sys.argv, os.getcwd(), sorted(os.environ.items()))
print(sorted(os.listdir("/sandbox")), sorted(os.listdir("/tmp/.isol8")), sys.stdin.read())'
for r in python node bash; do
	case $r in
	node) p='import fs from "fs"; console.log(process.argv.slice(1), process.cwd(), JSON.stringify(Object.entries(process.env).sort()), fs.readdirSync("/sandbox"), fs.readdirSync("/tmp/.isol8"), fs.readFileSync(0, "utf8"))' ;;
	bash) p='echo "$0 $* $PWD"; env | sort; ls -A /sandbox /tmp/.isol8; cat' ;;
	*) p=$probe ;;
	esac
	echo data | "$ISOL8" run -r $r --env A=1 --secret S=s3 -e "$p" >"$work/plain" 2>&1
	echo data | "$ISOL8" run -r $r --env A=1 --secret S=s3 -e "$p" --setup 'echo >/dev/null' >"$work/setup" 2>&1
	out=$(diff "$work/plain" "$work/setup")
	expect "$r: the program sees the same with --setup as without" \
		'[ -z "$out" ] && grep -q data "$work/plain"'
done
printf 'console.log(typeof require)\n' >"$work/m.cjs"
run "$work/m.cjs" --setup true
expect ".cjs stays CommonJS with --setup" '[ "$rc" = 0 ] && [ "$out" = function ]'
run --cmd 'echo "$SHLVL $PWD"' --env SHLVL=7
plain=$out
run --cmd 'echo "$SHLVL $PWD"' --setup true --env SHLVL=7
expect "--cmd with --setup, a variable bash changes set by the run ($plain)" \
	'[ "$rc" = 0 ] && [ "$out" = "$plain" ] && [ "$out" = "8 /sandbox" ]'

# --workdir: inside /sandbox; the setup can make it.
run -e 'import os; print(os.getcwd())' --setup 'mkdir -p /sandbox/project' --workdir /sandbox/project
expect "--workdir after the setup that makes it" '[ "$rc" = 0 ] && [ "$out" = /sandbox/project ]'
run -e 'import os; print(os.getcwd())' --workdir /sandbox
expect "--workdir /sandbox" '[ "$rc" = 0 ] && [ "$out" = /sandbox ]'
run --cmd 'pwd' --files "$work" --workdir /sandbox/../sandbox/./
expect "--workdir resolved (.., .)" '[ "$rc" = 0 ] && [ "$out" = /sandbox ]'
run -e 'print(1)' --workdir /etc
expect "--workdir /etc: refused before anything runs (2)" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "Working directory must be inside /sandbox"'
run -e 'print(1)' --workdir ../x
expect "--workdir ../x: refused" '[ "$rc" = 2 ] && echo "$err" | grep -q "must be inside /sandbox"'
run -e 'print(1)' --workdir /sandbox/none
expect "--workdir that does not exist: 126, said" '[ "$rc" = 126 ] && echo "$err" | grep -q "cannot enter"'

# Sessions: --session-id is --session; the setup a run of its own.
s=compat-$$
run --session-id $s -e 'x = 41; print(open("/sandbox/s.txt").read().strip())' --setup 'echo in-session > /sandbox/s.txt'
expect "--session-id with --setup: the setup's run, then the code's" '[ "$rc" = 0 ] && [ "$out" = in-session ]'
run --session $s -e 'print(x + 1)'
expect "... in the session's interpreter (variables kept)" '[ "$rc" = 0 ] && [ "$out" = 42 ]'
run --session $s -e 'print("no")' --setup 'exit 4'
expect "a failed setup in a session: the code does not run, 1" \
	'[ "$rc" = 1 ] && [ -z "$out" ] && echo "$err" | grep -q "exit code 4"'
run --session $s -e 'print(x + 2)'
expect "... and the session lives on" '[ "$rc" = 0 ] && [ "$out" = 43 ]'
"$ISOL8" session rm $s >/dev/null 2>&1

# --persist: the container kept as a session named after the run.
run -e 'open("/sandbox/kept", "w").write("yes")' --persist
name=$(printf '%s\n' "$err" | sed -n 's/.*kept as session `\([^`]*\)`.*/\1/p')
expect "--persist: said which session keeps it" '[ "$rc" = 0 ] && [ -n "$name" ]'
run --session "$name" --cmd 'cat /sandbox/kept'
expect "... and it is there, with the run's files" '[ "$rc" = 0 ] && [ "$out" = yes ]'
"$ISOL8" session rm "$name" >/dev/null 2>&1

# Code from a URL: a server on the loopback, remoteCode's policy.
mkdir -p www/gh/o/r/main/d www/gist/g1/raw
printf 'print("from-url")\n' >www/code.py
cp www/code.py www/gh/o/r/main/d/x.py
printf 'console.log("gist-js")\n' >www/gist/g1/raw/f.js
head -c 20000 /dev/zero | tr '\0' '#' >www/big.py
cat >srv.py <<'PY'
import http.server, os, sys
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/redir/"):
            self.send_response(302)
            self.send_header("Location", self.path[6:])
            self.end_headers()
        elif self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", "/loop.py")
            self.end_headers()
        else:
            super().do_GET()
    def log_message(self, *a):
        pass
os.chdir(sys.argv[1])
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_port, flush=True)
s.serve_forever()
PY
python3 srv.py "$work/www" >port.txt &
srv=$!
i=0
while [ ! -s port.txt ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat port.txt)
base=http://127.0.0.1:$port
hash=$(sha256sum www/code.py | cut -d' ' -f1)
run --url $base/code.py --allow-insecure-code-url
expect "--url: off unless remoteCode.enabled (2, said)" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "remote code fetching is disabled"'
printf '{"pool":{"idleMs":15000},"remoteCode":{"enabled":true,"allowedSchemes":["http"]}}\n' >isol8.config.json
run --url $base/code.py --allow-insecure-code-url
expect "--url to the loopback: blocked by the default blockedHosts" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "blocked code URL host \`127.0.0.1\`"'
printf '{"pool":{"idleMs":15000},"remoteCode":{"enabled":true,"allowedSchemes":["http"],"blockedHosts":[]}}\n' >isol8.config.json
run --url http://localhost:$port/code.py --allow-insecure-code-url
expect "... and, the patterns gone, by its address (allowPrivate)" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "not fetched from a private"'
cat >isol8.config.json <<J
{"pool":{"idleMs":15000},"remoteCode":{"enabled":true,
"allowedSchemes":["http"],"blockedHosts":[],"allowPrivate":true,
"maxCodeSize":"16k","githubBaseUrl":"$base/gh","gistBaseUrl":"$base/gist"}}
J
run --url $base/code.py
expect "http:// needs --allow-insecure-code-url" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "allow-insecure-code-url"'
run --url $base/code.py --allow-insecure-code-url --hash "$hash"
expect "--url with its --hash: fetched and run" '[ "$rc" = 0 ] && [ "$out" = from-url ]'
run --url $base/code.py --allow-insecure-code-url --hash "$(echo "$hash" | tr 0-9a-f 1-9a-f0)"
expect "a wrong --hash: not run (2, said)" '[ "$rc" = 2 ] && [ -z "$out" ] && echo "$err" | grep -q "does not match --hash"'
run --github o/r/main/d/x.py --allow-insecure-code-url
expect "--github owner/repo/ref/path through githubBaseUrl" '[ "$rc" = 0 ] && [ "$out" = from-url ]'
run --gist g1/f.js --allow-insecure-code-url
expect "--gist id/file through gistBaseUrl (runtime from .js)" '[ "$rc" = 0 ] && [ "$out" = gist-js ]'
run --url $base/big.py --allow-insecure-code-url
expect "over maxCodeSize: stopped, not run" '[ "$rc" = 2 ] && echo "$err" | grep -q "over remoteCode.maxCodeSize"'
run --url $base/none.py --allow-insecure-code-url
expect "HTTP 404: said" '[ "$rc" = 2 ] && echo "$err" | grep -q "HTTP 404"'
run --url $base/redir/code.py --allow-insecure-code-url
expect "a redirect, followed (checked again)" '[ "$rc" = 0 ] && [ "$out" = from-url ]'
run --url $base/loop.py --allow-insecure-code-url
expect "a redirect loop: at most 5" '[ "$rc" = 2 ] && echo "$err" | grep -q "more than 5 redirects"'
echo piped | "$ISOL8" run --url $base/code.py --allow-insecure-code-url --setup 'echo set' >"$work/out" 2>"$work/err"
rc=$?
out=$(cat "$work/out")
expect "--url with --setup" '[ "$rc" = 0 ] && [ "$out" = "$(printf "set\nfrom-url")" ]'
kill $srv 2>/dev/null
default_config

finish
