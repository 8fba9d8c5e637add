#!/bin/sh
# isol8 setup: a second run rebuilds nothing; --force on an unchanged
# context (the build cache returns the same image) keeps the images usable.
. "$(dirname "$0")/lib.sh"

out=$("$ISOL8" setup 2>&1)
rc=$?
expect "setup when up to date builds nothing" \
	'[ "$rc" = 0 ] && ! echo "$out" | grep -q "^building" && [ "$(echo "$out" | grep -c "is up to date")" = 6 ]'
out=$("$ISOL8" setup --force 2>&1)
rc=$?
expect "setup --force rebuilds and completes" \
	'[ "$rc" = 0 ] && echo "$out" | grep -q "\[DONE\] Setup complete!"'
run -e "print('after force')"
expect "the images survive a forced rebuild" '[ "$out" = "after force" ]'

finish
