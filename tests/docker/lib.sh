# Shared helpers for the docker-labelled CLI tests (sourced, POSIX sh).
# Each test prints TAP lines; the script fails if any check failed and
# skips (77) only when there is no Docker socket at all.
ISOL8=${ISOL8_BIN:?ISOL8_BIN must point at the isol8 binary}
n=0
fails=0
work=$(mktemp -d /tmp/isol8-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

[ -S "${DOCKER_SOCK:-/var/run/docker.sock}" ] || {
	echo "1..0 # SKIP no Docker socket"
	exit 77
}

# Warm containers made by tests expire soon after the suite.
default_config() {
	printf '{"pool":{"idleMs":15000}}\n' >isol8.config.json
}
default_config

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1)); fails=$((fails + 1))
	echo "not ok $n - $1"
	shift
	for l in "$@"; do printf '#   %s\n' "$l"; done
}

# run ARGS...: runs isol8 run, sets $out, $err, $rc and $ms.
run() {
	t0=$(date +%s%N)
	"$ISOL8" run "$@" >"$work/out" 2>"$work/err" </dev/null
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	out=$(cat "$work/out")
	err=$(cat "$work/err")
}

# expect DESC COND...: passes when the shell condition holds.
expect() {
	desc=$1
	shift
	if eval "$*"; then
		pass "$desc"
	else
		fail "$desc" "condition: $*" "rc=$rc ms=$ms" \
			"stdout: $(printf %s "$out" | head -c 300)" \
			"stderr: $(printf %s "$err" | head -c 300)"
	fi
}

# stops_running CID: the container is not running (gone, or stopped)
# within 10 s; $gone is yes or no.
stops_running() {
	gone=no
	_i=0
	while [ -n "$1" ] && [ $_i -lt 50 ]; do
		if ! curl -s --unix-socket "${DOCKER_SOCK:-/var/run/docker.sock}" \
			"http://d/containers/$1/json" | grep -q '"Running":true'; then
			gone=yes
			return 0
		fi
		sleep 0.2
		_i=$((_i + 1))
	done
	return 1
}

finish() {
	echo "1..$n"
	[ "$fails" -eq 0 ]
}
