#!/bin/sh
# isol8 batch against a dockerd that is killed mid-batch (kill -9 of dockerd
# and its containerd) and started again 3 s later: the batch waits for it,
# runs every job (those whose sandbox was lost once more, "retried"), writes
# exactly one line per job and exits 0, leaving no container. Then dockerd
# stays away longer than --docker-wait: the batch stops with status 3, and
# --resume, once dockerd is back, completes the file to one line per job.
#
# The daemon is a second dockerd of this test's own, in its own network
# namespace, with its own data and exec roots (the shared dockerd is never
# touched); the runtime image isol8/bash is copied into it from the shared
# one. Needs root, dockerd, nsenter and ip; skips (77) when it cannot set
# that up. Everything it made -- namespace, daemons, their containers,
# mounts, directories -- is removed at the end, pass or fail.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] && command -v dockerd >/dev/null &&
	command -v nsenter >/dev/null && command -v ip >/dev/null &&
	command -v curl >/dev/null || {
	echo "1..0 # SKIP needs root, dockerd, nsenter, ip and curl"
	exit 77
}

tag=isol8-dr-$$
ns=$tag
sock=/run/$tag.sock
data=/var/lib/$tag
exec_root=/run/$tag
pidf=/run/$tag.pid
ctrd_sock=$exec_root/containerd/containerd.sock
main_sock=${DOCKER_SOCK:-/var/run/docker.sock}
api=http://docker/v1.41

