#!/bin/sh
# isol8 run --host against a real `isol8 serve` on loopback: the same bytes
# on stdout and stderr and the same exit status as the same run made
# locally (output, a failing exit, timeout, memory limit, piped stdin,
# --out, --no-stream, --json's fields, secrets masked, bytes that are not
# UTF-8, --workdir, a batch job's argv and workdir); refusals (401 wrong
# key, 403 over a ceiling) are 2 with the status; no server is 3; Ctrl-C
# mid-run cancels it and the server frees its container; `session ls/rm
# --host` see and remove the key's sessions; the configuration's
# remote.host and remote.key (and the flag and environment over them); a
# quiet run longer than --stall-timeout lives on the server's heartbeats.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null && command -v python3 >/dev/null || {
	echo "1..0 # SKIP curl and python3 are needed"
	exit 77
}

KEY=r-$$-secret
SMALL=s-$$-secret
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
{
	printf 'main %s\n' "$(hash "$KEY")"
	printf 'small %s memory=256m\n' "$(hash "$SMALL")"
} >keys
# A heartbeat every 200 ms: a quiet run outlives a 1 s stall bound.
printf '{"pool":{"idleMs":15000},"server":{"heartbeatMs":200}}\n' \
	>isol8.config.json
# The server never outlives the test (timeout(1) if the test is killed;
# --foreground: a TERM reaches the server once, not also as its group's).
timeout --foreground 900 "$ISOL8" serve --listen 127.0.0.1:0 --keys keys \
	>"$work/serve.out" 2>"$work/serve.err" &
spid=$!
trap 'kill -TERM $spid 2>/dev/null; rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM
i=0
while [ $i -lt 100 ] && ! grep -q listening "$work/serve.err"; do
	sleep 0.1
	i=$((i + 1))
done
port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' \
	"$work/serve.err" | head -1)
HOST=http://127.0.0.1:$port
[ -n "$port" ] || {
	fail "the server starts" "$(cat "$work/serve.err")"
	finish
	exit 1
}

# one WHERE IN ARGS...: isol8 run, stdin from IN; WHERE.out, .err, .rc.
one() {
	where=$1 in=$2
	shift 2
	"$ISOL8" run "$@" >"$work/$where.out" 2>"$work/$where.err" <"$in"
	echo $? >"$work/$where.rc"
}
# same DESC IN ARGS...: local and remote give the same bytes and status.
same() {
	desc=$1 in=$2
	shift 2
	one local "$in" "$@"
	one remote "$in" --host "$HOST" --key "$KEY" "$@"
	if cmp -s "$work/local.out" "$work/remote.out" &&
		cmp -s "$work/local.err" "$work/remote.err" &&
		cmp -s "$work/local.rc" "$work/remote.rc"; then
		pass "$desc (exit $(cat "$work/local.rc"))"
	else
		fail "$desc" "local rc=$(cat "$work/local.rc") remote rc=$(cat "$work/remote.rc")" \
			"local stdout: $(head -c 200 "$work/local.out" | od -c | head -3)" \
			"remote stdout: $(head -c 200 "$work/remote.out" | od -c | head -3)" \
			"local stderr: $(head -c 300 "$work/local.err")" \
			"remote stderr: $(head -c 300 "$work/remote.err")"
	fi
}

same "plain output" /dev/null -r python -e 'print("hello")'
same "stdout, stderr and a failing exit" /dev/null -r bash \
	-e 'echo out; echo err >&2; exit 3'
same "bytes that are not UTF-8, and a NUL" /dev/null -r bash \
	-e 'printf "a\377\000b\n"; printf "\351\n" >&2'
same "timeout: 124 and its note" /dev/null -r python --timeout 1s \
	-e 'import time; print("before", flush=True); time.sleep(20)'
same "memory limit: 137 and its note" /dev/null -r python --memory 64m \
	-e "x = 'a' * (256 << 20)"
same "output limit: 141" /dev/null -r python --max-output 1k \
	-e 'print("x" * 100000)'
printf 'line one\nline two\n' >"$work/in"
same "a piped stdin" "$work/in" -r python \
	-e 'import sys; print(sys.stdin.read().upper(), end="")'
