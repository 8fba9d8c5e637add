#!/bin/sh
# No function over MAX_LINES lines (STYLE: 120) in the C files given, from
# the line with its name (KNF: at column 0) to its closing brace. The
# check first proves on a made-up file that it finds a function one line
# too long, so it cannot pass by finding nothing.
MAX=${MAX_LINES:-120}
work=$(mktemp -d /tmp/isol8-fnlen.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Lines of each function over $MAX: "file:line: name is N lines".
too_long() {
	awk -v max="$MAX" '
	/^[A-Za-z_][A-Za-z_0-9]*\(/ { name = $0; sub(/\(.*/, "", name); at = FNR }
	/^\{$/ { open = at }
	/^\}$/ && open {
		n = FNR - open + 1
		if (n > max)
			printf "%s:%d: %s is %d lines\n", FILENAME, open, name, n
		open = 0
	}' "$@"
}

{
	printf 'int\nlong_one(void)\n{\n'
	i=2
	while [ "$i" -lt "$MAX" ]; do
		printf '\tx();\n'
		i=$((i + 1))
	done
	printf '}\n'
} >"$work/long.c"
if [ -z "$(too_long "$work/long.c")" ]; then
	echo "not ok 1 - the check finds a function of $((MAX + 1)) lines"
	exit 1
fi
echo "ok 1 - the check finds a function of $((MAX + 1)) lines"

out=$(too_long "$@")
if [ -n "$out" ]; then
	echo "not ok 2 - no function over $MAX lines in $*"
	echo "$out" | sed 's/^/# /'
	exit 1
fi
echo "ok 2 - no function over $MAX lines in $*"
echo "1..2"
