#!/bin/sh
# isol8 serve against the real dockerd: every endpoint over real HTTP on
# loopback and a Unix socket; auth and ceilings; sessions per key; bad
# requests; slow, vanishing and many clients; TLS; SIGTERM's drain.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
client="python3 $here/serve_client.py"
command -v curl >/dev/null && command -v python3 >/dev/null || {
	echo "1..0 # SKIP curl and python3 are needed"
	exit 77
}

KEY=k-$$-secret
OTHER=o-$$-secret
TWO=t-$$-secret
sock=$work/s.sock
printf '{"pool":{"idleMs":15000},"server":{"requestTimeoutMs":2000}}\n' \
	>isol8.config.json
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
{
	printf 'main %s\n' "$(hash "$KEY")"
	printf 'small %s memory=256m runtimes=python,bash network=none ' \
		"$(hash "$OTHER")"
	printf 'sessions=0 timeout=20s\n'
	printf 'two-%s %s sessions=2\n' $$ "$(hash "$TWO")"
} >keys

# start ARGS...: a server in the background; $pid, $port (its TCP port).
# It never outlives the test: stopped at exit, and bounded by timeout(1)
# when the test itself is killed (--foreground: a TERM reaches it once).
pid=
trap 'kill -TERM $pid 2>/dev/null; rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM
start() {
	timeout --foreground 900 "$ISOL8" serve --listen 127.0.0.1:0 --unix "$sock" "$@" \
		>"$work/serve.out" 2>"$work/serve.err" &
	pid=$!
	i=0
	while [ $i -lt 100 ] && ! grep -q unix: "$work/serve.err"; do
		sleep 0.1
		i=$((i + 1))
	done
	port=$(sed -n 's|.*listening on https*://127.0.0.1:\([0-9]*\).*|\1|p' \
		"$work/serve.err" | head -1)
}
stop() {
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	src=$?
}

# req METHOD PATH [KEY [BODY]]: $code, $body (over the Unix socket).
req() {
	if [ -n "${3:-}" ]; then auth="Authorization: Bearer $3"; else auth="X-None: 1"; fi
	code=$(curl -s -m 60 -o "$work/body" -w '%{http_code}' -X "$1" \
		-H "$auth" --data-binary "${4:-}" --unix-socket "$sock" \
		"http://x$2")
	body=$(cat "$work/body")
}
check() { # DESC COND
	desc=$1
	shift
	if eval "$*"; then pass "$desc"; else
		fail "$desc" "condition: $*" "code=$code" \
			"body: $(printf %s "$body" | head -c 400)"
	fi
}
field() { # JSON KEY: the value of a top-level key
	printf %s "$1" | python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print(v if not isinstance(v,(dict,list)) else json.dumps(v))' "$2"
}

ISOL8_API_KEY= "$ISOL8" serve --listen 127.0.0.1:0 >/dev/null 2>"$work/nokey"
code=$? body=$(cat "$work/nokey")
check "no key at all: exit 1, API key required" \
	'[ "$code" = 1 ] && grep -q "API key required" "$work/nokey"'

start --keys keys --max-body 4k

# -- health, version, auth
req GET /health
check "GET /health needs no key" '[ "$code" = 200 ] && [ "$(field "$body" status)" = ok ]'
req GET /version
check "GET /version without a key is 401" '[ "$code" = 401 ]'
req GET /version wrong-key
check "a wrong key is 401" '[ "$code" = 401 ]'
req GET /version "$KEY"
check "GET /version with a key" '[ "$code" = 200 ] && [ "$(field "$body" apiVersion)" = 1 ]'
req GET /nowhere "$KEY"
check "an unknown path is 404" '[ "$code" = 404 ]'
req PUT /execute "$KEY"
check "a wrong method is 405" '[ "$code" = 405 ]'

# -- every fresh connection gets its answer (replies once stalled in a
# filter bufferevent, and a Connection: close lost its reply)
ok=0
i=0
while [ $i -lt 50 ]; do
	c=$(curl -s -m 5 -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$port/health")
	[ "$c" = 200 ] && ok=$((ok + 1))
	i=$((i + 1))
done
code=$ok body=
check "50 fresh connections get 50 answers" '[ $ok = 50 ]'
code=$(curl -s -m 5 -o "$work/body" -w '%{http_code}' -H 'Connection: close' \
	"http://127.0.0.1:$port/health")
body=$(cat "$work/body")
check "a reply before Connection: close arrives whole" \
	'[ "$code" = 200 ] && [ "$(field "$body" status)" = ok ]'

# -- POST /execute: the result of run --json
req POST /execute "$KEY" '{"runtime":"python","code":"print(6*7)"}'
check "POST /execute runs the code" \
	'[ "$code" = 200 ] && [ "$(field "$body" stdout)" = 42 ] && [ "$(field "$body" exitCode)" = 0 ]'
run --json -r python -e 'print(6*7)'
keys_local=$(printf %s "$out" | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)))')
keys_remote=$(printf %s "$body" | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)))')
check "its fields are those of isol8 run --json" '[ "$keys_local" = "$keys_remote" ]'
req POST /execute "$KEY" '{"runtime":"bash","code":"echo out; echo err >&2; exit 3","stdin":"x"}'
check "exit code and stderr come back" \
	'[ "$(field "$body" exitCode)" = 3 ] && [ "$(field "$body" stderr)" = err ]'
