#!/bin/sh
# Session kernels: variables persist between separate runs in python, node,
# bun and bash; exit codes, errors and stdin behave as in a fresh process;
# a timeout, exit or interrupt that ends an interpreter says so and the next
# run starts afresh with its files intact, while the session's other
# interpreters keep their state; nothing but the interpreters outlives a
# run; a planted link never redirects the kernel's stdin.
. "$(dirname "$0")/lib.sh"

s=kern$$
k() { run --session $s "$@"; }
# kin DATA ARGS...: like run, with DATA on stdin.
kin() {
	data=$1
	shift
	printf '%s' "$data" | "$ISOL8" run --session $s "$@" >"$work/out" 2>"$work/err"
	rc=$?
	out=$(cat "$work/out")
	err=$(cat "$work/err")
}

k -r python -e 'x = 41
def twice(v): return 2 * v
import os, json
os.chdir("/tmp")'
k -r python -e 'print(x + 1, twice(4), json.dumps([1]), os.getcwd())'
expect "python: variables, functions, imports and cwd persist" \
	'[ "$rc" = 0 ] && [ "$out" = "42 8 [1] /tmp" ]'

k -r node -e 'var a = 1; let b = 2; const c = 3; function f() { return a + b + c }'
k -r node -e 'console.log(f(), a, b, c)'
expect "node: var/let/const/function persist" '[ "$rc" = 0 ] && [ "$out" = "6 1 2 3" ]'
k -r node -e 'import { sep } from "node:path"; globalThis.g = sep + a; const t = await Promise.resolve(7); console.log(t)'
k -r node -e 'console.log(g)'
expect "node: module code (import, top-level await) runs; globalThis persists" \
	'[ "$rc" = 0 ] && [ "$out" = "/1" ]'

k -r bash -e 'cd /tmp; export EXP=e1; plain=p1; greet() { echo "hi $1"; }; alias ll="echo aliased"; shopt -s expand_aliases'
k -r bash -e 'greet you; echo "$EXP $plain $(pwd)"; ll'
expect "bash: cwd, exported and plain variables, functions, aliases persist" \
	'[ "$rc" = 0 ] && [ "$out" = "$(printf "hi you\ne1 p1 /tmp\naliased")" ]'

k -r bun -e 'let n: number = 5; interface P { v: number }; const p: P = { v: 2 }'
k -r bun -e 'console.log(n * p.v)'
expect "bun: TypeScript declarations persist" '[ "$rc" = 0 ] && [ "$out" = 10 ]'

# Exit codes and errors, with the state kept.
k -r python -e 'import sys; sys.exit(3)'
expect "python: sys.exit(3) exits 3" '[ "$rc" = 3 ] && [ -z "$err" ]'
k -r python -e 'raise ValueError("boom")'
expect "python: an exception exits 1 with its traceback (no kernel frames)" \
	'[ "$rc" = 1 ] && echo "$err" | grep -q "ValueError: boom" && ! echo "$err" | grep -q kernel.py'
k -r node -e 'process.exitCode = 4'
expect "node: process.exitCode is the exit code" '[ "$rc" = 4 ]'
k -r node -e 'setTimeout(() => { throw new Error("late") }, 50)'
expect "node: an error thrown later still fails the run (it ends when the loop is empty)" \
	'[ "$rc" = 1 ] && echo "$err" | grep -q "Error: late" && ! echo "$err" | grep -q kernel.cjs'
k -r bash -e 'return 6'
expect "bash: return sets the exit code" '[ "$rc" = 6 ]'
k -r python -e 'print(x)'
k2=$out
k -r node -e 'console.log(a)'
expect "exit codes and errors keep every interpreter's state" \
	'[ "$k2" = 41 ] && [ "$out" = 1 ]'

# stdin reaches the code whichever way it reads it.
kin 'in-py' -r python -e 'import sys; print(sys.stdin.read().upper())'
expect "python: stdin" '[ "$rc" = 0 ] && [ "$out" = IN-PY ]'
kin 'in-node' -r node -e 'console.log(require("fs").readFileSync(0, "utf8") + "!")'
r1=$out
kin 'in-node2' -r node -e 'let d = ""; process.stdin.on("data", c => d += c).on("end", () => console.log(d))'
expect "node: stdin as fd 0 and as process.stdin" \
	'[ "$r1" = "in-node!" ] && [ "$out" = in-node2 ]'
