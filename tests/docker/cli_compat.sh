#!/bin/sh
# What a user of the original isol8 relies on (docs/compat.md): a caller
# that reads our output to its end and only then waits for our exit finds
# both (the warm pool's refill child lets go of stdio before we exit).
. "$(dirname "$0")/lib.sh"

# A pool key of our own (a distinct memory size): its refill follows each
# run, so every run below exits while the refill is still going.
held=$(python3 - "$ISOL8" <<'PY'
import fcntl, os, subprocess, sys
held = 0
for i in range(12):
    p = subprocess.Popen([sys.argv[1], "run", "--memory", "201m", "-e",
                          "print(1)"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.wait()
    for f in (p.stdout, p.stderr):
        fcntl.fcntl(f.fileno(), fcntl.F_SETFL, os.O_NONBLOCK)
        try:
            while os.read(f.fileno(), 65536):
                pass
        except BlockingIOError:  # no EOF: a writer is still open
            held += 1
            break
print(held)
PY
)
expect "after our exit, no process holds the caller's stdout/stderr (held in $held of 12 runs)" \
	'[ "$held" = 0 ]'

finish
