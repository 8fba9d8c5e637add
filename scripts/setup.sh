#!/bin/sh
# Set up isol8 on a fresh Debian 12 machine, as root, and run a first
# execution: install the Debian packages, build with warnings as errors,
# start dockerd if its socket does not answer, build the runtime images
# offline (isol8 setup: a no-op when up to date), then run hello world.
# Idempotent: a second run only checks and rebuilds what changed.
#
#   scripts/setup.sh            # everything, ends with a real execution
#   BUILD_DIR=build-asan ISOL8_SANITIZE=address,undefined scripts/setup.sh
set -eu
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build}
packages="build-essential cmake pkg-config libevent-dev libcurl4-openssl-dev
libyajl-dev libssl-dev docker.io debootstrap iptables curl ca-certificates
clang clang-format libclang-rt-14-dev"

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
# npm fetches Bun and Deno; a Node.js from elsewhere may already bring it.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
	echo "==> installing Debian packages:$missing"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $missing >/dev/null
fi

echo "==> building ($build)"
cmake -S . -B "$build" -DISOL8_WERROR=ON \
	-DISOL8_SANITIZE="${ISOL8_SANITIZE:-}" >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null

echo "==> starting dockerd if needed"
as_root scripts/dockerd-up.sh

echo "==> isol8 setup"
as_root "$build/isol8" setup

echo "==> first execution"
"$build/isol8" run -e "print('hello from isol8')"
