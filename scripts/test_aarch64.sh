#!/usr/bin/env bash
# scripts/test_aarch64.sh — cross-compile sqllm's kernel and quantizer tests
# (the sqllm_tests target) for AArch64 and run them under qemu-aarch64, where
# the kernels run on the NEON target.
#
#   scripts/test_aarch64.sh [BUILD_DIR] [Catch2 test spec ...]
#
# BUILD_DIR defaults to build-aarch64; a test spec (e.g. "[kernels]") runs a
# subset, the default is every test case. SQLLM_TEST_QUICK=1 is set: every
# type combination, fewer shapes (tests/kernel_check.hpp).
# Needs, besides sqllm's usual dependencies (scripts/install_deps.sh):
#   apt-get install g++-aarch64-linux-gnu qemu-user
set -euo pipefail
cd "$(dirname "$0")/.."

build="${1:-build-aarch64}"
[ $# -gt 0 ] && shift
sysroot=/usr/aarch64-linux-gnu
for tool in aarch64-linux-gnu-g++ qemu-aarch64 cmake ninja; do
  command -v "$tool" >/dev/null || {
    echo "test_aarch64.sh: $tool not found (Debian: apt-get install g++-aarch64-linux-gnu qemu-user cmake ninja-build)" >&2
    exit 1
  }
done

t0=$SECONDS
echo "::: configure $build (cmake/toolchain-aarch64-linux-gnu.cmake, Release, tests only)"
cmake -S . -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchain-aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DSQLLM_BUILD_TESTS=ON -DSQLLM_BUILD_TOOLS=OFF -DSQLLM_BUILD_EXAMPLES=OFF \
  -DSQLLM_BUILD_BENCH=OFF -DSQLLM_INSTALL=OFF -DSQLLM_TEST_KERNEL_BITS="${SQLLM_TEST_KERNEL_BITS:-1;2;3;4;5;6;7;8}" >/dev/null
echo "::: build sqllm_tests for aarch64"
cmake --build "$build" --target sqllm_tests
t1=$SECONDS

# Which target sqllm picks here: the tests compare every runnable target and
# require the default to be best_target(); on AArch64 that must be NEON.
probe="$build/sqllm_target_probe"
printf '%s\n' '#include <sqllm/sqllm.hpp>' '#include <cstdio>' \
  'int main() {' \
  '    std::printf("%s %s\n", sqllm::to_string(sqllm::best_target()), SQLLM_ABI_STRING);' \
  '    return sqllm::best_target() == sqllm::target_id::neon ? 0 : 1;' \
  '}' >"$probe.cpp"
aarch64-linux-gnu-g++ -std=c++17 -O1 -Iinclude -isystem "$build/_host-header-packages/include" "$probe.cpp" -o "$probe"
out="$(qemu-aarch64 -L "$sysroot" "$probe" || true)"
target="${out%% *}"
echo "::: sqllm::best_target() under qemu-aarch64: $target (ABI namespace ${out#* })"
[ "$target" = neon ] || { echo "test_aarch64.sh: the best target is '$target', not neon" >&2; exit 1; }

echo "::: run sqllm_tests under qemu-aarch64 (SQLLM_TEST_QUICK=1) $*"
t2=$SECONDS
SQLLM_TEST_QUICK=1 qemu-aarch64 -L "$sysroot" "$build/tests/sqllm_tests" "$@"
t3=$SECONDS
echo "test_aarch64.sh: passed on $target; configure + build $((t1 - t0)) s, run $((t3 - t2)) s"
