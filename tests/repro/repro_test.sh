#!/usr/bin/env bash
# tests/repro/repro_test.sh — quantize() output is bit-identical whatever the
# consumer's compiler and flags: builds tests/repro/repro.cpp with each of
#     g++ -O0 | g++ -O2 | g++ -O3 -march=native -ffp-contract=fast | g++ -O2 -ffp-contract=off
#     clang++ -O0 | clang++ -O2 -ffp-contract=fast | clang++ -O3 -march=native -ffp-contract=fast
#     g++ -O2 -DSQLLM_NO_DISPATCH
#     aarch64-linux-gnu-g++ -O2 -static, run under qemu-aarch64 (when both are installed)
# runs each, prints every hash, and fails unless they are all one hash (and
# every run passed its own checks: all targets agree, threads agree).
#
# Usage: repro_test.sh --work DIR [--gxx G++] [--clangxx CLANG++]
#                      [--cross AARCH64-G++] [--qemu-aarch64 QEMU] [-I DIR]... [-j N]
#                      [--sqllm-include DIR (default: this repository's include/)]
# A compiler given as "" or not found is skipped with a message (CI installs
# them all: g++, clang, g++-aarch64-linux-gnu, qemu-user).
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
work="" gxx="g++" clangxx="clang++" cross="aarch64-linux-gnu-g++" qemu_aarch64="qemu-aarch64" jobs=2
sqllm_include="$here/../../include"
includes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work="$2"; shift 2 ;;
    --gxx) gxx="$2"; shift 2 ;;
    --clangxx) clangxx="$2"; shift 2 ;;
    --cross) cross="$2"; shift 2 ;;
    --qemu-aarch64) qemu_aarch64="$2"; shift 2 ;;
    --sqllm-include) sqllm_include="$2"; shift 2 ;;
    -I) includes+=("$2"); shift 2 ;;
    -j) jobs="$2"; shift 2 ;;
    *) echo "repro_test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$work" ] || { echo "usage: repro_test.sh --work DIR [...]" >&2; exit 2; }
mkdir -p "$work" || exit 2
cd "$work" || exit 2
rm -f ./*.out ./*.log

have() { [ -n "$1" ] && command -v "$1" >/dev/null 2>&1; }

host_flags=(-I "$sqllm_include")
for d in "${includes[@]+"${includes[@]}"}"; do host_flags+=(-I "$d"); done

# name|compiler|flags|runner
configs=()
if have "$gxx"; then
  configs+=("g++ -O0|$gxx|-O0|"
            "g++ -O2|$gxx|-O2|"
            "g++ -O3 -march=native -ffp-contract=fast|$gxx|-O3 -march=native -ffp-contract=fast|"
            "g++ -O2 -ffp-contract=off|$gxx|-O2 -ffp-contract=off|"
            "g++ -O2 -DSQLLM_NO_DISPATCH|$gxx|-O2 -DSQLLM_NO_DISPATCH|")
else
  echo "repro_test.sh: SKIP the g++ builds: '$gxx' not found"
fi
if have "$clangxx"; then
  configs+=("clang++ -O0|$clangxx|-O0|"
            "clang++ -O2 -ffp-contract=fast|$clangxx|-O2 -ffp-contract=fast|"
            "clang++ -O3 -march=native -ffp-contract=fast|$clangxx|-O3 -march=native -ffp-contract=fast|")
else
  echo "repro_test.sh: SKIP the clang++ builds: '$clangxx' not found"
fi
if have "$cross" && have "$qemu_aarch64"; then
  # Only xsimd from the host's headers (arch-independent); never all of
  # /usr/include, whose C library headers are the host's.
  xsimd_dir=""
  for d in "${includes[@]+"${includes[@]}"}" /usr/include /usr/local/include; do
    [ -f "$d/xsimd/xsimd.hpp" ] && { xsimd_dir="$d/xsimd"; break; }
  done
  if [ -n "$xsimd_dir" ]; then
    mkdir -p cross-include && ln -sfn "$xsimd_dir" cross-include/xsimd
    configs+=("aarch64-linux-gnu-g++ -O2 -static (qemu-aarch64)|$cross|-O2 -static -I$work/cross-include|$qemu_aarch64")
  else
    echo "repro_test.sh: SKIP the aarch64 build: xsimd headers not found"
  fi
else
  echo "repro_test.sh: SKIP the aarch64 build: '$cross' or '$qemu_aarch64' not found" \
       "(Debian: apt-get install g++-aarch64-linux-gnu qemu-user)"
fi
[ ${#configs[@]} -ge 2 ] || { echo "repro_test.sh: FAIL: fewer than two builds to compare"; exit 1; }

# Build and run each configuration, $jobs at a time.
build_and_run() {
  local i="$1" name="$2" compiler="$3" flags="$4" runner="$5" inc=("${host_flags[@]}")
  [ -n "$runner" ] && inc=(-I "$sqllm_include")  # the cross build: no host include dirs
  local t0=$SECONDS
  # shellcheck disable=SC2086
  if ! "$compiler" -std=c++17 $flags "${inc[@]}" "$here/repro.cpp" -o "repro_$i" >"$i.log" 2>&1; then
    echo "BUILD FAILED" >"$i.out"
    return
  fi
  local t1=$SECONDS
  if [ -n "$runner" ]; then "$runner" "./repro_$i" >>"$i.log" 2>&1; else "./repro_$i" >>"$i.log" 2>&1; fi
  local rc=$?
  echo "exit $rc build $((t1 - t0))s run $((SECONDS - t1))s" >"$i.out"
}
t_start=$SECONDS
running=0
for i in "${!configs[@]}"; do
  IFS='|' read -r name compiler flags runner <<<"${configs[$i]}"
  build_and_run "$i" "$name" "$compiler" "$flags" "$runner" &
  running=$((running + 1))
  if [ $running -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

status=0
hashes=()
printf '%-52s %-18s %s\n' "build" "hash" "status"
for i in "${!configs[@]}"; do
  IFS='|' read -r name compiler flags runner <<<"${configs[$i]}"
  result="$(cat "$i.out" 2>/dev/null || echo "no result")"
  hash="$(sed -n 's/^sqllm-repro-hash \([0-9a-f]*\)$/\1/p' "$i.log")"
  printf '%-52s %-18s %s\n' "$name" "${hash:--}" "$result"
  if [ "${result%% *}" != exit ] || [ "$(echo "$result" | cut -d' ' -f2)" != 0 ] || [ -z "$hash" ]; then
    status=1
    sed 's/^/    | /' "$i.log" | tail -30
  fi
  [ -n "$hash" ] && hashes+=("$hash")
done
distinct="$(printf '%s\n' "${hashes[@]+"${hashes[@]}"}" | sort -u | wc -l)"
if [ "$distinct" -ne 1 ]; then
  echo "FAIL: $distinct different hashes; per-case hashes of each build:"
  for i in "${!configs[@]}"; do
    IFS='|' read -r name _ <<<"${configs[$i]}"
    echo "  -- $name"
    grep -E '^  [a-z]' "$i.log" | sed 's/^/    /'
  done
  status=1
fi
echo "repro_test.sh: ${#configs[@]} builds, $distinct distinct hash(es), $((SECONDS - t_start)) s"
[ $status -eq 0 ] && echo "repro_test.sh: all builds agree" || echo "repro_test.sh: FAILED"
exit $status
