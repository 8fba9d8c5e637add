#!/bin/sh
# Bad input: a clear message naming the problem and a non-zero exit, and
# no container left behind.
. "$(dirname "$0")/lib.sh"

before=$(docker ps -aq --filter label=org.isol8.managed 2>/dev/null | wc -l)
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
after=$(docker ps -aq --filter label=org.isol8.managed 2>/dev/null | wc -l)
expect "no container left behind ($before before, $after after)" \
	'[ "$after" -le "$before" ]'

finish
