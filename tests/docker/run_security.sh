#!/bin/sh
# Adversarial: what untrusted code tries, and what stops it. Each check
# would fail if the protection it names were removed.
. "$(dirname "$0")/lib.sh"

run -r bash -e 'touch /evil /etc/evil /usr/evil 2>&1; awk "\$2 == \"/\" { print \$4 }" /proc/mounts | cut -d, -f1'
expect "read-only root: /, /etc and /usr are not writable" \
	'[ "$(echo "$out" | grep -c "Read-only file system")" = 3 ] && [ "$(echo "$out" | tail -n 1)" = ro ]'
run -r bash -e 'touch /sandbox/ok && echo writable'
expect "/sandbox is writable" '[ "$out" = writable ]'
run -r bash -e 'cp /bin/true /tmp/t && /tmp/t; echo rc=$?'
expect "/tmp is noexec" 'echo "$out" | grep -q "rc=126"'

run -r bash -e 'grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; id -u'
expect "user code: no capabilities, no-new-privs, seccomp, uid 1000" \
	'echo "$out" | grep -q "CapEff:.0000000000000000" && echo "$out" | grep -q "CapPrm:.0000000000000000" && echo "$out" | grep -q "NoNewPrivs:.1" && echo "$out" | grep -q "Seccomp:.2" && [ "$(echo "$out" | tail -n 1)" = 1000 ]'
run -e "
import os
try:
    os.setuid(0); print('became root')
except PermissionError:
    print('setuid denied')
"
expect "setuid(0) is denied" '[ "$out" = "setuid denied" ]'
run -r bash -e 'cp /bin/bash /sandbox/b && chmod u+s /sandbox/b && /sandbox/b -p -c "id -u"'
expect "a setuid binary grants nothing" '[ "$out" = 1000 ]'

run -r bash -e 'kill -9 1 2>&1; echo "kill rc=$?"'
expect "kill -9 1 fails and the run completes" \
	'[ "$rc" = 0 ] && echo "$out" | grep -q "kill rc=1"'
run -e "
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
r = libc.ptrace(16, 1, 0, 0)
print('ptrace', r, os.strerror(ctypes.get_errno()))
"
expect "ptrace of PID 1 fails" \
	'[ "$rc" = 0 ] && echo "$out" | grep -q "^ptrace -1"'
run -r bash -e 'echo forged > /proc/1/fd/1 2>&1; ls /proc/1/fd 2>&1; echo end'
expect "PID 1's fds (the host channel) are out of reach" \
	'echo "$out" | grep -q "Permission denied" && ! echo "$out" | grep -q forged && echo "$out" | tail -n 1 | grep -q end'
run -r bash -e 'printf "\204\0\0\0\0\0\0\0"; echo after'
expect "bytes shaped like agent frames are just output" \
	'[ "$rc" = 0 ] && echo "$out" | grep -q after'

run -r bash -e 'ls -la /var/run/docker.sock /run/docker.sock 2>&1; grep -c docker.sock /proc/mounts'
expect "no Docker socket inside" \
	'echo "$out" | grep -q "No such file" && [ "$(echo "$out" | tail -n 1)" = 0 ]'
marker="isol8-host-marker-$$"
echo "$marker" >/tmp/$marker
run -r bash -e "cat /tmp/$marker 2>&1; grep -rl $marker /etc /tmp /sandbox 2>/dev/null | head -1; echo end"
expect "host files are not visible" '! echo "$out" | grep -q "^$marker"'
rm -f /tmp/$marker

# Network none: only loopback, no route; a server on the host's loopback
# is unreachable from the sandbox, reachable with --net host.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1 &
srv=$!
sleep 0.5
probe="
import socket
try:
    socket.create_connection(('127.0.0.1', $port), timeout=2).close(); print('reached')
except OSError as e:
    print('blocked', e.__class__.__name__)
print(open('/proc/net/route').read().count('\n') - 1, 'routes')
print(sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))
"
run -e "$probe"
expect "--net none: host loopback unreachable, no routes, only lo" \
	'echo "$out" | grep -q "^blocked" && echo "$out" | grep -q "^0 routes" && echo "$out" | grep -q "\[.lo.\]"'
run --net host -e "$probe"
expect "--net host reaches the host loopback (the check above can fail)" \
	'echo "$out" | grep -q "^reached"'
kill "$srv" 2>/dev/null
run -e "
import socket
try:
    socket.getaddrinfo('isol8-test.invalid', 80); print('resolved')
except OSError as e:
    print('no dns')
"
expect "--net none: no DNS" '[ "$out" = "no dns" ]'

run --secret TOKEN=hunter2 -e "
import sys, time, os
sys.stdout.write('tok: hun'); sys.stdout.flush(); time.sleep(0.3)
sys.stdout.write('ter2\n'); sys.stdout.flush()
print(os.environ['TOKEN'], file=sys.stderr)
"
expect "a secret split across two writes is still masked" \
	'[ "$out" = "tok: ***" ] && [ "$err" = "***" ]'

finish
