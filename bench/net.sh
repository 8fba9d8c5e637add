#!/bin/sh
# The filtered network's cost, against --net host in the same run: from
# inside one sandbox, 50 small HTTP GETs (median latency) and one 30 MB
# download (MB/s) from a server on the host's loopback (127.0.0.2).
#
#   bench/net.sh
set -eu
cd "$(dirname "$0")/.."
isol8=${ISOL8:-$PWD/build/isol8}
w=$(mktemp -d /tmp/isol8-bench-net.XXXXXX)
port=$((20000 + $$ % 20000))
mkdir "$w/www"
echo hello >"$w/www/small.txt"
head -c 30000000 /dev/urandom >"$w/www/big.bin"
(cd "$w/www" && exec python3 -m http.server "$port" --bind 127.0.0.2) >/dev/null 2>&1 &
server=$!
trap 'kill $server; rm -rf "$w"' EXIT
sleep 1

code='import statistics, time, urllib.request
base = "http://127.0.0.2:'$port'"
lat = []
for i in range(50):
    t = time.perf_counter()
    urllib.request.urlopen(base + "/small.txt").read()
    lat.append((time.perf_counter() - t) * 1000)
t = time.perf_counter()
n = len(urllib.request.urlopen(base + "/big.bin").read())
s = time.perf_counter() - t
print("GET p50 %.2f ms, p90 %.2f ms; 30 MB in %.2f s = %.0f MB/s" % (
    statistics.median(lat), sorted(lat)[44], s, n / s / 1e6))'

for mode in host filtered host filtered; do
	if [ "$mode" = filtered ]; then
		flags="--net filtered --allow-private"
	else
		flags="--net host"
	fi
	# shellcheck disable=SC2086
	printf '%-9s %s\n' "$mode:" "$("$isol8" run -q $flags --timeout 120000 -r python -e "$code")"
done
