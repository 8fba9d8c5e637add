#!/bin/sh
# Ctrl-C and SIGTERM stop the run, remove its container, and exit 130/143.
. "$(dirname "$0")/lib.sh"

for sig in INT TERM; do
	# Not the last round's "up": the shell truncates it only in the child.
	: >"$work/sig.out"
	"$ISOL8" run -e "import time; print('up', flush=True); time.sleep(30)" \
		>"$work/sig.out" 2>"$work/sig.err" &
	pid=$!
	i=0
	while [ "$(cat "$work/sig.out")" != up ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	# Claimed (or created) containers are named isol8-run-<pid>-...
	new=$(docker ps -aq --filter "name=^/isol8-run-$pid-")
	t0=$(date +%s%N)
	kill -s "$sig" "$pid"
	wait "$pid"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	out=$(cat "$work/sig.out")
	err=$(cat "$work/sig.err")
	want=$([ "$sig" = INT ] && echo 130 || echo 143)
	expect "SIG$sig exits $want promptly (${ms} ms)" \
		'[ "$rc" = "$want" ] && [ "$ms" -lt 3000 ]'
	sleep 0.5
	expect "SIG$sig: the run's container ${new:-?} is gone" \
		'[ -n "$new" ] && ! docker inspect "$new" >/dev/null 2>&1'
done

finish
