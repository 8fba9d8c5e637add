#!/bin/sh
# Ctrl-C and SIGTERM stop the run, remove its container, and exit 130/143.
. "$(dirname "$0")/lib.sh"

managed() { docker ps -aq --filter label=org.isol8.managed | sort; }

for sig in INT TERM; do
	before=$(managed)
	"$ISOL8" run -e "import time; print('up', flush=True); time.sleep(30)" \
		>"$work/sig.out" 2>"$work/sig.err" &
	pid=$!
	i=0
	while [ "$(cat "$work/sig.out")" != up ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	during=$(managed)
	t0=$(date +%s%N)
	kill -s "$sig" "$pid"
	wait "$pid"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	out=$(cat "$work/sig.out")
	err=$(cat "$work/sig.err")
	want=$([ "$sig" = INT ] && echo 130 || echo 143)
	new=$(printf '%s\n%s\n' "$before" "$during" | sort | uniq -u | head -n 1)
	expect "SIG$sig exits $want promptly (${ms} ms)" \
		'[ "$rc" = "$want" ] && [ "$ms" -lt 3000 ]'
	sleep 0.5
	expect "SIG$sig: the run's container ${new:-?} is gone" \
		'[ -n "$new" ] && ! docker inspect "$new" >/dev/null 2>&1'
done

finish
