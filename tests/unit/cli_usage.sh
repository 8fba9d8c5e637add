#!/bin/sh
# Usage errors of every numeric flag, configuration key and batch job
# field: exit 2 (a job: its error result) with a message naming the flag,
# key or field and the bound. They need no Docker, and this test proves it:
# DOCKER_HOST points at no socket, so anything that reached Docker would
# exit 3 instead. Labelled unit: it runs where there is no dockerd at all.
. "$(dirname "$0")/lib.sh"
cores=$(nproc)

# The flags of run (and batch, which shares them).
usage "--cpu wants a number of CPUs" run --cpu nan -e 1
usage "--cpu wants a number of CPUs" run --cpu NaN -e 1
usage "--cpu wants a number of CPUs" run --cpu inf -e 1
usage "--cpu wants a number of CPUs" run --cpu -0 -e 1
usage "--cpu wants a number of CPUs" run --cpu -1 -e 1
usage "--cpu wants a number of CPUs" run --cpu 0x1 -e 1
usage "--cpu wants a number of CPUs" run --cpu ' 1' -e 1
usage "--cpu wants a number of CPUs" run --cpu '' -e 1
usage "--cpu must be at least 0.01 (Docker's minimum" run --cpu 0.001 -e 1
usage "--cpu must be at least 0.01" run --cpu 0.0099 -e 1
usage "--cpu must be at most $cores (the CPUs of this machine), got \`$((cores + 1))\`" \
	run --cpu $((cores + 1)) -e 1
usage "--cpu must be at most" run --cpu 1e30 -e 1
usage "--memory must be at least 6m (Docker's minimum), got \`1k\`" \
	run --memory 1k -e 1
usage "--memory must be at least 6m" run --memory 6291455 -e 1
usage "--memory must be at most 1024t" run --memory 99999999999g -e 1
usage "--memory wants a size" run --memory 12abc -e 1
usage "--memory wants a size" run --memory 0x10m -e 1
usage "--memory wants a size" run --memory '5m ' -e 1
usage "--memory wants a size" run --memory '' -e 1
usage "--memory wants a size" run --memory -5m -e 1
usage "--timeout must be at most 86400000 ms" run --timeout 1e30 -e 1
usage "--timeout must be at most" run --timeout 86400001 -e 1
usage "--timeout must be at least 1 ms" run --timeout 0 -e 1
usage "--timeout wants milliseconds" run --timeout 12abc -e 1
usage "--timeout wants milliseconds" run --timeout -5 -e 1
usage "--pids must be at most 4194304" run --pids 9223372036854775808 -e 1
usage "--pids must be at least 2" run --pids 1 -e 1
usage "--pids wants a whole number" run --pids 1.5 -e 1
usage "--pids wants a whole number" run --pids-limit -1 -e 1
usage "--sandbox-size must be at least 4k" run --sandbox-size 1 -e 1
usage "--tmp-size must be at most 1024t" run --tmp-size 1025t -e 1
usage "--max-output must be at least 1" run --max-output 0 -e 1
usage "--max-output wants a size" run --max-output 1x -e 1
usage "--cpu must be at least 0.01" batch --cpu 0.001 -
usage "--memory must be at least 6m" batch --memory 1k -
usage "--concurrency wants a whole number" batch -c 0x10 -

# Code the limits cannot hold: refused by the engine, before Docker.
head -c 5000 /dev/zero | tr '\0' '#' >big.py
usage "larger than \`sandbox_size\`" run --sandbox-size 4k big.py
usage "does not fit in \`tmp_size\`" run --tmp-size 4k big.py

# The configuration file: the same table, the key named.
config() { printf '%s\n' "$1" >isol8.config.json; }
config '{"defaults":{"cpu":0.001}}'
usage "\`defaults.cpu\` must be at least 0.01" run -e 1
config '{"defaults":{"cpu":"nan"}}'
usage "\`defaults.cpu\` wants a number of CPUs" config
config '{"defaults":{"memory":"1k"}}'
usage "\`defaults.memory\` must be at least 6m" config
config '{"defaults":{"timeoutMs":1e30}}'
usage "\`defaults.timeoutMs\` must be at most" config
config '{"defaults":{"pids":9223372036854775808}}'
usage "\`defaults.pids\` must be at most" config
config '{"pool":{"idleMs":0}}'
usage "\`pool.idleMs\` must be at least 1 ms" config
config '{"maxConcurrent":4097}'
usage "\`maxConcurrent\` must be at most 4096" config
config '{"defaults":{"cpu":0.5,"memory":"6m","timeoutMs":"30s","pids":2}}'
"$ISOL8" config --json >"$work/out" 2>"$work/err"
rc=$?
if [ "$rc" = 0 ] && grep -q '"timeoutMs":30000,"memory":"6m","memoryLimit":"6m","cpu":0.5,"cpuLimit":0.5,"pids":2' "$work/out"; then
	pass "valid limits load"
else
	fail "valid limits load"
fi
rm -f isol8.config.json

# Job fields: each bad line is its own error result naming the field.
printf '%s\n' '{"id":"a","code":"1","cpu":0.001}' \
	'{"id":"b","code":"1","memory":"5m"}' \
	'{"id":"c","code":"1","pids":1}' \
	'{"id":"d","code":"1","timeout":1e30}' \
	'{"id":"e","code":"1","cpu":"nan"}' >jobs.jsonl
"$ISOL8" batch jobs.jsonl >"$work/out" 2>"$work/err"
rc=$?
for want in '"a".*`cpu` must be at least 0.01' '"b".*`memory` must be at least 6m' \
	'"c".*`pids` must be at least 2' '"d".*`timeout` must be at most' \
	'"e".*`cpu` wants a number of CPUs'; do
	if [ "$rc" = 1 ] && grep -q "$want" "$work/out"; then
		pass "batch job: $want"
	else
		fail "batch job: $want"
	fi
done

finish