req POST /execute "$KEY" '{"runtime":"python","code":"import time; time.sleep(5)","timeout":"1s"}'
check "a timeout is a result" '[ "$code" = 200 ] && [ "$(field "$body" timedOut)" = True ]'

# -- bad requests: 400 saying where, 413 over the body limit
req POST /execute "$KEY" '{"runtime":"python","code":'
check "malformed JSON is 400 with its place" \
	'[ "$code" = 400 ] && printf %s "$body" | grep -q "line 1, column"'
req POST /execute "$KEY" '{"runtime":5,"code":"x"}'
check "a wrong type is 400 naming the field" \
	'[ "$code" = 400 ] && printf %s "$body" | grep -q runtime'
req POST /execute "$KEY" '{"runtime":"python","code":"x","nope":1}'
check "an unknown field is 400 naming it" \
	'[ "$code" = 400 ] && printf %s "$body" | grep -q nope'
big=$(head -c 6000 /dev/zero | tr '\0' a)
req POST /execute "$KEY" "{\"runtime\":\"python\",\"code\":\"#$big\"}"
check "a body over --max-body is 413" '[ "$code" = 413 ]'

# -- ceilings (the key `small`)
req POST /execute "$OTHER" '{"runtime":"python","code":"print(1)","memory":"1g"}'
check "over the memory ceiling is 403 naming it" \
	'[ "$code" = 403 ] && printf %s "$body" | grep -q memory'
req POST /execute "$OTHER" '{"runtime":"node","code":"1"}'
check "a runtime not allowed is 403 naming it" \
	'[ "$code" = 403 ] && printf %s "$body" | grep -q runtime'
req POST /execute "$OTHER" '{"runtime":"python","code":"1","network":"host"}'
check "a network mode not allowed is 403" \
	'[ "$code" = 403 ] && printf %s "$body" | grep -q network'
req POST /execute "$OTHER" '{"runtime":"python","code":"1","session":"x"}'
check "sessions=0: a session is 403 naming the ceiling" \
	'[ "$code" = 403 ] && printf %s "$body" | grep -q sessions'
req POST /execute "$OTHER" '{"runtime":"python","code":"print(2)"}'
check "within its ceilings it runs" '[ "$code" = 200 ] && [ "$(field "$body" stdout)" = 2 ]'

# -- sessions and files, per key
req POST /execute "$KEY" '{"runtime":"python","code":"open(\"/sandbox/a\",\"w\").write(\"A\")","session":"s1"}'
check "a run opens session s1" '[ "$code" = 200 ]'
req GET /sessions "$KEY"
check "GET /sessions lists it" 'printf %s "$body" | grep -q "\"name\":\"s1\""'
req GET /sessions "$OTHER"
check "another key sees none of it" '[ "$code" = 200 ] && ! printf %s "$body" | grep -q s1'
req DELETE /sessions/s1 "$OTHER"
check "another key cannot remove it (404)" '[ "$code" = 404 ]'
req PUT "/sessions/s1/files?path=/sandbox/f.txt" "$KEY" 'file data'
check "PUT a file into the session" '[ "$code" = 200 ]'
req GET "/sessions/s1/files?path=/sandbox/f.txt" "$KEY"
check "GET it back" '[ "$code" = 200 ] && [ "$body" = "file data" ]'
req GET "/sessions/s1/files?path=/sandbox/a" "$KEY"
check "the run's file is there too" '[ "$body" = A ]'
req GET "/sessions/s1/files?path=/sandbox/none" "$KEY"
check "a missing file is 404" '[ "$code" = 404 ]'
req GET "/sessions/nosuch/files?path=/sandbox/a" "$KEY"
check "a file of a session that does not exist is 404, and makes none" \
	'[ "$code" = 404 ] && printf %s "$body" | grep -q "no session .nosuch." && ! curl -s --unix-socket "${DOCKER_SOCK:-/var/run/docker.sock}" "http://d/containers/isol8-session-main.nosuch/json" | grep -q "\"Id\""'
