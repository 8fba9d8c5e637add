#!/bin/sh
# `isol8 run --install` and a batch job's `packages` end to end: the
# registries come from the configuration (packages.pipIndexUrl,
# packages.npmRegistry: a PEP 503 index and an npm registry this test
# serves on the host's loopback, pkg_index.py); a failed install exits 5
# with the installer's words (also with --json, whose `error` has them);
# a bad spec exits 2 before anything starts; installMs is reported.
. "$(dirname "$0")/lib.sh"

# The index serves until its stdin closes: a fifo this shell holds.
mkfifo idx.in
python3 "$(dirname "$0")/pkg_index.py" <idx.in >idx.port &
exec 9>idx.in
i=0
while [ ! -s idx.port ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat idx.port)
printf '{"pool":{"idleMs":15000},"packages":{"pipIndexUrl":"http://127.0.0.1:%s/simple","npmRegistry":"http://127.0.0.1:%s/npm/"}}\n' \
	"$port" "$port" >isol8.config.json

run --install isol8probe==2.0 -e 'import isol8probe; print(isol8probe.VALUE)'
expect "--install: installed first, from the configured index (exit $rc)" \
	'[ "$rc" = 0 ] && [ "$out" = "isol8probe 2.0" ]'

run --json --install isol8probe==1.0 -e 'import isol8probe; print(isol8probe.VALUE)'
inst=$(printf %s "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["installMs"])')
expect "--json reports installMs ($inst)" '[ "$rc" = 0 ] && [ "$inst" -gt 0 ]'

run --install isol8-nosuch -e 'print("RAN")'
expect "a failed install: exit 5, the package named, the code not run" \
	'[ "$rc" = 5 ] && echo "$err" | grep -q "isol8-nosuch" && ! echo "$out" | grep -q RAN'

run --json --install isol8-nosuch -e 'print("RAN")'
expect "--json: exit 5 too, the message in error" \
	'[ "$rc" = 5 ] && echo "$out" | grep -q "\"error\":\"installing python packages (isol8-nosuch)"'

run --install --index-url=http://evil/ -e 'print(1)'
expect "an option-looking spec is a usage error naming it" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q -- "--index-url=http://evil/"'

run -r bash --install jq --cmd 'jq --version'
expect "bash packages are refused at run time (setup bakes them)" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "isol8 setup --bash"'

printf '%s\n' \
	'{"id":"n","runtime":"node","code":"import p from \"isol8-probe\"; console.log(p.value)","packages":["isol8-probe@2.0.0"]}' \
	'{"id":"bad","runtime":"python","code":"print(1)","packages":["isol8-nosuch"]}' >jobs.jsonl
"$ISOL8" batch -q --order input jobs.jsonl >res.jsonl 2>batch.err
rc=$?
out=$(python3 -c '
import json
r = [json.loads(l) for l in open("res.jsonl")]
print(r[0]["stdout"].strip(), "|", "isol8-nosuch" in (r[1]["error"] or ""))')
expect "batch jobs carry packages: one installs, one fails as its error ($out)" \
	'[ "$rc" = 1 ] && [ "$out" = "isol8-probe 2.0.0 | True" ]'

exec 9>&-
finish
