#!/bin/sh
# The remote client without Docker, against stand-ins for `isol8 serve` on
# 127.0.0.1 (fake_serve.py): a server that takes the connection and says
# nothing, or stops mid-run, ends `run`, `batch` and `session ls --host`
# with exit 3 and "did not answer"/"stalled" within the bound (the stall
# timeout, from --stall-timeout or remote.stallTimeoutMs) instead of
# hanging; the configuration's remote.host and remote.key, their order
# (flag > environment > file; the file's key only to the file's host; an
# empty --host is local), the masked key in `isol8 config`, the warning
# for a key in a file others may read; --workdir goes on the wire.
# DOCKER_HOST points at no socket: a run that went local would exit 3
# with "Docker is not running", which the checks tell apart.
command -v python3 >/dev/null || {
	echo "1..0 # SKIP python3 is needed"
	exit 77
}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# serve MODE: a fake server in its own folder; its URL in $url.
serve() {
	d=$work/srv-$1
	mkdir -p "$d"
	python3 "$here/fake_serve.py" "$1" "$d" &
	pids="$pids $!"
	i=0
	while [ $i -lt 100 ] && [ ! -s "$d/port" ]; do
		sleep 0.1
		i=$((i + 1))
	done
	url=http://127.0.0.1:$(cat "$d/port")
}

# ---- a server that does not answer ----
serve silent
SILENT=$url
t "run --host, a silent server: exit 3, it did not answer, within the bound" \
	'[ "$rc" = 3 ] && err_has "the isol8 server at $SILENT did not answer: nothing came for 1000 ms"' \
	run --host "$SILENT" --key k --stall-timeout 1s -e 'print(1)'
serve stall
STALL=$url
t "run --host, a server that stops mid-run: exit 3, stalled, the output so far" \
	'[ "$rc" = 3 ] && err_has "stalled: nothing came for 1000 ms mid-run" && err_has "the run may have run" && [ "$(cat "$work/out")" = "so far" ]' \
	run --host "$STALL" --key k --stall-timeout 1000 -e 'print(1)'
t "--stall-timeout is checked: 0 is exit 2" \
	'[ "$rc" = 2 ] && err_has "--stall-timeout must be at least 1 ms"' \
	run --host "$STALL" --key k --stall-timeout 0 -e 'print(1)'
printf '%s\n' '{"id":"a","cmd":"echo 1"}' >jobs.jsonl
t "batch --host, a silent server: exit 3, the reason said" \
	'[ "$rc" = 3 ] && err_has "did not answer: nothing came for 1000 ms" && ! err_has "Docker is not running"' \
	batch -q --host "$SILENT" --key k --stall-timeout 1s jobs.jsonl
printf '{"remote":{"host":"%s","stallTimeoutMs":"1s","connectTimeoutMs":2000}}\n' \
	"$SILENT" >isol8.config.json
t "session ls, remote.host and remote.stallTimeoutMs from the file: exit 3" \
	'[ "$rc" = 3 ] && err_has "the isol8 server at $SILENT did not answer within 3000 ms"' \
	session ls --key k
t "run, the file's remote.stallTimeoutMs: the same bound" \
	'[ "$rc" = 3 ] && err_has "nothing came for 1000 ms"' run --key k -e 'print(1)'

# ---- remote.host and remote.key: their order ----
serve echo
ECHO=$url
printf '{"remote":{"host":"%s/","key":"file-key-0123456789"}}\n' "$ECHO" \
	>isol8.config.json
chmod 600 isol8.config.json
t "remote.host and remote.key from the file: the run is there, with its key" \
	'[ "$rc" = 0 ] && [ "$(cat "$work/out")" = "Bearer file-key-0123456789" ] && [ ! -s "$work/err" ]' \
	run -e 'print(1)'
ISOL8_API_KEY=env-key
export ISOL8_API_KEY
t "ISOL8_API_KEY over remote.key" \
	'[ "$rc" = 0 ] && [ "$(cat "$work/out")" = "Bearer env-key" ]' run -e 'print(1)'
t "--key over ISOL8_API_KEY" \
	'[ "$rc" = 0 ] && [ "$(cat "$work/out")" = "Bearer flag-key" ]' \
	run --key flag-key -e 'print(1)'
