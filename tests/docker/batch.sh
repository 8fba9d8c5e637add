#!/bin/sh
# isol8 batch end to end: mixed runtimes, timeouts, failures and bad lines
# in one file (each line exactly one result, errors with their line);
# files in and outputs back; --order input; resume after Ctrl-C gives
# exactly the missing results and leaves no container; --reuse leaks
# nothing between jobs; 300 jobs at 64 in flight, none lost, duplicated or
# misattributed.
. "$(dirname "$0")/lib.sh"

py() { python3 -c "$1" "$@"; }

cat >jobs.jsonl <<'JOBS'
{"id":"py","runtime":"python","code":"print('hello py')"}
{"id":"js","runtime":"node","code":"console.log('hello js')"}
{"id":"sh3","runtime":"bash","code":"echo out; echo err >&2; exit 3"}
{"id":"slow","runtime":"python","code":"while True: pass","timeout":500}
this is not json
{"id":"rt","runtime":"cobol","code":"x"}
{"id":"nofile","file":"missing.py"}
{"id":"py","runtime":"bash","code":"echo duplicate"}

{"id":"io","runtime":"python","code":"open('out.txt','w').write(open('in.txt').read().upper())","files":{"in.txt":"abc"},"outputs":["out.txt","none.txt"]}
{"id":"cmd","cmd":"echo via cmd","stdin":"ignored"}
JOBS
"$ISOL8" batch -q -c 4 jobs.jsonl >results.jsonl 2>batch.err
rc=$?
out=$(cat results.jsonl)
err=$(cat batch.err)
expect "bad lines make the batch exit 1, not stop it" '[ "$rc" = 1 ]'
expect "one result per non-blank line (10)" '[ "$(wc -l <results.jsonl)" = 10 ]'
check() {
	python3 - "$@" <<'PY'
import json, sys, base64
res = {}
errs = []
for line in open("results.jsonl"):
    r = json.loads(line)
    if r.get("error"):
        errs.append(r)
    else:
        res[r["id"]] = r
def die(msg):
    print(msg); sys.exit(1)
if res["py"]["stdout"] != "hello py\n" or res["py"]["exitCode"] != 0: die("py")
if res["js"]["stdout"] != "hello js\n": die("js")
sh = res["sh3"]
if (sh["exitCode"], sh["stdout"], sh["stderr"]) != (3, "out\n", "err\n"): die("sh3")
if not res["slow"]["timedOut"] or res["slow"]["durations"]["runMs"] > 1500: die("slow")
if res["cmd"]["stdout"] != "via cmd\n": die("cmd")
io = res["io"]["outputs"]
if base64.b64decode(io["out.txt"]["base64"]) != b"ABC": die("io out")
if "error" not in io["none.txt"]: die("io missing output")
byline = {e["line"]: e for e in errs}
want = {5: "malformed JSON", 6: "unknown runtime", 7: "missing.py", 8: "duplicate id"}
for ln, text in want.items():
    if ln not in byline or text not in byline[ln]["error"] or f"line {ln}" not in byline[ln]["error"]:
        die(f"line {ln}: {byline.get(ln)}")
if byline[8]["id"] != "py": die("dup id")
if len(errs) != 4: die(f"{len(errs)} errors")
PY
}
expect "every job's result is right; bad lines are errors with their line" check

# --order input: results come in input order although job 1 is slowest.
printf '%s\n' '{"id":"1","cmd":"sleep 0.6; echo 1"}' '{"id":"2","cmd":"echo 2"}' \
	'{"id":"3","cmd":"sleep 0.2; echo 3"}' '{"id":"4","cmd":"echo 4"}' >order.jsonl
"$ISOL8" batch -q -c 4 --order input order.jsonl >ordered.jsonl 2>/dev/null
out=$(python3 -c 'import json; print(" ".join(json.loads(l)["id"] for l in open("ordered.jsonl")))')
expect "--order input keeps input order ($out)" '[ "$out" = "1 2 3 4" ]'
"$ISOL8" batch -q -c 4 order.jsonl >completed.jsonl 2>/dev/null
out=$(python3 -c 'import json; print(" ".join(json.loads(l)["id"] for l in open("completed.jsonl")))')
expect "completion order by default ($out)" '[ "${out##* }" = 1 ]'

# Resume: interrupt a batch, then continue it into the same file.
python3 -c '
for i in range(24):
    print("{\"id\":\"r%d\",\"cmd\":\"sleep 0.3; echo %d\"}" % (i, i))' >resume.jsonl
"$ISOL8" batch -q -c 2 --output res.jsonl resume.jsonl 2>int.err &
pid=$!
sleep 2
kill -INT "$pid"
wait "$pid"
rc=$?
err=$(cat int.err) # shown if the check fails (sanitizer reports too)
sleep 1
left=$(docker ps -aq --filter "name=^/isol8-run-$pid-" | wc -l)
first=$(python3 -c 'import json; print(sum(1 for l in open("res.jsonl") if json.loads(l)["error"] is None))')
expect "Ctrl-C: exit 130, valid results ($first ran), no container left ($left)" \
	'[ "$rc" = 130 ] && python3 -c "import json; [json.loads(l) for l in open(\"res.jsonl\")]" && [ "$first" -gt 0 ] && [ "$first" -lt 24 ] && [ "$left" = 0 ]'
