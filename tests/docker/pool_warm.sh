#!/bin/sh
# The warm pool across processes: separate `isol8 run` processes reuse warm
# containers (and the second run is fast); processes racing for few warm
# containers each get their own; unclaimed warm containers expire by
# themselves; an interrupted run leaves nothing beyond the expiry; nothing
# of one run is visible to the next.
. "$(dirname "$0")/lib.sh"

# A pool key of our own (a distinct memory size), a short idle expiry.
key_flags="--memory 200m"
printf '{"pool":{"size":2,"idleMs":3000}}\n' >isol8.config.json
warm() {
	docker ps -q --filter label=org.isol8.kind=warm \
		--filter "name=^/isol8-warm-" --filter status=running |
		while read -r id; do
			docker inspect -f '{{.HostConfig.Memory}}' "$id"
		done | grep -c '^209715200$'
}
wait_warm() { # wait_warm N: until N warm containers of our key run
	i=0
	while [ "$(warm)" -lt "$1" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

run $key_flags --json -e "print('first')"
first_ms=$ms
wait_warm 1
expect "after a first (cold) run, one warm container waits for the key" \
	'[ "$(warm)" = 1 ]'
waiting=$(docker ps -q --no-trunc --filter label=org.isol8.kind=warm \
	--filter "name=^/isol8-warm-" --filter status=running |
	while read -r id; do
		[ "$(docker inspect -f '{{.HostConfig.Memory}}' "$id")" = 209715200 ] &&
			echo "$id"
	done)
run $key_flags --json -e "print('second')"
got=$(echo "$out" | sed -n 's/.*"containerId":"\([0-9a-f]*\)".*/\1/p')
expect "the next process claims it (${first_ms} ms cold, ${ms} ms warm)" \
	'[ "$rc" = 0 ] && [ -n "$got" ] && [ "$got" = "$waiting" ]'
wait_warm 2
expect "a key in use is topped up to pool.size (2)" '[ "$(warm)" = 2 ]'

# Eight processes race for the (at most two) warm containers: all succeed,
# each in a container of its own.
wait_warm 2
for i in 1 2 3 4 5 6 7 8; do
	"$ISOL8" run $key_flags --json -e "print($i)" >"race.$i" 2>&1 &
done
wait
ids=$(cat race.* | sed -n 's/.*"containerId":"\([0-9a-f]*\)".*/\1/p' | sort)
okc=$(grep -l '"exitCode":0' race.* | wc -l)
uniq_ids=$(echo "$ids" | sort -u | wc -l)
expect "8 racing processes: all succeed, 8 distinct containers" \
	'[ "$okc" = 8 ] && [ "$uniq_ids" = 8 ]'

# Expiry: unclaimed warm containers remove themselves after idleMs.
wait_warm 1
sleep 5
expect "warm containers expire by themselves (idle 3 s)" '[ "$(warm)" = 0 ]'

# Ctrl-C mid-run: within the expiry nothing of ours is left running.
"$ISOL8" run $key_flags -e "import time; print('up', flush=True); time.sleep(30)" >sig.out 2>&1 &
pid=$!
i=0
while ! grep -q up sig.out && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT "$pid"
wait "$pid"
sleep 5
left=$(docker ps -q --filter "name=^/isol8-run-$pid-" | wc -l)
expect "after Ctrl-C nothing outlives the expiry (warm: $(warm), claimed: $left)" \
	'[ "$(warm)" = 0 ] && [ "$left" = 0 ]'

# One run's leftovers are invisible to the next.
run $key_flags -r bash -e '
echo secret >/sandbox/f; echo secret >/tmp/f; echo secret >/dev/shm/f 2>/dev/null
export LEAK=1; setsid sleep 60 & echo planted'
run $key_flags -r bash -e '
ls -A /sandbox /dev/shm; ls -A /tmp | grep -v "^.isol8$"; echo "env=${LEAK:-none}"
ps -eo user,args | grep -c "[s]leep 60"'
expect "run 2 sees no files, env or processes of run 1" \
	'[ "$(echo "$out" | grep -c secret)" = 0 ] && echo "$out" | grep -q "env=none" && [ "$(echo "$out" | tail -n 1)" = 0 ] && [ "$(echo "$out" | grep -c "^f$")" = 0 ]'

default_config
finish
