#!/bin/sh
# Start dockerd when its socket does not answer. There is no systemd on these
# machines, so dockerd runs in the background with its log in a file. A dockerd
# killed earlier leaves a stale pid file and sockets behind: they are removed
# before the start, never trusted. Exits 0 once the socket answers a ping.
set -eu

sock=${DOCKER_SOCK:-/var/run/docker.sock}
log=${DOCKERD_LOG:-/var/log/isol8-dockerd.log}
wait_s=${DOCKERD_WAIT:-60}

ping() {
	curl -sf --max-time 2 --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1
}

ping && exit 0

if ! command -v dockerd >/dev/null 2>&1; then
	echo "dockerd is not installed: run scripts/setup.sh (it installs docker.io)" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "dockerd is not running and starting it needs root: run this script as root" >&2
	exit 1
fi

# A live dockerd that does not answer is not ours to kill; a dead one's
# leftovers are removed.
pid=$(cat /var/run/docker.pid 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
	echo "dockerd (pid $pid) is running but $sock does not answer; see $log" >&2
	exit 1
fi
rm -f /var/run/docker.pid "$sock" /var/run/docker/containerd/containerd.pid

echo "starting dockerd (log: $log)" >&2
nohup dockerd --host "unix://$sock" >>"$log" 2>&1 </dev/null &

i=0
while [ "$i" -lt "$((wait_s * 4))" ]; do
	ping && exit 0
	sleep 0.25
	i=$((i + 1))
done
echo "dockerd did not answer on $sock within ${wait_s}s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
