#!/bin/sh
# Reproduce docs/benchmarks.md: run `isol8 bench` with the baselines on
# this machine and write bench/results/<date>-<host>.json and a markdown
# rendering of it next to it.
#
#   bench/run.sh              # all runtimes, 40 samples, 1..64 in flight
#   N=10 bench/run.sh         # quicker
set -eu
cd "$(dirname "$0")/.."

isol8=${ISOL8:-build/isol8}
n=${N:-40}
out=bench/results/$(date -u +%Y%m%d-%H%M)-$(hostname -s)
mkdir -p bench/results

[ -x "$isol8" ] || { echo "build isol8 first (scripts/setup.sh)" >&2; exit 1; }
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB," \
	"$(uname -r), $(docker version --format 'Docker {{.Server.Version}}' 2>/dev/null)" \
	| tee "$out.machine"
"$isol8" bench -n "$n" -c 1 -c 4 -c 16 -c 32 -c 64 --json >"$out.json"
python3 bench/report.py "$out.json" | tee "$out.md"
