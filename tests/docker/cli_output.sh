#!/bin/sh
# Output that cannot be delivered is a failure, said once: stdout to
# /dev/full or closed (>&-), --out /dev/full, a batch results file on a full
# disk or /dev/full, `config` and `--version` into /dev/full -- status 125
# and exactly one `cannot write` line; a reader that went away (| head -c1)
# -- status 141, no message, the run stopped (not run to its end).
. "$(dirname "$0")/lib.sh"

# said: how many `cannot write` lines stderr has.
said() { grep -c 'cannot write' "$work/err"; }

run -e 'print(1)' --out /dev/full
said_n=$(said)
expect "run --out /dev/full: 125, said once ($said_n)" '[ "$rc" = 125 ] && [ "$said_n" = 1 ]'

"$ISOL8" run -e 'print(1)' >/dev/full 2>"$work/err"
rc=$?
said_n=$(said)
expect "run >/dev/full: 125, said once ($said_n)" '[ "$rc" = 125 ] && [ "$said_n" = 1 ]'

"$ISOL8" run --json -e 'print(1)' >/dev/full 2>"$work/err"
rc=$?
said_n=$(said)
expect "run --json >/dev/full: 125, said once ($said_n)" '[ "$rc" = 125 ] && [ "$said_n" = 1 ]'

"$ISOL8" run -e 'print(1)' >&- 2>"$work/err"
rc=$?
said_n=$(said)
expect "run >&-: 125, said once ($said_n)" '[ "$rc" = 125 ] && [ "$said_n" = 1 ]'

# The program would print for 20 s; head takes one byte and goes.
t0=$(date +%s)
(
	"$ISOL8" run -e 'import time
for i in range(200):
    print("x" * 100, flush=True); time.sleep(0.1)' 2>"$work/err"
	echo $? >"$work/rc"
) | head -c1 >/dev/null
rc=$(cat "$work/rc")
secs=$(($(date +%s) - t0))
said_n=$(wc -l <"$work/err")
expect "run | head -c1: 141, nothing said, stopped early ($secs s)" \
	'[ "$rc" = 141 ] && [ "$said_n" = 0 ] && [ "$secs" -lt 15 ]'

"$ISOL8" config >/dev/full 2>"$work/err"
rc=$?
said_n=$(said)
expect "config >/dev/full: 125, said once ($said_n)" '[ "$rc" = 125 ] && [ "$said_n" = 1 ]'
"$ISOL8" --version >/dev/full 2>"$work/err"
rc=$?
said_n=$(said)
expect "--version >/dev/full: 125, said once ($said_n)" '[ "$rc" = 125 ] && [ "$said_n" = 1 ]'

python3 -c '
for i in range(30):
    print("{\"id\":\"o%d\",\"cmd\":\"echo %d\"}" % (i, i))' >jobs.jsonl
"$ISOL8" batch -q -c 4 -o /dev/full jobs.jsonl 2>"$work/err"
rc=$?
said_n=$(said)
expect "batch -o /dev/full: 125, said once ($said_n)" '[ "$rc" = 125 ] && [ "$said_n" = 1 ]'
"$ISOL8" batch -q -c 4 jobs.jsonl >/dev/full 2>"$work/err"
rc=$?
said_n=$(said)
expect "batch >/dev/full: 125, said once ($said_n)" '[ "$rc" = 125 ] && [ "$said_n" = 1 ]'
(
	"$ISOL8" batch -q -c 4 jobs.jsonl 2>"$work/err"
	echo $? >"$work/rc"
) | head -c1 >/dev/null
rc=$(cat "$work/rc")
said_n=$(wc -l <"$work/err")
expect "batch | head -c1: 141, nothing said" '[ "$rc" = 141 ] && [ "$said_n" = 0 ]'

# A full disk: a 16 KiB tmpfs takes a few results, then refuses.
mkdir full
if mount -t tmpfs -o size=16k tmpfs full 2>/dev/null; then
	python3 -c '
for i in range(60):
    print("{\"id\":\"f%d\",\"cmd\":\"yes x | head -c 2000\"}" % i)' >big.jsonl
	"$ISOL8" batch -q -c 4 -o full/res.jsonl big.jsonl 2>"$work/err"
	rc=$?
	said_n=$(said)
	ok=$(python3 -c '
import json
n = 0
for l in open("full/res.jsonl", "rb").read().split(b"\n")[:-1]:
    json.loads(l); n += 1
print(n)' 2>/dev/null)
	umount full
	expect "batch onto a full disk: 125, said once ($said_n), $ok whole results before" \
		'[ "$rc" = 125 ] && [ "$said_n" = 1 ] && [ -n "$ok" ]'
else
	echo "# skipped the full-disk case: cannot mount a tmpfs"
fi

finish
