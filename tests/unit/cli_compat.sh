#!/bin/sh
# What the original isol8's users rely on, without Docker (docs/compat.md):
# `--version` prints the bare version; no arguments is the help, exit 0;
# help headings; global --debug; the original's configuration file loads
# (its names as aliases of ours, its keys that mean nothing here a warning
# each) and `config` prints it in the original's layout and shape; the
# flags the original's scripts pass are accepted and listed in run --help.
. "$(dirname "$0")/lib.sh"
# json EXPR: a Python expression over the JSON object c on stdout.
json() { python3 -c "import json,sys; c=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$work/out"; }

t "--version: the bare version" \
	'[ "$rc" = 0 ] && grep -qxE "[0-9]+\.[0-9]+\.[0-9]+" "$work/out"' --version
t "-V: the same" '[ "$rc" = 0 ] && grep -qxE "[0-9]+\.[0-9]+\.[0-9]+" "$work/out"' -V
t "no arguments: the help on stdout, exit 0" \
	'[ "$rc" = 0 ] && out_has "Usage: isol8" && out_has "Commands:"'
t "--help: Usage:, Commands:, exit 0" \
	'[ "$rc" = 0 ] && out_has "Usage:" && out_has "Commands:" && out_has "--debug"' --help
t "an unknown command: exit 2, named" \
	'[ "$rc" = 2 ] && err_has "unknown command"' unknown-command
t "an unknown global option: exit 2, named" \
	'[ "$rc" = 2 ] && err_has "unknown option \`--bogus\`"' --bogus run -e 1
t "--debug before the command: [DEBUG] lines on stderr, stdout clean" \
	'[ "$rc" = 0 ] && err_has "[DEBUG] [CLI] Command: config" && out_has "Isol8 Configuration" && ! out_has "[DEBUG]"' \
	--debug config
t "config --debug: the same" \
	'[ "$rc" = 0 ] && err_has "[DEBUG] [CLI] Command: config"' config --debug

# run --help lists every flag the original's scripts pass (and ours).
has_flags() {
	for f in --eval --runtime --net --allow --deny --out --persistent \
		--timeout --memory --cpu --image --pids-limit --max-output --secret \
		--sandbox-size --tmp-size --stdin --install --url --github --gist --hash \
		--allow-insecure-code-url --no-stream --debug " --persist " \
		--session-id --setup --workdir --files --log-network --cmd; do
		out_has "$f" || { echo "# missing $f"; return 1; }
	done
}
t "run --help lists the original's flags" '[ "$rc" = 0 ] && has_flags' run --help
# Remote execution (--host/--key, docs/cli.md): no key is a usage error,
# a server nobody runs is 3; neither message shows the key.
t "run --help lists --host and --key" \
	'[ "$rc" = 0 ] && out_has "--host URL" && out_has "--key KEY"' run --help
t "run --host URL without a key: API key required (2)" \
	'[ "$rc" = 2 ] && err_has "API key required"' \
	run --host http://127.0.0.1:1 -e 1
export ISOL8_HOST=http://127.0.0.1:1
t "ISOL8_HOST without ISOL8_API_KEY: the same" \
	'[ "$rc" = 2 ] && err_has "API key required"' run -e 1
export ISOL8_API_KEY=sekrit
t "ISOL8_HOST and ISOL8_API_KEY: the same as the flags" \
	'[ "$rc" = 3 ] && err_has "cannot reach the isol8 server"' \
	run -r python -e 1
unset ISOL8_HOST ISOL8_API_KEY
t "session ls --host without a key: API key required (2)" \
	'[ "$rc" = 2 ] && err_has "API key required"' \
	session ls --host http://127.0.0.1:1
t "session rm NAME --host with no server there: 3" \
	'[ "$rc" = 3 ] && err_has "cannot reach the isol8 server" && ! err_has "sekrit"' \
	session rm s1 --host http://127.0.0.1:1 --key sekrit
t "run --host with no server there: 3, the server named, not the key" \
	'[ "$rc" = 3 ] && err_has "cannot reach the isol8 server at http://127.0.0.1:1" && ! err_has "sekrit"' \
	run --host http://127.0.0.1:1 --key sekrit -r python -e 1
t "run --host with a URL that is not http(s): 2" \
	'[ "$rc" = 2 ] && err_has "http:// or https://"' \
	run --host ftp://127.0.0.1 --key sekrit -r python -e 1