unset ISOL8_API_KEY
t "--host the same server but for the trailing /: the file's key goes" \
	'[ "$rc" = 0 ] && [ "$(cat "$work/out")" = "Bearer file-key-0123456789" ]' \
	run --host "$ECHO" -e 'print(1)'
t "--host another server: the file's key does not go to it (exit 2)" \
	'[ "$rc" = 2 ] && err_has "API key required" && err_has "for its remote.host only"' \
	run --host "$STALL" -e 'print(1)'
export ISOL8_HOST="$STALL"
t "ISOL8_HOST another server: the same" \
	'[ "$rc" = 2 ] && err_has "API key required"' run -e 'print(1)'
export ISOL8_HOST=
t "ISOL8_HOST=\"\": a local run, whatever the file says" \
	'[ "$rc" = 3 ] && err_has "Docker is not running"' run -e 'print(1)'
unset ISOL8_HOST
t "--host \"\": the same" \
	'[ "$rc" = 3 ] && err_has "Docker is not running"' run --host "" -e 'print(1)'
t "batch --host from the file: its key" \
	'[ "$rc" = 0 ] && out_has "Bearer file-key-0123456789"' batch -q jobs.jsonl
t "--workdir goes on the wire, resolved" \
	'[ "$rc" = 0 ] && grep -qF "\"workdir\":\"/sandbox/a/b\"" "$work/srv-echo/body"' \
	run --workdir a/x/../b -e 'print(1)'

# ---- isol8 config: the key masked ----
t "config: the host, the key masked, the timeouts" \
	'[ "$rc" = 0 ] && out_has "Remote Server" && out_has "$ECHO/ (the file)" && out_has "****6789 (the file)" && ! out_has "file-key" && out_has "Stall timeout:   45000ms"' \
	config
t "config --json: remote, the key masked" \
	'[ "$rc" = 0 ] && python3 -c "import json,sys; r=json.load(open(sys.argv[1]))[\"remote\"]; sys.exit(0 if r[\"key\"]==\"****6789\" and r[\"host\"]==sys.argv[2]+\"/\" and r[\"stallTimeoutMs\"]==45000 else 1)" "$work/out" "$ECHO" && ! out_has "file-key"' \
	config --json
export ISOL8_API_KEY=short
t "config: a short key from the environment: **** alone" \
	'[ "$rc" = 0 ] && out_has "Key:             **** (ISOL8_API_KEY)" && ! out_has short' config
unset ISOL8_API_KEY
"$ISOL8" config --json >cfg.json 2>/dev/null
t "a masked key read back: exit 2, the key itself is wanted" \
	'[ "$rc" = 2 ] && err_has "holds a masked key"' config --file cfg.json

# ---- a key in a file others may read ----
chmod 644 isol8.config.json
t "a key in a file others may read: one warning, the run goes on" \
	'[ "$rc" = 0 ] && err_has "\`remote.key\` is in a file other users may read or change (mode 0644): \`chmod 600 isol8.config.json\`" && [ "$(cat "$work/out")" = "Bearer file-key-0123456789" ]' \
	run -e 'print(1)'
t "... not with run --quiet" \
	'[ "$rc" = 0 ] && [ ! -s "$work/err" ]' run --quiet -e 'print(1)'
printf '{"remote":{"key":"k"}}\n' >isol8.config.json
t "remote.key without remote.host: exit 2" \
	'[ "$rc" = 2 ] && err_has "\`remote.key\` needs \`remote.host\`"' config
printf '{"remote":{"host":"ftp://x"}}\n' >isol8.config.json
t "remote.host not http(s): exit 2" \
	'[ "$rc" = 2 ] && err_has "\`remote.host\` must be an http:// or https:// URL"' config
printf '{"remote":{"stallTimeoutMs":"25h"}}\n' >isol8.config.json
t "remote.stallTimeoutMs over its bound: exit 2" \
	'[ "$rc" = 2 ] && err_has "\`remote.stallTimeoutMs\` must be at most 86400000 ms"' config
printf '{"remote":{"hots":"x"}}\n' >isol8.config.json
t "an unknown remote key: exit 2, named" \
	'[ "$rc" = 2 ] && err_has "unknown key \`remote.hots\`"' config

finish
