#!/usr/bin/env bash
# Builds two source trees' kernels into one benchmark process and times them
# interleaved, call by call (bench/interleaved/main.cpp says why):
#   bench/interleaved.sh TREE_A [TREE_B=.] [cold|warm] [ROUNDS=4]
# e.g. main before a change against the working tree:
#   git worktree add /tmp/sqllm-main main && bench/interleaved.sh /tmp/sqllm-main . cold 6
# Each tree needs include/sqllm and bench/pool_executor.hpp (trees from before
# the backend seam also bench/yardstick.hpp). Prints a Markdown table.
set -euo pipefail
a="$(cd "$1" && pwd)"; b="$(cd "${2:-.}" && pwd)"; mode="${3:-cold}"; rounds="${4:-4}"
here="$(cd "$(dirname "$0")" && pwd)/interleaved"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cxx="${CXX:-g++}"
flags=(-std=c++17 -O3 -DNDEBUG -I"$here")
# -Dsqllm=...: each side's sqllm gets a namespace of its own, so two trees with
# the same ABI namespace (any two versions since it exists) cannot share code.
"$cxx" "${flags[@]}" -DSIDE=a -Dsqllm=sqllm_side_a -I"$a/include" -I"$a/bench" -c "$here/side_impl.cpp" -o "$work/a.o"
"$cxx" "${flags[@]}" -DSIDE=b -Dsqllm=sqllm_side_b -I"$b/include" -I"$b/bench" -c "$here/side_impl.cpp" -o "$work/b.o"
"$cxx" "${flags[@]}" -c "$here/main.cpp" -o "$work/main.o"
"$cxx" "$work/main.o" "$work/a.o" "$work/b.o" -o "$work/interleaved" -pthread
"$work/interleaved" "$mode" "$rounds"