for h in run batch setup session cleanup bench config; do
	t "$h --help: Usage: heading" '[ "$rc" = 0 ] && out_has "Usage: isol8 $h"' $h --help
done

# config: the original's layout and shape, sizes as sizes.
t "config: the original's layout, sizes as sizes" \
	'[ "$rc" = 0 ] && out_has "Isol8 Configuration" && out_has "Source: defaults" && out_has "── General ──" && out_has "── Defaults ──" && out_has "Memory limit:    512m" && out_has "Timeout:         30000ms" && out_has "Max code size:   10m"' config
t "config --json: defaults in both names, sizes as sizes" \
	'[ "$rc" = 0 ] && json "c[\"defaults\"][\"memoryLimit\"] == \"512m\" and c[\"defaults\"][\"memory\"] == \"512m\" and c[\"defaults\"][\"cpuLimit\"] == 1 and c[\"defaults\"][\"sandboxSize\"] == \"512m\" and c[\"defaults\"][\"tmpSize\"] == \"256m\" and c[\"debug\"] is False and c[\"network\"][\"whitelist\"] == [] and c[\"cleanup\"] == {\"autoPrune\": True, \"maxContainerAgeMs\": 3600000} and c[\"remoteCode\"][\"enabled\"] is False"' \
	config --json
"$ISOL8" config --json >first.json 2>/dev/null
t "config --json is itself a configuration file (it loads, the same)" \
	'[ "$rc" = 0 ] && python3 -c "import json,sys; a=json.load(open(\"first.json\")); b=json.load(open(sys.argv[1])); a.pop(\"source\"); b.pop(\"source\"); sys.exit(a != b)" "$work/out"' \
	config --json --file first.json

# The original's file: its names are ours, its other keys a warning each.
cat >isol8.config.json <<'J'
{"maxConcurrent":5,"defaults":{"timeoutMs":60000,"memoryLimit":"1g",
"cpuLimit":0.5,"network":"none","sandboxSize":"512m","tmpSize":"256m",
"readonlyRootFs":true},"network":{"whitelist":["api\\.openai\\.com"],
"blacklist":["evil\\.com"]},"cleanup":{"autoPrune":false,
"maxContainerAgeMs":7200000},"poolStrategy":"fast","poolSize":{"clean":1,
"dirty":1},"security":{"seccomp":"strict"},"remoteCode":{"enabled":false,
"allowedSchemes":["https"],"allowedHosts":[],"blockedHosts":["^localhost$",
"^127(?:\\.[0-9]{1,3}){3}$"],"maxCodeSize":10485760,"fetchTimeoutMs":30000,
"requireHash":false,"enableCache":true,"cacheTtl":3600},"audit":{
"enabled":false,"destination":"filesystem"},"auth":{"enabled":false},
"prebuiltImages":[],"debug":true}
J
t "the original's file loads: its values under both names" \
	'[ "$rc" = 0 ] && json "c[\"maxConcurrent\"] == 5 and c[\"defaults\"][\"timeoutMs\"] == 60000 and c[\"defaults\"][\"memoryLimit\"] == \"1g\" and c[\"defaults\"][\"memory\"] == \"1g\" and c[\"defaults\"][\"cpu\"] == 0.5 and c[\"network\"][\"whitelist\"] == [\"api\\\\.openai\\\\.com\"] and c[\"network\"][\"deny\"] == [\"evil\\\\.com\"] and c[\"cleanup\"] == {\"autoPrune\": False, \"maxContainerAgeMs\": 7200000} and c[\"session\"][\"idleMs\"] == 7200000 and c[\"pool\"][\"size\"] == 1 and c[\"debug\"] is True"' \
	config --json
t "... and one warning line per key that means nothing here" \
	'[ "$(grep -c "is ignored" "$work/err")" = 6 ] && err_has "isol8.config.json: \`audit\` is ignored" && err_has "\`poolStrategy\` \"fast\" is ignored"' \
	config --json
t "config: the file named as the source" \
	'[ "$rc" = 0 ] && out_has "Source: isol8.config.json"' config
t "debug: true in the file is --debug" \
	'[ "$rc" = 0 ] && err_has "[DEBUG] [Config] Source: isol8.config.json"' config
printf '{"defaults":{"memoryLimt":"1g"}}\n' >isol8.config.json
t "a key that is no one's is still an error (exit 2, named)" \
	'[ "$rc" = 2 ] && err_has "unknown key \`defaults.memoryLimt\`"' config
rm -f isol8.config.json

finish
