#!/bin/sh
# isol8 run, the basics in every runtime: hello world, exit codes, stderr
# kept separate, files by extension (.cjs stays CommonJS), piped stdin,
# --stdin, --out while streaming, streaming as it happens, --json, the
# SKILL.md "Execute Code" and "File I/O" examples as written.
. "$(dirname "$0")/lib.sh"

run -e "print('Hello')" --runtime python
expect "python hello world" '[ "$rc" = 0 ] && [ "$out" = Hello ]'
run -e "console.log('JS')" --runtime node
expect "node hello world" '[ "$rc" = 0 ] && [ "$out" = JS ]'
run -e "console.log('TS')" --runtime bun
expect "bun hello world" '[ "$rc" = 0 ] && [ "$out" = TS ]'
run -e "console.log('Deno')" --runtime deno
expect "deno hello world" '[ "$rc" = 0 ] && [ "$out" = Deno ]'
run -e "echo hi from bash" --runtime bash
expect "bash hello world" '[ "$rc" = 0 ] && [ "$out" = "hi from bash" ]'

run -e "import sys; sys.exit(3)"
expect "python exit code" '[ "$rc" = 3 ]'
run -r node -e "process.exit(4)"
expect "node exit code" '[ "$rc" = 4 ]'
run -r bun -e "process.exit(5)"
expect "bun exit code" '[ "$rc" = 5 ]'
run -r deno -e "Deno.exit(6)"
expect "deno exit code" '[ "$rc" = 6 ]'
run -r bash -e "exit 7"
expect "bash exit code" '[ "$rc" = 7 ]'
run -r bash -e 'kill -TERM $$'
expect "death by signal is 128+n" '[ "$rc" = 143 ]'

run -r bash -e "echo to-out; echo to-err >&2"
expect "stderr is separate" '[ "$out" = to-out ] && [ "$err" = to-err ]'
run -e "raise ValueError('bad')"
expect "python traceback on stderr" \
	'[ "$rc" = 1 ] && [ -z "$out" ] && echo "$err" | grep -q ValueError'

printf 'print("from a file")\n' >script.py
run ./script.py
expect "runtime from .py" '[ "$rc" = 0 ] && [ "$out" = "from a file" ]'
printf 'const x: number = 41; console.log(x + 1)\n' >t.ts
run t.ts
expect "runtime from .ts (bun)" '[ "$out" = 42 ]'
printf 'console.log(typeof require === "function" ? "cjs" : "esm")\n' >m.cjs
run m.cjs
expect ".cjs stays CommonJS" '[ "$out" = cjs ]'
printf 'console.log(typeof require === "function" ? "cjs" : "esm")\n' >m.mjs
run m.mjs
expect ".mjs is ESM" '[ "$out" = esm ]'
printf 'const n: number = 2; console.log(n * 21)\n' >d.mts
run d.mts
expect "runtime from .mts (deno)" '[ "$out" = 42 ]'
printf 'echo "args: $#"\n' >s.sh
run s.sh
expect "runtime from .sh" '[ "$out" = "args: 0" ]'

printf 'a,b\n1,2\n3,4\n' >data.csv
out=$(cat data.csv | "$ISOL8" run -e \
	"import sys; print(len(sys.stdin.readlines()))" --runtime python)
rc=$?
expect "SKILL example: piped stdin" '[ "$rc" = 0 ] && [ "$out" = 3 ]'
out=$("$ISOL8" run -r bash -e 'wc -c' <data.csv)
expect "stdin from a regular file" '[ "$out" = 12 ]'
head -c 3000000 /dev/zero | tr '\0' x >big.txt
out=$("$ISOL8" run -r bash -e 'wc -c' <big.txt)
expect "3 MB of stdin arrives whole" '[ "$out" = 3000000 ]'
out=$(printf 'line1\nline2\n' | "$ISOL8" run -r node -e \
	"let d='';process.stdin.on('data',c=>d+=c).on('end',()=>console.log(d.split('\\n').length-1))")
expect "node reads piped stdin" '[ "$out" = 2 ]'
run --stdin "hello" -r bash -e 'read x; echo "got $x"'
expect "--stdin" '[ "$out" = "got hello" ]'

printf 'import json\nprint(json.dumps({"ok": True}))\n' >script2.py
run script2.py --out results.json
expect "SKILL example: --out writes stdout and still streams" \
	'[ "$rc" = 0 ] && [ "$(cat results.json)" = "{\"ok\": true}" ] && [ "$out" = "{\"ok\": true}" ]'
run -e "grep -r 'TODO' ." --runtime bash
expect "SKILL example: grep in an empty /sandbox (no match: 1)" \
	'[ "$rc" = 1 ] && [ -z "$out" ]'
run -r bash -e 'pwd; ls -A /sandbox | wc -l'
expect "the working directory is /sandbox, and empty" \
	'[ "$(echo "$out" | head -n 1)" = /sandbox ] && [ "$(echo "$out" | tail -n 1)" = 0 ]'

# Streaming: each line must reach us while the program still runs.
"$ISOL8" run -e "
import time
for i in range(3):
    print(i, flush=True)
    time.sleep(0.4)
" | while read -r line; do echo "$line $(date +%s%N)"; done >stamps
t0=$(sed -n 1p stamps | cut -d' ' -f2)
t2=$(sed -n 3p stamps | cut -d' ' -f2)
gap=$(((t2 - t0) / 1000000))
out=$(cut -d' ' -f1 stamps | tr '\n' ' ')
expect "output streams as produced (lines 0..2, ${gap} ms apart)" \
	'[ "$out" = "0 1 2 " ] && [ "$gap" -ge 600 ]'

run --json -e "print('j'); import sys; print('e', file=sys.stderr); sys.exit(2)"
expect "--json result object" \
	'[ "$rc" = 2 ] && printf %s "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); assert d[\"stdout\"]==\"j\\n\" and d[\"stderr\"]==\"e\\n\" and d[\"exitCode\"]==2 and d[\"timedOut\"] is False and d[\"peakRssKb\"]>0, d"'

run --env GREETING=hi -r bash -e 'echo $GREETING $HOME $(id -u)'
expect "--env, HOME=/sandbox, uid 1000" '[ "$out" = "hi /sandbox 1000" ]'

finish
