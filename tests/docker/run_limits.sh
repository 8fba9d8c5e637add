#!/bin/sh
# Every limit is enforced, and each check fails if its enforcement is
# removed: timeout (whole tree, setsid children too), leftovers killed at
# exit, memory limit reported as such, fork bomb contained, output flood
# stopped at the cap, /sandbox size, config file precedence.
. "$(dirname "$0")/lib.sh"

run --timeout 1000 -e "while True: pass"
expect "infinite loop stops at --timeout (124, ${ms} ms)" \
	'[ "$rc" = 124 ] && [ "$ms" -lt 2500 ] && echo "$err" | grep -q "timed out"'

# A daemonised child holding stdout would keep the run open (and survive
# a kill of the process group): the whole sandbox user's tree must go.
run --timeout 1500 -r bash -e 'setsid nohup sleep 30 & sleep 30 & while :; do :; done'
expect "timeout kills setsid and background children (${ms} ms)" \
	'[ "$rc" = 124 ] && [ "$ms" -lt 3000 ]'
run -r bash -e 'setsid sleep 20 & (sleep 20 &) ; echo main done'
expect "leftovers holding stdout are killed at exit (${ms} ms)" \
	'[ "$rc" = 0 ] && [ "$out" = "main done" ] && [ "$ms" -lt 3000 ]'

run --memory 64m -e "
x = []
while True:
    x.append('a' * (16 << 20))
"
expect "memory bomb is reported as the memory limit (137)" \
	'[ "$rc" = 137 ] && echo "$err" | grep -q "memory limit" && ! echo "$err" | grep -q "timed out"'
run --memory 64m --json -e "x = 'a' * (256 << 20)"
expect "--json says oomKilled, not timedOut" \
	'echo "$out" | grep -q "\"oomKilled\":true" && echo "$out" | grep -q "\"timedOut\":false"'

run --pids 32 --timeout 3000 -r bash -e 'bomb() { bomb | bomb & }; bomb; sleep 10'
expect "fork bomb is contained by --pids and ended at the timeout" \
	'[ "$rc" = 124 ] && [ "$ms" -lt 6000 ]'
run --pids 32 -e "
import subprocess
procs = []
try:
    for i in range(100):
        procs.append(subprocess.Popen(['sleep', '30']))
    print('unlimited', len(procs))
except OSError:
    print('limited at', len(procs))
"
expect "--pids caps the process count (${out})" \
	'echo "$out" | grep -q "^limited at" && [ "${out##* }" -lt 32 ] && [ "$ms" -lt 5000 ]'
run -e "print('host fine')"
expect "the host is fine afterwards" '[ "$out" = "host fine" ]'

run -e "import sys; sys.stdout.write('x' * (200 << 20))"
bytes=$(wc -c <"$work/out")
expect "200 MB flood stopped at the 1 MiB cap (141, ${bytes} bytes, ${ms} ms)" \
	'[ "$rc" = 141 ] && [ "$bytes" = 1048576 ] && [ "$ms" -lt 5000 ]'
run --max-output 1k -r bash -e 'yes'
bytes=$(wc -c <"$work/out")
expect "--max-output 1k stops an endless producer" \
	'[ "$rc" = 141 ] && [ "$bytes" = 1024 ]'
run --max-output 10k --json -r bash -e 'yes err >&2'
expect "the cap counts stderr too; --json says truncated" \
	'echo "$out" | grep -q "\"truncated\":true"'

run --sandbox-size 8m -r bash -e 'head -c 20000000 /dev/zero > /sandbox/big; echo rc=$?; ls -l /sandbox/big | cut -d" " -f5'
expect "--sandbox-size is enforced" \
	'echo "$out" | grep -q "rc=1" && [ "$(echo "$out" | tail -n 1)" -le 8388608 ]'
run --tmp-size 4m -r bash -e 'head -c 10000000 /dev/zero > /tmp/big; echo rc=$?'
expect "--tmp-size is enforced" 'echo "$out" | grep -q "rc=1"'
run --cpu 0.5 -r bash -e 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max'
expect "--cpu sets the CFS quota" 'echo "$out" | grep -Eq "^50000"'

# Configuration file: it sets defaults, flags win.
printf '{"defaults":{"timeoutMs":800}}\n' >isol8.config.json
run -r bash -e 'sleep 3; echo late'
expect "config file timeout applies" '[ "$rc" = 124 ]'
run --timeout 5000 -r bash -e 'sleep 1; echo in-time'
expect "a flag overrides the config file" '[ "$rc" = 0 ] && [ "$out" = in-time ]'
printf '{"defaults":{"timeout":800}}\n' >isol8.config.json
run -e "print(1)"
expect "an unknown config key is an error naming it" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "defaults.timeout"'
default_config

finish
