#!/bin/sh
# Persistent sessions: the SKILL.md example verbatim; state across
# runtimes; concurrent creation of one session ends in one container;
# other limits are a clear error; expiry; file transfers confined to
# /sandbox (traversal and symlinks planted by sandboxed code refused, host
# links never followed); session ls/rm; cleanup removes every isol8
# container and nothing else.
. "$(dirname "$0")/lib.sh"

"$ISOL8" session rm default >/dev/null 2>&1
out=$("$ISOL8" run --persistent -e "echo 'secret' > /tmp/data" --runtime bash 2>&1)
rc=$?
out=$("$ISOL8" run --persistent -e "cat /tmp/data" --runtime bash 2>&1)
expect "SKILL.md: state persists between separate invocations" \
	'[ "$rc" = 0 ] && [ "$out" = secret ]'
run --persistent -r python -e "print(open('/tmp/data').read().strip().upper())"
expect "a session serves every runtime (python reads what bash wrote)" \
	'[ "$out" = SECRET ]'
run --persistent -r bash -e 'sleep 300 & echo started'
run --persistent -r bash -e 'ps -e --no-headers | grep -c "[s]leep 300"'
expect "processes do not outlive their run, files do" '[ "$out" = 0 ]'

s=race$$
for i in 1 2 3 4; do
	"$ISOL8" run --session $s --json -r bash -e "echo $i" >race.$i 2>&1 &
done
wait
ids=$(cat race.* | sed -n 's/.*"containerId":"\([0-9a-f]*\)".*/\1/p' | sort -u)
oks=$(grep -l '"exitCode":0' race.* | wc -l)
expect "4 processes creating one session at once share one container" \
	'[ "$oks" = 4 ] && [ "$(echo "$ids" | wc -l)" = 1 ] && [ -n "$ids" ]'
run --session $s --memory 256m -r bash -e 'echo x'
expect "asking a session for other limits is a clear error" \
	'[ "$rc" = 2 ] && echo "$err" | grep -q "other limits"'
out=$("$ISOL8" session ls --json)
expect "session ls lists it" 'echo "$out" | grep -q "\"name\":\"$s\""'
"$ISOL8" session rm $s >/dev/null
run --session $s -r bash -e 'ls -A /sandbox | wc -l; echo made > keep'
expect "after session rm the session starts afresh" '[ "$out" = 0 ]'

# Files: in with --files (links skipped), back with --get, escapes refused.
mkdir -p proj/d && echo data >proj/d/f.txt && ln -s /etc/passwd proj/passwd-link
run --session $s --files proj -r bash -e 'ls -A /sandbox /sandbox/d | tr "\n" " "'
expect "--files copies regular files and never follows a host link" \
	'echo "$out" | grep -q "f.txt" && ! echo "$out" | grep -q passwd-link'
run --session $s -r bash -e 'ln -s /etc/passwd /sandbox/link; echo ok' --get link:stolen
expect "--get refuses a symlink planted by sandboxed code" \
	'[ "$rc" = 1 ] && [ ! -e stolen ] && echo "$err" | grep -q "cannot read"'
run --session $s -r bash -e 'true' --get ../etc/passwd:stolen
expect "--get refuses .. traversal" '[ "$rc" = 2 ] && [ ! -e stolen ]'
run --session $s -r bash -e 'true' --get /etc/passwd:stolen
expect "--get refuses paths outside /sandbox and /tmp" '[ "$rc" = 2 ] && [ ! -e stolen ]'
ln -s /tmp/isol8-not-here hostlink
run --session $s -r bash -e 'echo x > /sandbox/o' --get o:hostlink
expect "--get never writes through a local link" \
	'[ "$rc" = 1 ] && [ ! -e /tmp/isol8-not-here ]'
run --session $s -r bash -e 'head -c 100000 /dev/urandom > big; sha256sum big | cut -c1-64' --get big:big.bin
expect "--get brings a file back intact" \
	'[ "$rc" = 0 ] && [ "$(sha256sum big.bin | cut -c1-64)" = "$out" ]'

# Expiry, enforced by the agent: no isol8 process needed.
printf '{"session":{"idleMs":2000},"pool":{"idleMs":15000}}\n' >isol8.config.json
run --session exp$$ -r bash -e 'echo hi'
sleep 4.5
expect "an idle session expires by itself" \
	'! docker inspect isol8-session-exp$$ >/dev/null 2>&1'
default_config

# cleanup: every isol8 container goes, a foreign one stays.
foreign=$(docker create --label isol8.test.foreign=1 isol8/bash:latest true)
run --session $s -r bash -e 'true'
# Those that were there before: on a shared dockerd others make more.
docker ps -aq --no-trunc --filter label=org.isol8.kind >before.ids
"$ISOL8" cleanup --force >/dev/null 2>&1
rc=$?
left=$(docker ps -aq --no-trunc --filter label=org.isol8.kind |
	grep -c -F -x -f before.ids)
expect "cleanup leaves no isol8 container ($left) and the foreign one intact" \
	'[ "$rc" = 0 ] && [ "$left" = 0 ] && docker inspect "$foreign" >/dev/null 2>&1'
docker rm -f "$foreign" >/dev/null 2>&1

finish