kin 'in-bash' -r bash -e 'read -r l; echo "got $l"; cat'
expect "bash: stdin" '[ "$rc" = 0 ] && [ "$out" = "got in-bash" ]'
kin '' -r python -e 'import sys; print(len(sys.stdin.read()))'
expect "empty stdin is an immediate EOF" '[ "$rc" = 0 ] && [ "$out" = 0 ]'

# What ends an interpreter, and what survives it.
k -r bash -e 'echo kept > /sandbox/file; sleep 300 & python3 -c "import time; time.sleep(300)" &'
k -r bash -e 'ps -eo args | grep -v grep | grep -c "sleep 300\|time.sleep(300)"'
expect "nothing but the interpreters outlives a run" '[ "$out" = 0 ]'
k --timeout 1000 -r python -e 'import time; time.sleep(30)'
expect "a timeout ends the python interpreter, with a notice" \
	'[ "$rc" = 124 ] && echo "$err" | grep -q "python interpreter ended (timed out)"'
k -r python -e 'print("x" in globals(), open("/sandbox/file").read().strip())'
expect "the next run is fresh (notice), its files intact" \
	'[ "$rc" = 0 ] && [ "$out" = "False kept" ] && echo "$err" | grep -q "fresh python interpreter"'
k -r node -e 'console.log(a)'
expect "the session's other interpreters keep their state" '[ "$out" = 1 ] && [ -z "$err" ]'
k -r bash -e 'greet again; exit 5'
expect "bash: exit ends the shell with its code and a notice" \
	'[ "$rc" = 5 ] && [ "$out" = "hi again" ] && echo "$err" | grep -q "exited with code 5"'
k -r bash -e 'type greet >/dev/null 2>&1 && echo still || echo gone'
expect "bash: the next shell is fresh" '[ "$out" = gone ]'
k --max-output 1000 -r python -e 'y = 1
while True: print("y" * 100)'
expect "the output cap ends the interpreter" \
	'[ "$rc" = 141 ] && echo "$err" | grep -q "output limit"'

# A secret is the run's: masked in its output, gone from the interpreter's
# environment afterwards (also when it started the interpreter).
s2=kern2$$
run --session $s2 --secret TOK=s3cr3t-v4lue -r python -e 'import os; print(os.environ["TOK"])'
r1=$out
run --session $s2 -r python -e 'import os; print(os.environ.get("TOK"))'
r2=$out
k --secret TOK2=an0ther-s3cret -r bash -e 'echo "$TOK2"'
r3=$out
k -r bash -e 'echo "[${TOK2-unset}]"'
expect "secrets stay in their run (python kernel started with one; bash)" \
	'[ "$r1" = "***" ] && [ "$r2" = None ] && [ "$r3" = "***" ] && [ "$out" = "[unset]" ]'
"$ISOL8" session rm $s2 >/dev/null

# What an interpreter writes between runs is nobody's output.
k -r python -e 'import threading, time, sys
def later():
    time.sleep(0.3)
    print("stray", flush=True)
threading.Thread(target=later, daemon=True).start()'
sleep 0.6
k -r python -e 'print("mine")'
expect "output written between runs does not reach the next run" '[ "$out" = mine ]'

# Ctrl-C interrupts the code: KeyboardInterrupt keeps python's state; an
# interpreter that ignores it is killed after the grace period.
k -r python -e 'z = 9'
"$ISOL8" run --session $s -r python -e 'import time; time.sleep(30)' >/dev/null 2>&1 &
sleep 1.5
kill -INT $!
wait $!
k -r python -e 'print(z)'
expect "Ctrl-C raises KeyboardInterrupt in python; its state is kept" \
	'[ "$rc" = 0 ] && [ "$out" = 9 ]'
"$ISOL8" run --session $s -r python -e 'import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
time.sleep(30)' >/dev/null 2>&1 &
sleep 1.5
kill -INT $!
wait $!
k -r python -e 'print("z" in globals())'
expect "an interpreter that ignores Ctrl-C is killed within the grace period" \
	'[ "$rc" = 0 ] && [ "$out" = False ] && [ "$ms" -lt 10000 ]'

# The kernel's stdin FIFO is made afresh by the agent: a link planted in
# its place is removed, never followed.
k -r bash -e 'echo orig > /sandbox/victim; ln -sf /sandbox/victim /tmp/.isol8/stdin'
kin 'through' -r python -e 'import sys; print(sys.stdin.read())'
r1=$out
k -r bash -e 'cat /sandbox/victim'
expect "a link planted at the kernel's stdin is replaced, not followed" \
	'[ "$r1" = through ] && [ "$out" = orig ]'