same "--stdin DATA" /dev/null -r bash --stdin 'abc' -e 'cat; echo'
same "secrets masked" /dev/null -r python --secret TOKEN=s3cr3t-$$ \
	-e 'import os; print("t=" + os.environ["TOKEN"])'
same "--no-stream" /dev/null --no-stream -r bash \
	-e 'echo a; echo b >&2; echo c'
same "--env and a file" /dev/null -r bash --env A=1 -e 'echo "A=$A"'
mkdir -p "$work/proj/sub/deeper"
printf 'data\n' >"$work/proj/sub/f.txt"
same "--workdir (relative, resolved) with --files" /dev/null -r bash \
	--files "$work/proj" --workdir sub/deeper/.. -e 'pwd; cat f.txt'
same "--workdir that does not exist: 126 and its note" /dev/null -r python \
	--workdir /sandbox/nowhere -e 'print(1)'
same "--workdir outside /sandbox: 2 before anything runs" /dev/null \
	-r bash --workdir ../etc -e 'pwd'
same "--log-network: the filtered network's decisions" /dev/null -r python \
	--net filtered --allow '^allowed\.invalid$' --log-network -e '
import urllib.request
try:
    urllib.request.urlopen("http://blocked.invalid/", timeout=10)
except Exception as e:
    print("refused:", getattr(e, "code", e))'
out=$(cat "$work/remote.out") err=$(cat "$work/remote.err") rc=$(cat "$work/remote.rc")
expect "--log-network over remote: the refusal is reported" \
	'[ "$rc" = 0 ] && echo "$out" | grep -q "refused: 403" && echo "$err" | grep -q "blocked.invalid"'

# --out: the same file.
one local /dev/null --out "$work/o.local" -r bash -e 'echo to-file'
one remote /dev/null --out "$work/o.remote" --host "$HOST" --key "$KEY" \
	-r bash -e 'echo to-file'
out=$(cat "$work/o.remote") err= rc=$(cat "$work/remote.rc")
expect "--out writes the same file" \
	'cmp -s "$work/o.local" "$work/o.remote" && [ "$out" = to-file ]'

# --json: the same fields, the same output in them.
one local /dev/null --json -r bash -e 'echo j; exit 2'
one remote /dev/null --json --host "$HOST" --key "$KEY" -r bash \
	-e 'echo j; exit 2'
fields() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sorted(d), d["stdout"], d["stderr"], d["exitCode"], d["timedOut"], d["error"])' "$1"
}
out=$(fields "$work/remote.out") err=$(fields "$work/local.out") rc=
expect "--json: the same fields and values" \
	'[ -n "$out" ] && [ "$out" = "$err" ] && cmp -s "$work/local.rc" "$work/remote.rc"'

# Refusals: the status said, exit 2.
run --host "$HOST" --key wrong-key -r python -e 'print(1)'
expect "a wrong key: 401, exit 2" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "answered 401" && ! echo "$err" | grep -q wrong-key'
run --host "$HOST" --key "$SMALL" --memory 1g -r python -e 'print(1)'
expect "over a key's ceiling: 403 naming it, exit 2" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "answered 403" && echo "$err" | grep -q memory'
run --host "$HOST/" --key "$SMALL" --memory 128m -r python -e 'print(1)'
expect "within the ceiling (and a URL ending in /): it runs" \
	'[ "$rc" = 0 ] && [ "$out" = 1 ]'

# Sessions: the key's own on the server, listed and removed with --host.
sess=rs-$$
run --host "$HOST" --key "$KEY" -r bash --session "$sess" -e 'echo kept >f; cat f'
expect "a run in a session on the server" '[ "$rc" = 0 ] && [ "$out" = kept ]'
out=$("$ISOL8" session ls --json --host "$HOST" --key "$KEY" 2>"$work/err")
rc=$? err=$(cat "$work/err")
expect "session ls --host lists it" \
	'[ "$rc" = 0 ] && printf %s "$out" | grep -q "\"name\":\"$sess\""'
