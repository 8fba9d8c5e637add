#!/bin/sh
# The filtered network (--net filtered): the container has no network; a
# program reaches the outside only through the host's proxy
# (HTTP_PROXY), which lets through allowed host names, refuses denied
# ones first, refuses private and loopback addresses unless
# --allow-private, tunnels CONNECT, and carries bytes intact. A direct
# connection around the proxy fails. All traffic goes to a server on the
# host's loopback (127.0.0.2), started here.
. "$(dirname "$0")/lib.sh"

port=$((20000 + $$ % 20000))
mkdir www
echo "hello from the host" >www/index.txt
head -c 3000000 /dev/urandom >www/big.bin
(cd www && exec python3 -m http.server "$port" --bind 127.0.0.2) >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for i in 1 2 3 4 5 6 7 8 9 10; do
	python3 -c "import socket; socket.create_connection(('127.0.0.2', $port), 1)" 2>/dev/null && break
	sleep 0.2
done

fetch='import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.2:'$port'/index.txt", timeout=10)
    print(r.status, r.read().decode().strip())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode().strip())
except Exception as e:
    print("error", e)'

run --net filtered --allow '^127\.0\.0\.2$' -r python -e "$fetch"
expect "a private (loopback) address is refused by default, even when allowed by name" \
	'[ "$rc" = 0 ] && echo "$out" | grep -q "^403 .*private address"'
run --net filtered --allow '^127\.0\.0\.2$' --allow-private -r python -e "$fetch"
expect "an allowed host goes through the proxy" \
	'[ "$rc" = 0 ] && [ "$out" = "200 hello from the host" ]'
run --net filtered --allow '^example\.test$' --allow-private -r python -e "$fetch"
expect "a host no allow pattern matches is refused" \
	'echo "$out" | grep -q "^403 .*blocked by the network filter"'
run --net filtered --allow-private --deny '^127\.' -r python -e "$fetch"
expect "deny wins (no allow pattern: everything else allowed)" \
	'echo "$out" | grep -q "^403 .*blocked by the network filter"'

run --net filtered --allow '^127\.0\.0\.2$' --allow-private -r python -e '
import hashlib, http.client, socket, urllib.request
c = http.client.HTTPConnection("127.0.0.1", 8118, timeout=10)
c.set_tunnel("127.0.0.2", '$port')
c.request("GET", "/index.txt")
r = c.getresponse()
print("tunnel", r.status, r.read().decode().strip())
big = urllib.request.urlopen("http://127.0.0.2:'$port'/big.bin", timeout=20).read()
print("big", len(big), hashlib.sha256(big).hexdigest())
try:
    socket.create_connection(("127.0.0.2", '$port'), timeout=3)
    print("direct connected")
except OSError as e:
    print("direct refused")
'
sum=$(sha256sum www/big.bin | cut -c1-64)
expect "CONNECT tunnels; 3 MB arrive intact; a direct connection fails" \
	'echo "$out" | grep -q "^tunnel 200 hello from the host$" && echo "$out" | grep -q "^big 3000000 $sum$" && echo "$out" | grep -q "^direct refused$"'

run --net filtered --allow-private --deny 'evil' --log-network -r python -e '
import urllib.request
for u in ["http://127.0.0.2:'$port'/index.txt", "http://evil.example/"]:
    try:
        urllib.request.urlopen(u, timeout=5)
    except Exception:
        pass'
expect "--log-network reports what was let through and what was refused" \
	'echo "$err" | grep -q "\"host\":\"127.0.0.2\",\"port\":'$port',\"action\":\"allow\"" && echo "$err" | grep -q "\"host\":\"evil.example\",\"port\":80,\"action\":\"block\""'
run --json --net filtered --allow '^nothing$' -r python -e "$fetch"
expect "--json carries the decisions" \
	'printf %s "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); assert d[\"network\"][0][\"action\"] == \"block\""'

run --net filtered --allow-private -r python -e '
import urllib.request, urllib.error
req = urllib.request.Request("http://127.0.0.2:'$port'/x", data=b"y" * 200000, method="POST")
try:
    urllib.request.urlopen(req, timeout=10)
except urllib.error.HTTPError as e:
    print(e.code)'
expect "a request with a 200 kB body reaches upstream (its answer: 501)" \
	'[ "$out" = 501 ]'

run --net filtered -r python -e 'import urllib.request
urllib.request.urlopen("http://127.0.0.2:1/", timeout=5)'
expect "without --allow-private the host's loopback stays out of reach" \
	'[ "$rc" = 1 ] && echo "$err" | grep -q "403"'
# The config file's rules apply to run and batch; flags replace them.
printf '{"pool":{"idleMs":15000},"defaults":{"network":"filtered"},"network":{"allow":["^127\\\\.0\\\\.0\\\\.2$"],"allowPrivate":true}}\n' >isol8.config.json
run -r python -e "$fetch"
r1=$out
run --allow '^other$' -r python -e "$fetch"
r2=$out
printf '{"id":"j1","runtime":"python","code":%s}\n' "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$fetch")" >jobs.jsonl
"$ISOL8" batch -q jobs.jsonl >batch.out 2>&1
expect "config rules apply (run and batch); --allow replaces them" \
	'[ "$r1" = "200 hello from the host" ] && echo "$r2" | grep -q "^403" && grep -q "200 hello from the host" batch.out'
default_config

run --net none --allow 'x' -r python -e 'print(1)'
expect "--allow without --net filtered is a usage error" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "net filtered"'
run --net filtered --allow '(' -r python -e 'print(1)'
expect "a bad pattern is a usage error naming it" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "bad --allow pattern"'
finish