"$ISOL8" batch -q -c 4 --resume res.jsonl --output res.jsonl resume.jsonl 2>/dev/null
rc=$?
out=$(python3 -c '
import json, collections
ran = [json.loads(l) for l in open("res.jsonl")]
ok = [r["id"] for r in ran if r["error"] is None]
c = collections.Counter(ok)
print(len(c), max(c.values()), sorted(c) == sorted("r%d" % i for i in range(24)))')
expect "resume adds exactly the missing results ($out)" '[ "$rc" = 0 ] && [ "$out" = "24 1 True" ]'

# The writer killed mid-line leaves a torn last line; the file also has an
# error line of a job and a second line of another. --resume into the same
# file cuts the torn line (it used to glue the next result onto it, losing
# that job) and drops the extra lines: one whole line per job.
python3 - <<'PY'
lines = open("res.jsonl", "rb").read().split(b"\n")[:-1]
ok = [l for l in lines if b'"error":null' in l]
err = b'{"id":"r20","line":21,"error":"line 21: lost"}'
torn = ok[22][:40]
open("torn.jsonl", "wb").write(b"\n".join(ok[:20] + [err, ok[3]]) + b"\n" + torn)
PY
"$ISOL8" batch -q -c 4 --resume torn.jsonl --output torn.jsonl resume.jsonl 2>torn.err
rc=$?
err=$(cat torn.err)
out=$(python3 - <<'PY'
import json, collections
lines = open("torn.jsonl", "rb").read().split(b"\n")
whole = lines[-1] == b""
res, bad = [], 0
for l in lines[:-1]:
    try:
        res.append(json.loads(l))
    except ValueError:
        bad += 1
c = collections.Counter(r["id"] for r in res)
errs = sum(1 for r in res if r.get("error") is not None)
print(len(res), len(c), bad, errs, whole)
PY
)
expect "resume onto a torn line: one whole line per job ($out)" \
	'[ "$rc" = 0 ] && [ "$out" = "24 24 0 0 True" ]'

# --reuse: a later job in the same container sees nothing of the first.
# A warm container made meanwhile may take a job, so four look.
printf '%s\n' \
	'{"id":"plant","cmd":"echo s >/sandbox/s; echo s >/tmp/s; setsid sleep 60 & echo planted"}' \
	'{"id":"look1","cmd":"ls -A /sandbox; ls -A /tmp | grep -v .isol8; ps -e --no-headers | grep -c [s]leep; echo end"}' \
	'{"id":"look2","cmd":"ls -A /sandbox; ls -A /tmp | grep -v .isol8; ps -e --no-headers | grep -c [s]leep; echo end"}' \
	'{"id":"look3","cmd":"ls -A /sandbox; ls -A /tmp | grep -v .isol8; ps -e --no-headers | grep -c [s]leep; echo end"}' \
	'{"id":"look4","cmd":"ls -A /sandbox; ls -A /tmp | grep -v .isol8; ps -e --no-headers | grep -c [s]leep; echo end"}' \
	>reuse.jsonl
"$ISOL8" batch -q -c 1 --reuse --order input reuse.jsonl >reuse.out 2>/dev/null
out=$(python3 -c '
import json
r = [json.loads(l) for l in open("reuse.out")]
same = [x for x in r[1:] if x["containerId"] == r[0]["containerId"]]
clean = all(x["stdout"].split() == ["0", "end"] for x in r[1:])
print(len(r), len(same) > 0, clean)')
expect "--reuse: same container, nothing left from the job before ($out)" \
	'[ "$out" = "5 True True" ]'

# 300 jobs at 64 in flight: each prints its id and its stdin's checksum.
python3 -c '
import json, hashlib, os
for i in range(300):
    s = os.urandom(12).hex()
    print(json.dumps({"id": "j%d" % i, "runtime": "python", "stdin": s,
        "code": "import sys, hashlib; d = sys.stdin.read(); print(\"j%d\", hashlib.sha256(d.encode()).hexdigest())" % i}))
' >many.jsonl
"$ISOL8" batch -q -c 64 --reuse many.jsonl >many.out 2>/dev/null
out=$(python3 - <<'PY'
import json, hashlib
want = {}
for l in open("many.jsonl"):
    j = json.loads(l)
    want[j["id"]] = j["id"] + " " + hashlib.sha256(j["stdin"].encode()).hexdigest() + "\n"
got = [json.loads(l) for l in open("many.out")]
ids = [g["id"] for g in got]
bad = [g["id"] for g in got if g["error"] is not None or g["stdout"] != want[g["id"]]]
print(len(got), len(set(ids)), len(bad))
PY
)
expect "300 jobs at 64 in flight: none lost, duplicated or misattributed ($out)" \
	'[ "$out" = "300 300 0" ]'

finish
