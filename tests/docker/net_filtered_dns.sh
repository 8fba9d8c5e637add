#!/bin/sh
# The filtered network against a resolver and a server of the test's own
# (issue 14): names are matched as they are resolved (a trailing dot, the
# resolver's search list, numeric IPv4 forms do not get past --deny), an
# IPv4-compatible IPv6 literal is a private address, one request per
# connection (a second or pipelined request with a Host of its own never
# reaches a server that keeps connections open), a resolver that never
# answers costs a 502 that says so -- not a hang, not libevent's messages
# on stderr --, and connections closed while their names are looked up
# do not crash isol8 (run or batch).
#
# It runs in a network namespace it makes (unshare --net --mount), with
# /etc/resolv.conf bound to one naming its DNS server (127.0.0.53, which
# knows *.adv.test; later a silent one, 127.0.0.54) and its HTTP server
# on 127.0.0.2: no packet leaves the namespace.
if [ -z "${ISOL8_NET_NS:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null ||
	    ! unshare --net --mount true 2>/dev/null; then
		echo "1..0 # SKIP needs root and unshare for a network namespace"
		exit 77
	fi
	ISOL8_NET_NS=1 exec unshare --net --mount sh "$0" "$@"
fi
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

ip link set lo up
python3 "$here/dns_server.py" 127.0.0.53 "$work/dns.log" \
	ok.adv.test=127.0.0.2 rebind.adv.test=127.0.0.2 \
	secret.adv.test=127.0.0.2 >/dev/null 2>&1 &
dns=$!
python3 "$here/dns_server.py" 127.0.0.54 "$work/silent.log" --silent \
	>/dev/null 2>&1 &
silent=$!
python3 "$here/http_server.py" 127.0.0.2 8080 "$work/http.log" \
	>/dev/null 2>&1 &
http=$!
trap 'kill $dns $silent $http 2>/dev/null; umount /etc/resolv.conf 2>/dev/null
umount /etc/resolv.conf 2>/dev/null; rm -rf "$work"' EXIT
printf 'nameserver 127.0.0.53\nsearch adv.test\n' >resolv.conf
mount --bind "$work/resolv.conf" /etc/resolv.conf
for i in 1 2 3 4 5 6 7 8 9 10; do
	python3 -c "import socket; socket.create_connection(('127.0.0.2', 8080), 1)" 2>/dev/null && break
	sleep 0.2
done

# fetch URL...: the sandbox's program, printing "status body" per URL.
fetch() {
	printf 'import urllib.request, urllib.error\n'
	printf 'for u in %s:\n' "$(python3 -c 'import sys; print(sys.argv[1:])' "$@")"
	printf '    try:\n'
	printf '        r = urllib.request.urlopen(u, timeout=20)\n'
	printf '        print(r.status, r.read().decode().strip())\n'
	printf '    except urllib.error.HTTPError as e:\n'
	printf '        print(e.code, e.read().decode().strip())\n'
	printf '    except Exception as e:\n'
	printf '        print("error", e)\n'
}

run --net filtered --allow-private -r python -e "$(fetch http://ok.adv.test:8080/)"
expect "names resolve through the test's own DNS server" \
	'[ "$out" = "200 host=ok.adv.test:8080" ]'

run --net filtered --allow-private --deny '^rebind\.adv\.test$' -r python \
	-e "$(fetch http://rebind.adv.test.:8080/ http://REBIND.adv.test.:8080/)"
expect "a trailing dot does not get past --deny" \
	'[ "$(echo "$out" | grep -c "^403 .*blocked by the network filter")" = 2 ]'

: >dns.log
run --net filtered --allow-private --deny '^secret\.adv\.test$' -r python \
	-e "$(fetch http://secret:8080/)"
expect "the resolver's search list does not get past --deny (secret is not secret.adv.test)" \
	'echo "$out" | grep -q "^502 .*cannot resolve secret: no such name" && ! grep -qi "^secret\.adv\.test$" dns.log'

run --net filtered --allow-private --deny '^127\.0\.0\.2$' -r python \
	-e "$(fetch http://127.000.000.002:8080/ http://2130706434:8080/ http://0x7f.0.0.2:8080/ http://127.2:8080/)"
expect "numeric IPv4 forms are checked as the address they mean" \
	'[ "$(echo "$out" | grep -c "^403 .*blocked by the network filter")" = 4 ]'

run --net filtered -r python -e '
import socket
for t in ["[::127.0.0.2]:8080", "[::7f00:2]:8080", "[::ffff:127.0.0.2]:8080"]:
    s = socket.create_connection(("127.0.0.1", 8118), timeout=20)
    s.sendall(b"CONNECT %s HTTP/1.1\r\n\r\n" % t.encode())
    print(t, s.recv(4096).decode().splitlines()[0])'
expect "IPv4-compatible and -mapped IPv6 literals are private addresses" \
	'[ "$(echo "$out" | grep -c "HTTP/1.1 403 Forbidden$")" = 3 ]'

: >http.log
run --net filtered --allow-private -r python -e '
import http.client, socket
def answer(s):
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(65536)
        if not d:
            return "EOF"
        data += d
    head, body = data.split(b"\r\n\r\n", 1)
    n = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
         if l.lower().startswith(b"content-length:")]
    while n and len(body) < n[0]:
        body += s.recv(65536)
    return body.decode().strip()