out=$("$ISOL8" session ls --json --host "$HOST" --key "$SMALL" 2>"$work/err")
rc=$? err=$(cat "$work/err")
expect "another key does not see it" \
	'[ "$rc" = 0 ] && ! printf %s "$out" | grep -q "$sess"'
out=$("$ISOL8" session list --json --host "$HOST" --key "$KEY" 2>"$work/err")
rc=$? err=$(cat "$work/err")
expect "session list (the original's name) is ls" \
	'[ "$rc" = 0 ] && printf %s "$out" | grep -q "\"name\":\"$sess\""'
out=$(ISOL8_HOST=$HOST ISOL8_API_KEY=$KEY "$ISOL8" session stop "$sess" 2>"$work/err")
rc=$? err=$(cat "$work/err")
expect "session stop (the original's rm; ISOL8_HOST, ISOL8_API_KEY) removes it" \
	'[ "$rc" = 0 ] && [ "$out" = "removed session $sess" ]'
out=$("$ISOL8" session rm "$sess" --host "$HOST" --key "$KEY" 2>"$work/err")
rc=$? err=$(cat "$work/err")
expect "removing it again: 404, exit 1" \
	'[ "$rc" = 1 ] && echo "$err" | grep -q "answered 404"'

# batch_same JOBS PY: the job list locally and with --host; $rc (remote's)
# and $out, PY's print over l and r, the two lists of results as (id,
# stdout, stderr, exitCode, error).
batch_same() {
	"$ISOL8" batch -q --order input "$1" >"$work/local.jsonl" 2>/dev/null
	"$ISOL8" batch -q --order input --host "$HOST" --key "$KEY" "$1" \
		>"$work/remote.jsonl" 2>"$work/err"
	rc=$? err=$(cat "$work/err")
	out=$(python3 -c '
import json, sys
def load(p):
    return [(r["id"], r.get("stdout"), r.get("stderr"), r.get("exitCode"), r.get("error")) for r in map(json.loads, open(p))]
l, r = load(sys.argv[1]), load(sys.argv[2])
'"$2" "$work/local.jsonl" "$work/remote.jsonl")
}

# batch --host: the jobs run on the server, the results are the local ones.
printf '%s\n' '{"id":"a","runtime":"python","code":"print(6*7)"}' \
	'{"id":"b","runtime":"bash","cmd":"echo err >&2; exit 3"}' \
	'{"id":"c","cmd":"cat","stdin":"in"}' >"$work/jobs.jsonl"
batch_same "$work/jobs.jsonl" 'print(len(r), l == r)'
expect "batch --host: the same results as local ($out)" \
	'[ "$rc" = 0 ] && [ "$out" = "3 True" ]'
# argv and workdir in job lines: the same results on the server.
printf '%s\n' \
	'{"id":"v1","runtime":"python","argv":["python3","-c","import os,sys; print(sys.argv[1:], os.getcwd(), open(\"x\").read())","a b",""],"workdir":"w","files":{"w/x":"in w"}}' \
	'{"id":"v2","runtime":"bash","argv":["sh","-c","echo out; echo err >&2; exit 4"]}' \
	'{"id":"v3","runtime":"bash","argv":["pwd"],"workdir":"/sandbox/none"}' \
	'{"id":"v4","runtime":"bash","argv":["pwd"],"workdir":"/sandbox/../etc"}' \
	>"$work/argv.jsonl"
batch_same "$work/argv.jsonl" \
	'print(len(r), l == r, r[0][1].strip().replace("\x27", ""), r[1][3], r[2][3], bool(r[3][4]))'
expect "batch --host, argv and workdir: the same results as local ($out)" \
	'[ "$rc" = 1 ] && [ "$out" = "4 True [a b, ] /sandbox/w in w 4 126 True" ]'
"$ISOL8" batch -q --host "$HOST" "$work/jobs.jsonl" >/dev/null 2>"$work/err"
rc=$? err=$(cat "$work/err")
expect "batch --host without a key: exit 2" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "API key required"'

# The configuration's remote.host and remote.key: the same run, on the
# server (its session is the key's there); the flag and the environment
# over the file.
mkdir "$work/cfg"
printf '{"remote":{"host":"%s","key":"%s"}}\n' "$HOST" "$KEY" \
	>"$work/cfg/isol8.config.json"
chmod 600 "$work/cfg/isol8.config.json"
csess=rc-$$
out=$(cd "$work/cfg" && "$ISOL8" run -r python --session "$csess" \
	-e 'print("from the file")' 2>"$work/err" </dev/null)
rc=$? err=$(cat "$work/err")
expect "remote.host and remote.key: the run is on the server" \
	'[ "$rc" = 0 ] && [ "$out" = "from the file" ] && [ -z "$err" ]'
out=$("$ISOL8" session ls --json --host "$HOST" --key "$KEY" 2>"$work/err")
rc=$? err=$(cat "$work/err")
expect "... in the key's session there" \
	'[ "$rc" = 0 ] && printf %s "$out" | grep -q "\"name\":\"$csess\""'
out=$(cd "$work/cfg" && "$ISOL8" session rm "$csess" 2>"$work/err")
rc=$? err=$(cat "$work/err")
expect "session rm with the file's remote.host and key removes it" \
	'[ "$rc" = 0 ] && [ "$out" = "removed session $csess" ]'
out=$(cd "$work/cfg" && "$ISOL8" run --key wrong-key -r python \
	-e 'print(1)' 2>"$work/err" </dev/null)
rc=$? err=$(cat "$work/err")
expect "--key over remote.key: a wrong one is 401, exit 2" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "answered 401"'
out=$(cd "$work/cfg" && ISOL8_API_KEY=wrong-key "$ISOL8" run -r python \
	-e 'print(1)' 2>"$work/err" </dev/null)
rc=$? err=$(cat "$work/err")
expect "ISOL8_API_KEY over remote.key: the same" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "answered 401"'
one local /dev/null -r bash -e 'echo same; exit 5'
(cd "$work/cfg" && "$ISOL8" run -r bash -e 'echo same; exit 5' \
	>"$work/remote.out" 2>"$work/remote.err" </dev/null; echo $? >"$work/remote.rc")
out=$(cat "$work/remote.out") err=$(cat "$work/remote.err") rc=$(cat "$work/remote.rc")
expect "the file's server: the same bytes and status as local" \
	'cmp -s "$work/local.out" "$work/remote.out" && cmp -s "$work/local.err" "$work/remote.err" && cmp -s "$work/local.rc" "$work/remote.rc"'

# A run quiet for 3 s with a 1 s stall bound: the server's heartbeats
# (every 200 ms here) keep it alive.
run --host "$HOST" --key "$KEY" --stall-timeout 1s -r python \
	-e 'import time; time.sleep(3); print("after 3 s")'
expect "a quiet run longer than --stall-timeout lives on heartbeats" \
	'[ "$rc" = 0 ] && [ "$out" = "after 3 s" ]'

# Ctrl-C mid-run: 130, and the server frees the container.
"$ISOL8" run --host "$HOST" --key "$KEY" -r python \
	-e 'import socket, time; print(socket.gethostname(), flush=True); time.sleep(60)' \
	>"$work/int.out" 2>"$work/int.err" </dev/null &
cpid=$!
i=0
while [ $i -lt 100 ] && [ ! -s "$work/int.out" ]; do
	sleep 0.1
	i=$((i + 1))
done
cid=$(head -1 "$work/int.out")
kill -INT $cpid
wait $cpid
rc=$?
stops_running "$cid"
out=$cid err=$(cat "$work/int.err")
expect "Ctrl-C mid-run: 130, and the server frees its container" \
	'[ -n "$cid" ] && [ "$rc" = 130 ] && [ $gone = yes ]'

# No server: 3 with a message.
kill -TERM $spid
wait $spid
rc=$? out= err=$(tail -5 "$work/serve.err")
expect "the server stops cleanly" '[ "$rc" = 0 ]'
run --host "$HOST" --key "$KEY" -r python -e 'print(1)'
expect "no server running: exit 3, the server named" \
	'[ "$rc" = 3 ] && echo "$err" | grep -q "cannot reach the isol8 server at $HOST"'
finish
