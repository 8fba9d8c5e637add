# Shared helpers of the unit-labelled CLI tests (sourced, POSIX sh). They
# need no Docker, and prove it: DOCKER_HOST points at no socket, so
# anything that reached Docker would exit 3 "Docker is not running",
# which the checks tell apart. Each test runs in a folder of its own (also
# its HOME); background helpers it starts go in $pids and are killed at
# exit. Each prints TAP lines and ends with `finish`.
ISOL8=${ISOL8_BIN:?ISOL8_BIN must point at the isol8 binary}
n=0
fails=0
pids=
work=$(mktemp -d /tmp/isol8-unit.XXXXXX)
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
cd "$work" || exit 1
export HOME="$work" DOCKER_HOST="unix://$work/no-docker.sock"
unset ISOL8_HOST ISOL8_API_KEY

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1)); fails=$((fails + 1))
	echo "not ok $n - $1"
	printf '#   rc=%s\n#   stdout: %s\n#   stderr: %s\n' "$rc" \
		"$(head -c 300 "$work/out")" "$(head -c 400 "$work/err")"
}
# isol8 ARGS...: at most 60 s (a hang is rc 124); $rc, $work/out, err.
isol8() {
	timeout 60 "$ISOL8" "$@" >"$work/out" 2>"$work/err" </dev/null
	rc=$?
}
# t DESC COND ARGS...: isol8 ARGS, then the shell condition.
t() {
	desc=$1 cond=$2
	shift 2
	isol8 "$@"
	if eval "$cond"; then pass "$desc"; else fail "$desc"; fi
}
# status WANT_RC WANT ARGS...: isol8 ARGS exits WANT_RC, stderr holds WANT.
status() {
	want_rc=$1 want=$2
	shift 2
	isol8 "$@"
	if [ "$rc" = "$want_rc" ] && grep -qF -- "$want" "$work/err"; then
		pass "$* -> $want_rc, $want"
	else
		fail "$* -> $want_rc, $want"
	fi
}
usage() { status 2 "$@"; }
out_has() { grep -qF -- "$1" "$work/out"; }
err_has() { grep -qF -- "$1" "$work/err"; }

finish() {
	echo "1..$n"
	[ "$fails" -eq 0 ]
}
