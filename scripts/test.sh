#!/bin/sh
# Run the whole test suite: set up first (packages, build with -Werror,
# dockerd, images), check the formatting, then every ctest test -- unit,
# docker (against the real dockerd) and fuzz-corpus replays -- in the normal
# build and again under ASan/UBSan.
#
#   scripts/test.sh             # what CI runs
#   scripts/test.sh -L unit     # extra arguments go to ctest
set -eu
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "==> format check"
cmake --build build --target format-check

echo "==> ctest (build)"
(cd build && ctest --output-on-failure --timeout 600 "$@")

if [ "${ISOL8_SKIP_ASAN:-0}" != 1 ]; then
	echo "==> ctest under ASan/UBSan (build-asan)"
	cmake -S . -B build-asan -DISOL8_WERROR=ON \
		-DISOL8_SANITIZE=address,undefined >/dev/null
	cmake --build build-asan -j "$(nproc)" >/dev/null
	(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure --timeout 600 "$@")
fi
