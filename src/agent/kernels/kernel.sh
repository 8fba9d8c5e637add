# isol8 session kernel for Bash (docs/sessions.md).
#
# One long-lived shell per session: every run is sourced into it, so shell
# variables, exported variables, functions, aliases, options and the
# working directory persist between runs. `exit` ends the shell itself (the
# next run gets a fresh one, with a notice). Protocol: see kernel.py (fd 3
# requests, fd 4 replies; fds 1 and 2 are the agent's pipes). Sourced code
# can write fd 4 too; the agent ends a shell whose replies are not its own.

exec {__isol8_out}>&1 {__isol8_err}>&2

__isol8_field() {
	IFS= builtin read -r -d '' -u 3 "$1" || builtin exit 0 # the agent is gone
}

while :; do
	__isol8_field __isol8_kind
	__isol8_field __isol8_nonce
	if [[ $__isol8_kind == P ]]; then # the agent's idle check
		builtin printf 'I %s\n' "$__isol8_nonce" >&4
		continue
	fi
	__isol8_field __isol8_stdin
	__isol8_field __isol8_n
	__isol8_argv=()
	for ((__isol8_i = 0; __isol8_i < __isol8_n; __isol8_i++)); do
		__isol8_field __isol8_v
		__isol8_argv+=("$__isol8_v")
	done
	__isol8_field __isol8_n
	for ((__isol8_i = 0; __isol8_i < __isol8_n; __isol8_i++)); do
		__isol8_field __isol8_v
		builtin export "$__isol8_v"
	done
	__isol8_secrets=()
	__isol8_field __isol8_n
	for ((__isol8_i = 0; __isol8_i < __isol8_n; __isol8_i++)); do
		__isol8_field __isol8_v
		__isol8_secrets+=("$__isol8_v")
	done
	# Whatever the last run did to its streams, this one gets fresh ones.
	exec 0<"$__isol8_stdin" 1>&"$__isol8_out" 2>&"$__isol8_err"
	builtin printf 'S %s\n' "$__isol8_nonce" >&4
	BASH_ARGV0=${__isol8_argv[1]}
	builtin source "${__isol8_argv[1]}" "${__isol8_argv[@]:2}"
	__isol8_rc=$?
	# Its background jobs are killed at the run's end: no job reports.
	builtin disown -a
	# A secret is the run's, not the session's.
	for __isol8_v in "${__isol8_secrets[@]}"; do
		builtin unset "$__isol8_v"
	done
	exec 0</dev/null
	builtin printf 'D %s %s\n' "$__isol8_nonce" "$__isol8_rc" >&4
done