req DELETE /sessions/s1 "$KEY"
check "DELETE the session" '[ "$code" = 200 ]'
req GET /sessions "$KEY"
check "it is gone" '! printf %s "$body" | grep -q s1'

# -- sessions=2: counted against what the key owns
sess() { # NAME: a run in session NAME of key two
	req POST /execute "$TWO" "{\"runtime\":\"bash\",\"code\":\"echo in-$1\",\"session\":\"$1\"}"
}
sess a
c1=$code
sess b
check "sessions=2: two sessions open" '[ "$c1" = 200 ] && [ "$code" = 200 ] && [ "$(field "$body" stdout)" = in-b ]'
sess c
check "a third is 403 naming the ceiling" \
	'[ "$code" = 403 ] && printf %s "$body" | grep -q "more than 2 sessions" && printf %s "$body" | grep -q "sessions. ceiling"'
sess a
check "a run in one it owns still runs" '[ "$code" = 200 ] && [ "$(field "$body" stdout)" = in-a ]'
req GET "/sessions/zz/files?path=/sandbox/f" "$TWO"
check "reading from one it does not own is 404 (it opens nothing)" \
	'[ "$code" = 404 ] && printf %s "$body" | grep -q "no session .zz."'
req PUT "/sessions/c/files?path=/sandbox/f" "$TWO" x
check "a file into a new session is 403 too" '[ "$code" = 403 ]'
code=$(curl -s -N -m 60 -o "$work/body" -w '%{http_code}' \
	-H "Authorization: Bearer $TWO" --unix-socket "$sock" \
	-d '{"runtime":"bash","code":"echo x","session":"c"}' http://x/execute/stream)
body=$(cat "$work/body")
check "a stream over it is 403 before any event" '[ "$code" = 403 ] && ! printf %s "$body" | grep -q "^event:"'
req POST /batch "$TWO" "$(printf '%s\n%s\n' '{"id":"j1","runtime":"bash","code":"echo 1","session":"b"}' '{"id":"j2","runtime":"bash","code":"echo 2","session":"d"}')"
check "a batch: a job in an owned session runs, a new one is its line's error" \
	'printf %s "$body" | grep "\"j1\"" | grep -q "\"exitCode\":0" && printf %s "$body" | grep "\"j2\"" | grep -q "more than 2 sessions"'
req GET /sessions "$OTHER"
check "key two's sessions are its own" '! printf %s "$body" | grep -q "\"name\":\"a\""'
req DELETE /sessions/b "$TWO"
# Six new names race for the one place left: exactly one gets it (their
# claims share the server's one list out, decided in turn).
racers=
for s_ in c d f g h i; do
	curl -s -m 60 -o "$work/race.$s_" -w '%{http_code}\n' -H "Authorization: Bearer $TWO" \
		--unix-socket "$sock" -d "{\"runtime\":\"bash\",\"code\":\"true\",\"session\":\"$s_\"}" \
		http://x/execute >"$work/race.$s_.code" &
	racers="$racers $!"
done
wait $racers
body=$(cat "$work"/race.?.code | sort | tr "\n" " ")
code=
check "six new sessions racing for the last place: exactly one opens" \
	'[ "$body" = "200 403 403 403 403 403 " ]'
req GET /sessions "$TWO"
check "the key owns exactly 2 sessions" '[ "$(printf %s "$body" | grep -o "\"name\"" | wc -l)" = 2 ]'
for s_ in a c d f g h i; do req DELETE "/sessions/$s_" "$TWO"; done
sess e
check "a removed session frees its place" '[ "$code" = 200 ]'
req DELETE /sessions/e "$TWO"

# -- SSE
code=200
body=$(curl -s -N -m 60 -H "Authorization: Bearer $KEY" --unix-socket "$sock" \
	-d '{"runtime":"bash","code":"echo one; echo two >&2; exit 4"}' \
	http://x/execute/stream)
check "the stream has start, stdout, stderr and exit events with ids" \
	'printf %s "$body" | grep -q "^event: start" && printf %s "$body" | grep -q "^event: stdout" && printf %s "$body" | grep -q "^event: stderr" && printf %s "$body" | grep -q "\"exitCode\":4" && printf %s "$body" | grep -q "^id: 4"'

# -- POST /batch
req POST /batch "$KEY" "$(printf '%s\n%s' '{"runtime":"python","code":"print(1)"}' '{"runtime":"bash","code":"exit 5"}')"
check "POST /batch answers a line per job" \
	'[ "$code" = 200 ] && [ "$(printf "%s\n" "$body" | grep -c exitCode)" = 2 ] && printf %s "$body" | grep -q "\"exitCode\":5"'

# -- GET /metrics
req GET /metrics "$KEY"
check "GET /metrics counts runs by runtime and outcome" \
	'printf %s "$body" | grep -q "isol8_runs_total{runtime=\"python\",outcome=\"ok\"} [1-9]" && printf %s "$body" | grep -q isol8_run_duration_seconds_bucket'

# -- clients: vanishing, slow, many
cid=$($client vanish "unix:$sock" "$KEY")
stops_running "$cid"
code=$cid body=
check "a client gone mid-run frees its container" '[ "$cid" != none ] && [ $gone = yes ]'
out=$($client slowloris "127.0.0.1:$port" "$KEY")
code=$out
check "a slowloris client is cut off while another is answered" \
	'printf %s "$out" | grep -Eq "^cut [0-9]+ normal 200$" && [ "$(echo "$out" | cut -d" " -f2)" -lt 10000 ]'
out=$($client streams "unix:$sock" "$KEY" 200)
code=$out
check "200 concurrent streaming clients each get their own output" \
	'printf %s "$out" | tail -1 | grep -q "^ok 200 of 200"'

# -- SIGHUP re-reads the keys: `small` goes
grep -v '^small' keys >keys.new && mv keys.new keys
kill -HUP "$pid"
sleep 0.5
req GET /version "$OTHER"
check "after SIGHUP a removed key is 401" '[ "$code" = 401 ]'
req GET /version "$KEY"
check "and a kept one still works" '[ "$code" = 200 ]'

# -- SIGTERM mid-run: the run finishes, the server exits, images stay
curl -s -N -m 60 -H "Authorization: Bearer $KEY" --unix-socket "$sock" \
	-d '{"runtime":"bash","code":"echo started; sleep 2; echo finished"}' \
	http://x/execute/stream >"$work/drain" &
cpid=$!
i=0
while [ $i -lt 100 ] && ! grep -q started "$work/drain"; do
	sleep 0.1
	i=$((i + 1))
done
kill -TERM "$pid"
sleep 0.3
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")
wait "$cpid"
wait "$pid"
src=$?
body=$(cat "$work/drain")
check "SIGTERM stops accepting" '[ "$code" != 200 ]'
check "the run in flight finishes" 'grep -q finished "$work/drain" && grep -q "\"exitCode\":0" "$work/drain"'
check "the server exits 0 after the drain" '[ $src = 0 ]'
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket \
	"${DOCKER_SOCK:-/var/run/docker.sock}" http://d/images/isol8/python/json)
check "images stay" '[ "$code" = 200 ]'

# -- admission: one run at a time, one waiting; a third is 429
printf '{"pool":{"idleMs":15000},"server":{"maxRuns":1,"maxQueue":1}}\n' \
	>isol8.config.json
start --key "$KEY"
for i in 1 2 3; do
	curl -s -m 60 -o "$work/q$i" -w '%{http_code}' \
		-H "Authorization: Bearer $KEY" --unix-socket "$sock" \
		-d '{"runtime":"bash","code":"sleep 2"}' http://x/execute \
		>"$work/c$i" &
	eval "q$i=\$!"
	sleep 0.3
done
wait "$q1" "$q2" "$q3"
codes=$(cat "$work/c1" "$work/c2" "$work/c3" | tr '\n' ' ')
code=$codes body=$(cat "$work/q1" "$work/q2" "$work/q3")
check "a full admission queue is 429 naming maxQueue, the others run" \
	'[ "$(cat "$work/c1")" = 200 ] && [ "$(cat "$work/c2")" = 200 ] && [ "$(cat "$work/c3")" = 429 ] && grep -q maxQueue "$work/q3"'
stop
printf '{"pool":{"idleMs":15000}}\n' >isol8.config.json

# -- TLS with a self-signed certificate made here
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout tls.key -out tls.crt \
		-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		>/dev/null 2>&1
	start --key "$KEY" --tls-cert tls.crt --tls-key tls.key
	body=$(curl -s -m 60 --cacert tls.crt -H "Authorization: Bearer $KEY" \
		-d '{"runtime":"python","code":"print(\"tls\")"}' \
		"https://127.0.0.1:$port/execute")
	code=
	check "TLS round trip (POST /execute over https)" '[ "$(field "$body" stdout)" = tls ]'
	code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$port/health")
	check "plain HTTP on the TLS port gets no answer" '[ "$code" != 200 ]'
	stop
fi

finish