# The test daemon's processes: dockerd, its containerd, their shims (found
# by the test containerd's socket, which only they use) and what runs there.
kill_daemon() {
	for f in "$pidf" "$exec_root/containerd/containerd.pid"; do
		[ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	# A stale containerd pid that a new process reuses makes the next
	# dockerd wait for that "containerd" and give up (seen here).
	rm -f "$exec_root/containerd/containerd.pid"
}
cleanup() {
	kill_daemon
	for p in $(pgrep -f -- "-address $ctrd_sock"); do
		for c in $(pgrep -P "$p"); do kill -9 "$c" 2>/dev/null; done
		kill -9 "$p" 2>/dev/null
	done
	sleep 0.5
	grep -oE " ($data|$exec_root)[^ ]*" /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	rm -rf "$data" "$exec_root" "$pidf" "$sock"
	ip netns delete "$ns" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
skip() {
	echo "1..0 # SKIP $1"
	tail -5 "$work/dockerd.log" 2>/dev/null | sed 's/^/# /'
	exit 77
}

# Start (or restart) the test dockerd; 1 if it does not answer in 30 s.
start_daemon() {
	rm -f "$pidf"
	nsenter --net="/run/netns/$ns" dockerd --host "unix://$sock" \
		--data-root "$data" --exec-root "$exec_root" --pidfile "$pidf" \
		--bridge none --iptables=false --ip6tables=false \
		--ip-masq=false >>"$work/dockerd.log" 2>&1 &
	i=0
	while [ $i -lt 300 ]; do
		curl -sf --unix-socket "$sock" http://docker/_ping >/dev/null &&
			return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
# Containers isol8 made that the test dockerd still has.
ours() {
	curl -s --unix-socket "$sock" -G "$api/containers/json" \
		--data-urlencode all=1 \
		--data-urlencode 'filters={"label":["org.isol8.managed"]}' |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}
# Wait (at most 10 s) until dockerd has no container of ours left.
no_containers() {
	i=0
	while [ $i -lt 50 ]; do
		left=$(ours)
		[ "$left" = 0 ] && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

ip netns add "$ns" 2>/dev/null || skip "cannot create a network namespace"
ip -n "$ns" link set lo up
mkdir -p "$data" "$exec_root"
start_daemon || skip "the test dockerd did not start"
curl -sf --unix-socket "$main_sock" "$api/images/isol8%2Fbash:latest/get" |
	curl -sf --unix-socket "$sock" -X POST -T - \
		-H 'Content-Type: application/x-tar' "$api/images/load" \
		>/dev/null || skip "cannot copy isol8/bash into the test dockerd"
export DOCKER_HOST="unix://$sock"

# results FILE JOBS: sets lines ids errs retried dups bad for a results
# file (jobs r0..r{JOBS-1}): bad counts results whose stdout is wrong;
# lines is "torn" when the last line has no newline.
results() {
	set -- $(results_py "$1" "$2") x x x x x x
	lines=$1 ids=$2 errs=$3 retried=$4 dups=$5 bad=$6
	out="lines $lines, ids $ids, errors $errs, retried $retried, dups $dups, bad $bad"
}
results_py() {
	python3 - "$1" "$2" <<'PY'
import json, sys, collections
lines = open(sys.argv[1], "rb").read().split(b"\n")
if lines[-1] != b"":
    print("torn"); sys.exit(1)
res = [json.loads(l) for l in lines[:-1]]
ids = collections.Counter(r["id"] for r in res)
want = {"r%d" % i for i in range(int(sys.argv[2]))}
errs = sum(1 for r in res if r.get("error") is not None)
retried = sum(1 for r in res if r.get("retried"))
bad = [r["id"] for r in res if r.get("error") is None and
       r["stdout"] != r["id"][1:] + "\n"]
print(len(res), len(set(ids) & want), errs, retried,
      sum(1 for v in ids.values() if v > 1), len(bad))
PY
}

# 1. Killed after ~40 results, back 3 s later: the batch rides it out.
jobs=200
python3 -c 'import sys
for i in range(int(sys.argv[1])):
    print("{\"id\":\"r%d\",\"cmd\":\"sleep 0.2; echo %d\"}" % (i, i))' \
	"$jobs" >jobs.jsonl
t0=$(date +%s)
# Each batch is bounded (KILL 10 s after TERM): a hang fails the test.
timeout -k 10 100 "$ISOL8" batch -q -r bash -c 16 --summary \
	-o res.jsonl jobs.jsonl 2>batch.err &
pid=$!
i=0
while [ "$(cat res.jsonl 2>/dev/null | wc -l)" -lt 40 ] && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
before=$(wc -l <res.jsonl)
kill -0 "$pid" 2>/dev/null && running=1 || running=0
kill_daemon
sleep 3
start_daemon || skip "the test dockerd did not come back after the kill"
wait "$pid"
rc=$?
secs=$(($(date +%s) - t0))
results res.jsonl "$jobs"
err=$(tail -c 600 batch.err)
no_containers
left=$(ours)
expect "killed after $before results: batch ran on (rc $rc, $secs s)" \
	'[ "$running" = 1 ] && [ "$rc" = 0 ]'
expect "one line per job, each right, none twice ($out)" \
	'[ "$lines" = "$jobs" ] && [ "$ids" = "$jobs" ] && [ "$errs" = 0 ] && [ "$dups" = 0 ] && [ "$bad" = 0 ]'
expect "no container left in dockerd ($left)" '[ "$left" = 0 ]'
echo "# $(grep -h 'jobs in' batch.err)"

# 2. Away longer than --docker-wait: status 3; --resume completes the file.
timeout -k 10 60 "$ISOL8" batch -q -r bash -c 16 --docker-wait 2000 \
	-o res2.jsonl jobs.jsonl 2>batch2.err &
pid=$!
i=0
while [ "$(cat res2.jsonl 2>/dev/null | wc -l)" -lt 40 ] && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill_daemon
t0=$(date +%s)
wait "$pid"
rc=$?
secs=$(($(date +%s) - t0))
err=$(tail -c 600 batch2.err)
results res2.jsonl "$jobs"
expect "away past --docker-wait 2000: status 3 after $secs s ($out)" \
	'[ "$rc" = 3 ] && [ "$secs" -lt 30 ] && [ "$errs" -gt 0 ]'
start_daemon || skip "the test dockerd did not come back"
timeout -k 10 100 "$ISOL8" batch -q -r bash -c 16 --resume res2.jsonl \
	-o res2.jsonl jobs.jsonl 2>batch3.err
rc=$?
err=$(tail -c 600 batch3.err)
results res2.jsonl "$jobs"
no_containers
left=$(ours)
expect "--resume: one final line per job ($out), status $rc, $left left" \
	'[ "$rc" = 0 ] && [ "$lines" = "$jobs" ] && [ "$ids" = "$jobs" ] && [ "$errs" = 0 ] && [ "$dups" = 0 ] && [ "$bad" = 0 ] && [ "$left" = 0 ]'

finish