# The kernel's reply descriptor (fd 4) is reachable by the code it runs:
# replies forged there never decide another run's result. The attack of
# issue 14: replies for this run and the next (sequence numbers were
# 1, 2, 3...), then late output. Run 2 must run its own code and report
# its own output and exit code; run 3 works.
s3=forge$$
f() { run --session $s3 "$@"; }
f -r bash -e 's=${__isol8_nonce:-$__isol8_seq}
case $s in *[!0-9]* | "") n=x ;; *) n=$((s + 1)) ;; esac
printf "D %s 0\nD %s 0\n" "$s" "$n" >&4
sleep 2
echo late1'
f -r bash -e 'echo mine2; return 3'
r2=$out c2=$rc
f -r bash -e 'echo three'
expect "bash: replies forged on fd 4 do not end the next run (its own output and code)" \
	'[ "$r2" = mine2 ] && [ "$c2" = 3 ] && [ "$rc" = 0 ] && [ "$out" = three ]'
# own: the kernel's own nonce (or sequence number), found in its frame.
own='import os, sys
f = sys._getframe(1).f_locals
s = f.get("nonce", f.get("seq"))
own = s if isinstance(s, bytes) else str(s).encode()'
f -r python -e "$own"'
n = s + 1 if isinstance(s, int) else "x"
os.write(4, b"D %s 0\nD %s 0\n" % (own, str(n).encode()))
import time
time.sleep(2)
print("late1")'
f -r python -e 'print("mine2"); raise SystemExit(4)'
r2=$out c2=$rc
f -r python -e 'print("three")'
expect "python: os.write(4, ...) forgeries do not end the next run" \
	'[ "$r2" = mine2 ] && [ "$c2" = 4 ] && [ "$rc" = 0 ] && [ "$out" = three ]'

# The run's own reply, forged early with its real nonce: the code that
# goes on is still that run's (its late output, its timeout) and its
# interpreter, caught replying twice, is ended.
f -r python -e "$own"'
import time
os.write(4, b"D %s 0\n" % own)
time.sleep(1.5)
print("late1")'
r1=$out c1=$rc e1=$err
f -r python -e 'print("mine2")'
expect "python: output after a forged early reply is its own run's, not the next's" \
	'[ "$r1" = late1 ] && [ "$c1" = 137 ] && [ "$out" = mine2 ] && [ "$rc" = 0 ] &&
	echo "$e1" | grep -q "interpreter was ended.*fd 4" && echo "$err" | grep -q "fresh python"'
f --timeout 2000 -r python -e "$own"'
os.write(4, b"D %s 0\n" % own)
while True: pass'
c1=$rc
f -r python -e 'print("mine2")'
expect "python: a forged early reply does not escape the run's timeout" \
	'[ "$c1" = 124 ] && [ "$out" = mine2 ] && [ "$rc" = 0 ]'

# What a thread writes to fd 4 between runs is discarded before the next
# request: it is never taken for that run's reply.
f -r python -e 'import os, threading, time
threading.Thread(target=lambda: (time.sleep(0.1), os.write(4, b"D 0 0\nS x\n")), daemon=True).start()
keep = 1'
sleep 2
f -r python -e 'print("keep" in globals())'
expect "replies written between runs are dropped, the interpreter kept" \
	'[ "$rc" = 0 ] && [ "$out" = True ]'
"$ISOL8" session rm $s3 >/dev/null

# A run's peak memory is its own, not the interpreter's since it started.
peak() { python3 -c 'import json, sys; print(json.load(sys.stdin)["peakRssKb"])'; }
k --json -r python -e 'big = bytearray(150 << 20); del big'
p1=$(printf '%s' "$out" | peak)
k --json -r python -e 'print(1)'
p2=$(printf '%s' "$out" | peak)
expect "a kernel run reports its own peak memory" \
	'[ "$p1" -gt 150000 ] && [ "$p2" -lt 100000 ]'

# A FIFO planted where the next run's code goes never blocks the agent.
k -r bash -e 'rm -f /tmp/.isol8/main.py; mkfifo /tmp/.isol8/main.py'
k --timeout 5000 -r python -e 'print("after fifo")'
r1=$rc e1=$err
k -r bash -e 'echo alive'
expect "a planted FIFO fails a file transfer, not the session" \
	'[ "$r1" != 0 ] && [ "$r1" != 124 ] && echo "$e1" | grep -q "not a regular file" &&
	[ "$rc" = 0 ] && [ "$out" = alive ]'

"$ISOL8" session rm $s >/dev/null
finish