def req(host):
    return (b"GET http://ok.adv.test:8080/ HTTP/1.1\r\nHost: %s\r\n"
            b"Connection: keep-alive\r\n\r\n" % host)
s = socket.create_connection(("127.0.0.1", 8118), timeout=20)
s.sendall(req(b"ok.adv.test"))
print("first", answer(s))
try:
    s.sendall(req(b"other.internal"))
    print("second", answer(s))
except OSError:
    print("second EOF")
s = socket.create_connection(("127.0.0.1", 8118), timeout=20)
s.sendall(req(b"x") + req(b"other.internal"))
print("pipelined", answer(s), answer(s))
c = http.client.HTTPConnection("127.0.0.1", 8118, timeout=20)
for i in range(2):
    c.request("GET", "http://ok.adv.test:8080/%d" % i)
    r = c.getresponse()
    print("client", r.status, r.read().decode().strip())'
expect "one request per connection: a second or pipelined one never reaches the server; a keep-alive client still gets both answers" \
	'echo "$out" | grep -q "^first host=ok.adv.test:8080$" && echo "$out" | grep -q "^second EOF$" && echo "$out" | grep -q "^pipelined host=ok.adv.test:8080 EOF$" && [ "$(echo "$out" | grep -c "^client 200 host=ok.adv.test:8080$")" = 2 ] && ! grep -q other.internal http.log'

# From here on the resolver never answers.
printf 'nameserver 127.0.0.54\n' >resolv-silent.conf
mount --bind "$work/resolv-silent.conf" /etc/resolv.conf
run --net filtered --allow-private -r python -e "$(fetch http://slow.adv.test:8080/)"
expect "a resolver that never answers: a 502 that says so, and libevent says nothing on stderr" \
	'echo "$out" | grep -q "^502 .*cannot resolve slow.adv.test: the DNS server did not answer within 5 s" && ! echo "$err" | grep -qi "nameserver"'

repro='import socket, time
for i in range(20):
    s = socket.create_connection(("127.0.0.1", 8118))
    s.sendall(b"GET http://n%d.nonexistent.invalid/ HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    s.close()
time.sleep(1)
print("done")'
run --net filtered -r python -e "$repro"
expect "connections closed while their names are looked up do not crash isol8" \
	'[ "$rc" = 0 ] && [ "$out" = done ]'
python3 -c 'import json, sys
print(json.dumps({"id": "closer", "runtime": "python", "code": sys.argv[1]}))
print(json.dumps({"id": "other", "runtime": "python", "code": "print(42)"}))' \
	"$repro" >jobs.jsonl
t0=$(date +%s%N)
"$ISOL8" batch -q --net filtered jobs.jsonl >batch.out 2>batch.err
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
out=$(cat batch.out)
err=$(cat batch.err)
expect "... nor the batch they run in" \
	'[ "$rc" = 0 ] && grep -q "\"id\":\"closer\"" batch.out && grep -q "\"id\":\"other\"" batch.out'
finish
