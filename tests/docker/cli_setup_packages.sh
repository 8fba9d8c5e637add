#!/bin/sh
# isol8 setup's package flags and the configuration's `dependencies` and
# `packages`, end to end (docs/packages.md): --python bakes into the
# default image (a plain run imports it with no network); the
# configuration's list comes first and a flag re-pins; a plain setup keeps
# what is baked and builds nothing; --replace gives exactly the lists
# given, and with none the plain image again, hash for hash.
#
# `isol8 setup` rebuilds isol8/<runtime>:latest, which everyone on this
# machine runs, so this test runs it against a second dockerd of its own,
# in its own network namespace, with its own data and exec roots (as
# batch_docker_restart.sh does); the base image is copied into it from the
# shared dockerd. pip installs from a PEP 503 index of wheels the test
# makes (pkg_index.py) on that namespace's loopback, which the builds
# reach (they use the daemon's host network: the namespace's). Skips (77)
# when the base of this isol8 is not in the shared dockerd or the daemon
# cannot be set up. Everything it made is removed at the end.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] && command -v dockerd >/dev/null &&
	command -v nsenter >/dev/null && command -v ip >/dev/null &&
	command -v curl >/dev/null || {
	echo "1..0 # SKIP needs root, dockerd, nsenter, ip and curl"
	exit 77
}

tag=isol8-sp-$$
ns=$tag
sock=/run/$tag.sock
data=/var/lib/$tag
exec_root=/run/$tag
pidf=/run/$tag.pid
ctrd_sock=$exec_root/containerd/containerd.sock
main_sock=${DOCKER_SOCK:-/var/run/docker.sock}
api=http://docker/v1.41
src=$(cd "$(dirname "$0")/../.." && pwd)

cleanup() {
	exec 7>&- 2>/dev/null # the index ends when its stdin closes
	for f in "$pidf" "$exec_root/containerd/containerd.pid"; do
		[ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
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

# The base this isol8 builds on: isol8/base:<hash of mkrootfs.sh>, or the
# same made by test_baked under its own repository.
hash=$(sha256sum "$src/src/images/mkrootfs.sh" | cut -c1-16)
for from in isol8 isol8test-pkg ""; do
	[ -n "$from" ] || skip "isol8/base:$hash is not in the shared dockerd (isol8 setup makes it)"
	curl -sf --unix-socket "$main_sock" \
		"$api/images/$from%2Fbase:$hash/json" >/dev/null && break
done

ip netns add "$ns" 2>/dev/null || skip "cannot create a network namespace"
ip -n "$ns" link set lo up
mkdir -p "$data" "$exec_root"
nsenter --net="/run/netns/$ns" dockerd --host "unix://$sock" \
	--data-root "$data" --exec-root "$exec_root" --pidfile "$pidf" \
	--bridge none --iptables=false --ip6tables=false \
	--ip-masq=false >>"$work/dockerd.log" 2>&1 &
i=0
until curl -sf --unix-socket "$sock" http://docker/_ping >/dev/null; do
	i=$((i + 1))
	[ $i -lt 300 ] || skip "the test dockerd did not start"
	sleep 0.1
done
curl -sf --unix-socket "$main_sock" "$api/images/$from%2Fbase:$hash/get" |
	curl -sf --unix-socket "$sock" -X POST -T - \
		-H 'Content-Type: application/x-tar' "$api/images/load" \
		>/dev/null || skip "cannot copy $from/base:$hash into the test dockerd"
curl -sf --unix-socket "$sock" -X POST \
	"$api/images/$from%2Fbase:$hash/tag?repo=isol8%2Fbase&tag=$hash" \
	>/dev/null || skip "cannot tag the base in the test dockerd"

# The index, in the namespace; it serves until fd 7 closes.
mkfifo "$work/idx_in"
nsenter --net="/run/netns/$ns" python3 "$src/tests/docker/pkg_index.py" \
	<"$work/idx_in" >"$work/idx_port" &
exec 7>"$work/idx_in"
i=0
until [ -s "$work/idx_port" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || skip "the package index did not start"
	sleep 0.1
done
index="http://127.0.0.1:$(cat "$work/idx_port")/simple"
export DOCKER_HOST="unix://$sock" # every isol8 below: the test's dockerd

# conf DEPS: the configuration, with the index and DEPS (a JSON object).
conf() {
	printf '{"pool":{"size":0},"packages":{"pipIndexUrl":"%s"},"dependencies":%s}\n' \
		"$index" "$1" >isol8.config.json
}
setup() {
	"$ISOL8" setup "$@" >"$work/out" 2>"$work/err" </dev/null
	rc=$?
	out=$(cat "$work/out")
	err=$(cat "$work/err")
}
label() {
	curl -s --unix-socket "$sock" "$api/images/isol8%2F$1:latest/json" |
		python3 -c 'import json,sys; print((json.load(sys.stdin)["Config"]["Labels"] or {}).get(sys.argv[1], ""))' "$2"
}
image_id() {
	curl -s --unix-socket "$sock" "$api/images/isol8%2F$1:latest/json" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])'
}
probe='import isol8probe; print(isol8probe.VALUE)'

conf '{}'
setup
expect "plain setup in the test dockerd" '[ "$rc" = 0 ]'
plain=$(label python org.isol8.hash)

setup --python isol8probe==1.0
expect "setup --python bakes into isol8/python:latest" \
	'[ "$rc" = 0 ] && [ "$(label python org.isol8.packages)" = "isol8probe==1.0" ]'
expect "only python's image changed" '[ -z "$(label node org.isol8.packages)" ]'
run -e "$probe"
expect "a plain run imports it, no network" '[ "$rc" = 0 ] && [ "$out" = "isol8probe 1.0" ]'

conf '{"python":["isol8extra","isol8probe==1.0"]}'
setup --python isol8probe==2.0
expect "the configuration's list is added, the flag re-pins" \
	'[ "$rc" = 0 ] && [ "$(label python org.isol8.packages)" = "isol8extra isol8probe==2.0" ]'
run -e "$probe"
expect "the run has 2.0" '[ "$rc" = 0 ] && [ "$out" = "isol8probe 2.0" ]'
id=$(image_id python)

conf '{}'
setup
expect "a plain setup keeps what is baked and builds nothing" \
	'[ "$rc" = 0 ] && printf %s "$out" | grep -q "isol8/python:latest is up to date, with isol8extra isol8probe==2.0" && [ "$(image_id python)" = "$id" ]'

setup --replace --python isol8extra
expect "--replace: exactly the lists given" \
	'[ "$rc" = 0 ] && [ "$(label python org.isol8.packages)" = isol8extra ]'
run -e "$probe"
expect "isol8probe is gone" '[ "$rc" = 1 ] && printf %s "$err" | grep -q "No module named .isol8probe"'

conf '{"python":["isol8probe"]}'
setup --replace
expect "--replace with the configuration's list" \
	'[ "$rc" = 0 ] && [ "$(label python org.isol8.packages)" = isol8probe ]'

conf '{}'
setup --replace
expect "--replace with no lists: the plain image, hash for hash" \
	'[ "$rc" = 0 ] && [ -z "$(label python org.isol8.packages)" ] && [ "$(label python org.isol8.hash)" = "$plain" ]'

conf '{}'
setup --python isol8-nosuch
expect "an unknown package fails (125), naming it" \
	'[ "$rc" = 125 ] && printf %s "$err" | grep -q "installing python packages (isol8-nosuch)" && printf %s "$err" | grep -q "No matching distribution found for isol8-nosuch"'
expect "and the image is what it was" '[ "$(label python org.isol8.hash)" = "$plain" ]'

finish
