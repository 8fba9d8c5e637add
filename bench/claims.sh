#!/bin/sh
# Lost warm-container claims: 16 concurrent `isol8 run` processes claim
# from 16 warm containers of one key (a claim is a rename in dockerd; a
# rename that another process won first is a lost claim and a retry). For
# each binary given, TRIALS times (interleaved): the renames dockerd saw
# (16 = no claim lost) and how many runs got a warm container. Counts
# dockerd's debug log, so dockerd's debug logging is turned on (SIGHUP
# reload) for the measurement and off again. As root, on a quiet machine.
#
#   bench/claims.sh OLD_ISOL8 build/isol8 [TRIALS]
set -eu
[ $# -ge 2 ] || { sed -n 2,10p "$0"; exit 2; }
old=$(readlink -f "$1") new=$(readlink -f "$2") trials=${3:-5}
log=${DOCKERD_LOG:-/var/log/isol8-dockerd.log}
conf=/etc/docker/daemon.json
[ ! -e "$conf" ] || { echo "$conf exists: turn debug on yourself" >&2; exit 2; }
mkdir -p /etc/docker
echo '{"debug": true}' >"$conf"
kill -HUP "$(pgrep -x dockerd | head -1)"
trap 'rm -f "$conf"; kill -HUP "$(pgrep -x dockerd | head -1)"' EXIT
work=$(mktemp -d /tmp/isol8-claims.XXXXXX)
cd "$work"
printf '{"pool":{"size":16,"idleMs":120000}}\n' >isol8.config.json
key="--memory 300m"
ours() {
	docker ps -q --filter label=org.isol8.kind=warm \
		--filter "name=^/isol8-warm-" --filter status=running |
		while read -r id; do
			[ "$(docker inspect -f '{{.HostConfig.Memory}}' "$id" 2>/dev/null)" = 314572800 ] &&
				echo "$id"
		done
}
trial() { # trial BIN: one measure, the warm containers made by $new
	ours | xargs -r docker rm -f >/dev/null 2>&1 || true
	"$new" run $key -e 'print(0)' >/dev/null
	i=0
	while [ "$(ours | wc -l)" -lt 16 ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
	sleep 2
	ours >before.ids
	start=$(wc -l <"$log")
	for j in $(seq 16); do "$1" run $key --json -e 'print(1)' >"run.$j" 2>&1 & done
	wait
	r=$(tail -n +$((start + 1)) "$log" | grep -c 'Calling POST .*/containers/isol8-warm-[^/]*/rename' || true)
	got=$(cat run.* | sed -n 's/.*"containerId":"\([0-9a-f]*\)".*/\1/p' | grep -c -F -f before.ids || true)
	echo "warm=$(wc -l <before.ids) renames=$r claimed=$got"
}
for t in $(seq "$trials"); do
	echo "old: $(trial "$old")"
	echo "new: $(trial "$new")"
done
ours | xargs -r docker rm -f >/dev/null 2>&1 || true
rm -rf "$work"
