#!/bin/sh
# isol8 build and isol8 list-custom (docs/packages.md, custom images):
# (usage errors: tests/unit/cli_packages.sh) a setup-only image whose build-time command
# left a file the sandbox reads; an unchanged build builds nothing; a
# rebuild removes its predecessor and the warm containers of it; an npm
# package baked from the npm registry (the configuration's CA bundle:
# this host inspects TLS) runs with no network; a failing setup command
# and a name holding an image isol8 build did not make are refused,
# leaving no image; list-custom shows the labels.
#
# Every image has a test-only name (isol8test-cli-<pid>-...); the test
# removes what it made, containers first. The shared isol8/<runtime>
# images are never touched; it needs this isol8's base isol8/base:<hash>
# (`isol8 setup` makes it) and skips (77) without it rather than build a
# shared tag itself.
. "$(dirname "$0")/lib.sh"

hash=$(sha256sum "$(dirname "$0")/../../src/images/mkrootfs.sh" | cut -c1-16)
docker image inspect "isol8/base:$hash" >/dev/null 2>&1 || {
	echo "1..0 # SKIP isol8/base:$hash is missing: run isol8 setup first"
	exit 77
}

T=isol8test-cli-$$
tags="$T-sh:1 $T-node:latest $T-foreign:1 $T-fail:1"
cleanup() {
	for t in $tags; do
		ids=$(docker ps -aq --filter "ancestor=$t" 2>/dev/null)
		[ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
		docker rmi "$t" >/dev/null 2>&1
	done
	rm -rf "$work"
}
trap cleanup EXIT

# build ARGS...: isol8 build, sets $out, $err, $rc.
build() {
	"$ISOL8" build "$@" >"$work/out" 2>"$work/err" </dev/null
	rc=$?
	out=$(cat "$work/out")
	err=$(cat "$work/err")
}

"$ISOL8" build --help >"$work/out"
expect "build --help lists its flags" 'for f in --base --install --setup --tag --force; do grep -q -- "$f" "$work/out" || exit 1; done'

# Runs here make no warm containers, but where the test wants one.
nowarm() { printf '{"pool":{"size":0}%s}\n' "$1" >isol8.config.json; }
nowarm

# --- a setup-only image: the command ran at build time, as root --------
# The third command (a file's text) has what Dockerfiles and JSON quote.
printf '%s\n' 'echo "home=$HOME q=\" b=\\ d=\$" >> /opt/isol8test-marker' >quoting.sh
build --base bash --setup "echo built-by-setup > /opt/isol8test-marker" \
	--setup "id -u >> /opt/isol8test-marker" --setup quoting.sh \
	--tag "$T-sh:1" --force
expect "setup-only build succeeds" '[ "$rc" = 0 ]'
expect "it says so with the tag" 'printf %s "$out" | grep -q "Custom image build complete" && printf %s "$out" | grep -qF "Image: $T-sh:1"'
label() { docker image inspect -f "{{index .Config.Labels \"$2\"}}" "$1"; }
expect "labels: custom, runtime" \
	'[ "$(label "$T-sh:1" org.isol8.custom)" = true ] && [ "$(label "$T-sh:1" org.isol8.runtime)" = bash ]'
label "$T-sh:1" org.isol8.setup >setup-label.json
expect "label: the setup commands as a JSON array, byte for byte" \
	'python3 -c "
import json, sys
want = [\"echo built-by-setup > /opt/isol8test-marker\", \"id -u >> /opt/isol8test-marker\", open(sys.argv[2]).read()]
got = json.loads(open(sys.argv[1]).read())
assert got == want, (got, want)
" setup-label.json quoting.sh'
expect "the agent and kernels are the plain image's" \
	'docker run --rm --entrypoint /bin/sh "$T-sh:1" -c "test -x /isol8-agent && test -f /usr/lib/isol8/kernel.py"'
run -r bash --image "$T-sh:1" --net none -e 'cat /opt/isol8test-marker'
expect "a run in it reads what setup left (as root: uid 0, HOME /root)" \
	'[ "$rc" = 0 ] && [ "$out" = "built-by-setup
0
home=/root q=\" b=\\ d=\$" ]'
id1=$(docker image inspect -f '{{.Id}}' "$T-sh:1")
build --base bash --setup "echo built-by-setup > /opt/isol8test-marker" \
	--setup "id -u >> /opt/isol8test-marker" --setup quoting.sh \
	--tag "$T-sh:1"
expect "an unchanged build builds nothing" \
	'[ "$rc" = 0 ] && printf %s "$out" | grep -q "is up to date" && [ "$(docker image inspect -f "{{.Id}}" "$T-sh:1")" = "$id1" ]'

# A warm container of it (its refill is detached: wait for it), then a
# rebuild: both go.
printf '{"pool":{"idleMs":60000,"size":1}}\n' >isol8.config.json
run -r bash --image "$T-sh:1" -e 'echo warm'
nowarm
i=0
while [ $i -lt 100 ] && [ -z "$(docker ps -q --filter "ancestor=$id1" --filter label=org.isol8.kind=warm)" ]; do
	sleep 0.2
	i=$((i + 1))
done
warm=$(docker ps -aq --filter "ancestor=$id1" --filter label=org.isol8.kind=warm)
build --base bash --setup "echo rebuilt > /opt/isol8test-marker" --tag "$T-sh:1"
expect "a changed build rebuilds" '[ "$rc" = 0 ] && [ "$(docker image inspect -f "{{.Id}}" "$T-sh:1")" != "$id1" ]'
expect "its predecessor is gone" '! docker image inspect "$id1" >/dev/null 2>&1'
expect "and the warm containers of it (there were: $(echo $warm | wc -w))" \
	'[ -n "$warm" ] && [ -z "$(docker ps -aq --filter "ancestor=$id1")" ]'

# --- a failing setup command: the tag never appears ---------------------
build --base bash --setup "echo about to fail" --setup "exit 3" --tag "$T-fail:1"
expect "a failing setup command fails the build (exit 125)" '[ "$rc" = 125 ]'
expect "the message names the setup commands and the tag" \
	'printf %s "$err" | grep -qF "the setup commands of $T-fail:1 failed"'
expect "no image under the tag" '! docker image inspect "$T-fail:1" >/dev/null 2>&1'

# --- a name holding an image isol8 build did not make ------------------
# An image of the test's own (an empty file system), never a shared one.
tar cf - -T /dev/null | docker import - "$T-foreign:1" >/dev/null
fid=$(docker image inspect -f '{{.Id}}' "$T-foreign:1")
build --base bash --setup "true" --tag "$T-foreign:1"
expect "a foreign image's name is refused (exit 2)" \
	'[ "$rc" = 2 ] && printf %s "$err" | grep -q "is an image isol8 build did not make"'
expect "and it stays" '[ "$(docker image inspect -f "{{.Id}}" "$T-foreign:1")" = "$fid" ]'
docker rmi "$T-foreign:1" >/dev/null

# --- an npm package from the npm registry, run with no network ---------
nowarm ',"packages":{"caBundle":"/etc/ssl/certs/ca-certificates.crt"}'
build --base node --install is-number@7.0.0 --tag "$T-node"
expect "node build with is-number" '[ "$rc" = 0 ] && printf %s "$out" | grep -qF "Image: $T-node:latest"'
run -r node --image "$T-node" --net none -e 'import isNumber from "is-number"; console.log(isNumber(7))'
expect "its package runs with no network" '[ "$rc" = 0 ] && [ "$out" = true ]'
nowarm

# --- list-custom --------------------------------------------------------
"$ISOL8" list-custom >"$work/out" 2>"$work/err"
rc=$?
out=$(cat "$work/out")
expect "list-custom lists both, runtime and packages" \
	'[ "$rc" = 0 ] && printf %s "$out" | grep -qx "$T-sh:1" && printf %s "$out" | grep -qx "$T-node:latest" && printf %s "$out" | grep -q "Packages: is-number@7.0.0"'
expect "and the setup command" 'printf %s "$out" | grep -q "Setup: *echo rebuilt > /opt/isol8test-marker"'
"$ISOL8" list-custom --json >"$work/out" 2>"$work/err"
rc=$?
expect "list-custom --json" \
	'[ "$rc" = 0 ] && python3 -c "
import json, sys
v = {i[\"tag\"]: i for i in json.load(open(sys.argv[1]))}
n = v[sys.argv[2] + \"-node:latest\"]
s = v[sys.argv[2] + \"-sh:1\"]
assert n[\"runtime\"] == \"node\" and n[\"packages\"] == [\"is-number@7.0.0\"] and n[\"setup\"] == []
assert s[\"runtime\"] == \"bash\" and s[\"setup\"] == [\"echo rebuilt > /opt/isol8test-marker\"]
" "$work/out" "$T"'

finish
