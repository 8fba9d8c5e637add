#!/bin/sh
# Bad input: a clear message naming the problem and a non-zero exit, and
# no container left behind.
. "$(dirname "$0")/lib.sh"

# This test's containers, if any: a memory size no other test uses (the
# one real run below has its own, 6m); others' come and go on the daemon.
mine() {
	docker ps -aq --filter label=org.isol8.managed 2>/dev/null |
		while read -r id; do
			docker inspect -f '{{.HostConfig.Memory}}' "$id" 2>/dev/null
		done | grep -c -x -e 139460608 -e 6291456
}
printf '{"pool":{"idleMs":15000},"defaults":{"memory":"133m"}}\n' >isol8.config.json
before=$(mine)
run -r cobol -e "x"
expect "unknown runtime" '[ "$rc" = 2 ] && echo "$err" | grep -q "unknown runtime .cobol."'
run /nonexistent/script.py
expect "missing file" '[ "$rc" = 2 ] && echo "$err" | grep -q "/nonexistent/script.py"'
run --timeout abc -e "print(1)"
expect "bad --timeout" '[ "$rc" = 2 ] && echo "$err" | grep -q -- "--timeout"'
run --memory lots -e "print(1)"
expect "bad --memory" '[ "$rc" = 2 ] && echo "$err" | grep -q -- "--memory"'
run --cpu -1 -e "print(1)"
expect "bad --cpu" '[ "$rc" = 2 ] && echo "$err" | grep -q -- "--cpu"'
# Limits are refused before a container is made, naming the flag and the
# bound (tests/unit/cli_usage.sh has every case, without Docker): NaN used
# to pass the range check and run with no CPU limit at all, 0.001 to end
# as "the container's agent exited" (exit 125) once runc refused it.
run --cpu nan -e "print(1)"
expect "--cpu nan" '[ "$rc" = 2 ] && echo "$err" | grep -q -- "--cpu wants a number of CPUs"'
run --cpu 0.001 -e "print(1)"
expect "--cpu 0.001: Docker's minimum" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q -- "--cpu must be at least 0.01 (Docker.s minimum"'
run --cpu $(($(nproc) + 1)) -e "print(1)"
expect "--cpu over this machine's CPUs" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "the CPUs of this machine"'
run --memory 1k -e "print(1)"
expect "--memory 1k: Docker's minimum" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q -- "--memory must be at least 6m"'
run --pids 1 -e "print(1)"
expect "--pids 1: the agent is one" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q -- "--pids must be at least 2"'
run --timeout 1e30 -e "print(1)"
expect "--timeout 1e30" '[ "$rc" = 2 ] && echo "$err" | grep -q -- "--timeout must be at most"'
# The bounds themselves run (no warm container is left for their key).
printf '{"pool":{"size":0}}\n' >isol8.config.json
run --cpu 0.01 --memory 6m --pids 2 -e "print(1)"
expect "--cpu 0.01 --memory 6m --pids 2 run" '[ "$rc" = 0 ] && [ "$out" = 1 ]'
printf '{"pool":{"idleMs":15000},"defaults":{"memory":"133m"}}\n' >isol8.config.json
run --net bogus -e "print(1)"
expect "bad --net" '[ "$rc" = 2 ] && echo "$err" | grep -q -- "--net"'
run --env NOEQUALS -e "print(1)"
expect "bad --env" '[ "$rc" = 2 ] && echo "$err" | grep -q KEY=VALUE'
run --bogus-flag -e "print(1)"
expect "unknown flag" '[ "$rc" = 2 ]'
run -e "print(1)" -r bash extra.py
expect "-e and FILE together" '[ "$rc" = 2 ] && echo "$err" | grep -q "only one"'
printf 'x' >noext
run noext
expect "no extension, no runtime" '[ "$rc" = 2 ] && echo "$err" | grep -q -- "--runtime"'
run --image isol8/nonexistent:none -e "print(1)"
expect "missing image says to run isol8 setup" \
	'[ "$rc" = 4 ] && echo "$err" | grep -q "isol8 setup"'
"$ISOL8" frobnicate >/dev/null 2>"$work/err"
rc=$?
err=$(cat "$work/err")
expect "unknown command" '[ "$rc" = 2 ] && echo "$err" | grep -q frobnicate'
DOCKER_HOST=unix:///nonexistent.sock "$ISOL8" run -e "print(1)" >/dev/null 2>"$work/err"
rc=$?
err=$(cat "$work/err")
expect "Docker unreachable: exit 3 with the remedy" \
	'[ "$rc" = 3 ] && echo "$err" | grep -q "dockerd-up"'
DOCKER_HOST=unix:///nonexistent.sock "$ISOL8" setup >/dev/null 2>"$work/err"
rc=$?
err=$(cat "$work/err")
expect "isol8 setup without Docker: exit 3 with the remedy" \
	'[ "$rc" = 3 ] && echo "$err" | grep -q "start it"'
"$ISOL8" run --help >"$work/out"
expect "--help" 'grep -q -- "--timeout" "$work/out"'
sleep 1
after=$(mine)
expect "no container left behind ($before before, $after after)" \
	'[ "$after" -le "$before" ]'

finish
