#!/bin/sh
# Batch throughput, with baselines measured in the same run:
#  1. N trivial python jobs through `isol8 batch --reuse` and one-use;
#  2. the same program through `docker run --rm` (sequential, and 8 at a
#     time) and through exec on a running container via the Docker API
#     (from `isol8 bench`);
#  3. M jobs at 64 in flight, each printing its id and the SHA-256 of its
#     own stdin: every result is checked (lost, duplicated, misattributed).
#
#   bench/batch.sh            # N=1000 M=5000
#   N=200 M=500 bench/batch.sh
set -eu
cd "$(dirname "$0")/.."
isol8=${ISOL8:-$PWD/build/isol8}
n=${N:-1000}
m=${M:-5000}
w=$(mktemp -d /tmp/isol8-bench.XXXXXX)
trap 'rm -rf "$w"' EXIT

python3 -c "
import json
for i in range($n):
    print(json.dumps({'id': 'b%d' % i, 'runtime': 'python', 'code': 'print(%d)' % i}))
" >"$w/jobs.jsonl"

rate() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('%.1f jobs/s, p50 %.0f ms, p99 %.0f ms, %d errors' % (d['jobsPerSecond'], d['latencyMs']['p50'], d['latencyMs']['p99'], d['errors']))" "$1"; }

echo "== $n python jobs, isol8 batch --reuse -c 16"
"$isol8" batch -q --reuse -c 16 --json-summary "$w/jobs.jsonl" >/dev/null 2>"$w/reuse.json"
echo "   $(rate "$w/reuse.json")"
echo "== $n python jobs, isol8 batch (one-use) -c 16"
"$isol8" batch -q -c 16 --json-summary "$w/jobs.jsonl" >/dev/null 2>"$w/oneuse.json"
echo "   $(rate "$w/oneuse.json")"

echo "== baseline: docker run --rm (40 sequential, 80 with 8 at a time)"
s=$(date +%s%N)
for i in $(seq 40); do docker run --rm --network none -u 1000 isol8/python:latest python3 -c "print($i)" >/dev/null; done
e=$(date +%s%N)
echo "   sequential: $(python3 -c "print('%.1f' % (40e9 / ($e - $s)))") jobs/s"
s=$(date +%s%N)
seq 80 | xargs -P 8 -I{} docker run --rm --network none -u 1000 isol8/python:latest python3 -c "print({})" >/dev/null
e=$(date +%s%N)
echo "   8 at a time: $(python3 -c "print('%.1f' % (80e9 / ($e - $s)))") jobs/s"
echo "== baseline: exec via the Docker API on a running container (sequential)"
"$isol8" bench -r python -n 40 -c 0 --json >"$w/bench.json" 2>/dev/null
python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['runtimes']['python']['api_exec']; print('   p50 %.1f ms = %.1f jobs/s' % (d['p50'], 1000 / d['p50']))" "$w/bench.json"

echo "== $m jobs at 64 in flight (--reuse), each checked"
python3 -c "
import json, os
for i in range($m):
    s = os.urandom(12).hex()
    print(json.dumps({'id': 'j%d' % i, 'runtime': 'python', 'stdin': s,
        'code': 'import sys, hashlib; print(\"j%d\", hashlib.sha256(sys.stdin.read().encode()).hexdigest())' % i}))
" >"$w/many.jsonl"
"$isol8" batch -q --reuse -c 64 --json-summary "$w/many.jsonl" >"$w/many.out" 2>"$w/many.json"
echo "   $(rate "$w/many.json")"
python3 - "$w/many.jsonl" "$w/many.out" <<'PY'
import json, hashlib, sys
want = {}
for l in open(sys.argv[1]):
    j = json.loads(l)
    want[j["id"]] = j["id"] + " " + hashlib.sha256(j["stdin"].encode()).hexdigest() + "\n"
got = [json.loads(l) for l in open(sys.argv[2])]
ids = [g["id"] for g in got]
lost = len(set(want) - set(ids))
dup = len(ids) - len(set(ids))
wrong = sum(1 for g in got if g["error"] is None and g["stdout"] != want[g["id"]])
err = sum(1 for g in got if g["error"] is not None)
print(f"   results {len(got)}/{len(want)}: lost {lost}, duplicated {dup}, misattributed {wrong}, errors {err}")
sys.exit(1 if lost or dup or wrong or err else 0)
PY
