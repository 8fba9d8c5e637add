#!/bin/sh
# isol8 bench: the JSON has every figure, with the baselines (and the
# runs through an isol8 serve it starts, with their overhead); --check
# passes under a generous threshold and fails, naming the runtime and the
# figure, under an impossible one.
. "$(dirname "$0")/lib.sh"

"$ISOL8" bench -r bash -n 3 -c 2 --json --check --max-p50 10000 \
	>bench.json 2>bench.err
rc=$?
out=$(cat bench.json)
err=$(cat bench.err)
expect "bench --json --check (generous) exits 0" '[ "$rc" = 0 ]'
expect "bench JSON carries isol8 and baseline figures" \
	'python3 - bench.json <<PY
import json, sys
d = json.load(open(sys.argv[1]))
b = d["runtimes"]["bash"]
for m in ("cold", "warm", "ttfb", "cli", "remote", "api_exec", "docker_exec", "docker_run"):
    assert b[m]["n"] > 0 and b[m]["p50"] > 0, m
o = b["remote_overhead"]
assert o["n"] == b["remote"]["n"] and o["errors"] == 0 and 0 <= o["p50"] < b["remote"]["p50"]
assert b["warm"]["p50"] < b["cold"]["p50"]
tp = d["throughput"]
assert len(tp) == 2 and {t["reuse"] for t in tp} == {True, False}
assert all(t["jobs_per_s"] > 0 and t["latency"]["errors"] == 0 for t in tp)
assert d["peak_rss_kb"] > 0
PY'
"$ISOL8" bench -r bash -n 3 -c 0 --check --max-p50 1 >/dev/null 2>bench.err
rc=$?
err=$(cat bench.err)
expect "bench --check fails over the threshold, naming runtime and figure" \
	'[ "$rc" = 1 ] && echo "$err" | grep -q "bash warm p50 is .* over 1 ms"'
"$ISOL8" bench -r cobol >/dev/null 2>bench.err
rc=$?
expect "bench rejects an unknown runtime" '[ "$rc" = 2 ]'

finish
