#!/usr/bin/env bash
# Builds sqllm's libFuzzer targets (fuzz/, clang++ with ASan + UBSan), replays
# every regression input under fuzz/regressions/<target>/, then fuzzes each
# target for SECONDS (default 60) from its seed corpus fuzz/corpus/<target>/,
# two targets at a time. Exits non-zero on any crash, sanitizer report, leak,
# timeout (-timeout, a hang) or broken harness invariant; the input that did
# it is left in $BUILD/artifacts/<target>/ and the log in $BUILD/logs/.
#
#   scripts/fuzz.sh            # CI's run: 60 s per target
#   scripts/fuzz.sh 3600       # the long campaign: an hour per target
#   scripts/fuzz.sh 0          # build and replay the regression inputs only
#
# Environment: SQLLM_FUZZ_BUILD (build directory, default build-fuzz),
# SQLLM_FUZZ_JOBS (targets fuzzed at once, default 2), SQLLM_FUZZ_TARGETS
# (space-separated subset), SQLLM_FUZZ_ARGS (extra libFuzzer flags, e.g.
# "-fork=2 -ignore_crashes=1" to keep going past a known crash).
# New corpus entries go to $BUILD/corpus/<target>/ (the committed seeds stay
# as they are; copy interesting ones into fuzz/corpus/ by hand).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
build=${SQLLM_FUZZ_BUILD:-build-fuzz}
jobs=${SQLLM_FUZZ_JOBS:-2}
targets=(${SQLLM_FUZZ_TARGETS:-safetensors quantized_checkpoint import_reference quantize})
extra=(${SQLLM_FUZZ_ARGS:-})

generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S fuzz -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER="${CXX:-clang++}" >/dev/null
fi
cmake --build "$build" --parallel "$jobs" --target "${targets[@]/#/fuzz_}"

status=0
echo "::: fuzz: replaying fuzz/regressions/"
for t in "${targets[@]}"; do
  dir="fuzz/regressions/$t"
  [ -d "$dir" ] || continue
  mapfile -t inputs < <(find "$dir" -type f ! -name '*.md' | sort)
  [ ${#inputs[@]} -gt 0 ] || continue
  if "$build/fuzz_$t" -timeout=10 -rss_limit_mb=2048 "${inputs[@]}" >"$build/replay_$t.log" 2>&1; then
    echo "  $t: ${#inputs[@]} regression inputs pass"
  else
    echo "  $t: a regression input fails (log: $build/replay_$t.log):" >&2
    grep -E "SUMMARY|invariant broken|Running:|ERROR" "$build/replay_$t.log" | tail -n 20 >&2 || true
    status=1
  fi
done
[ "$seconds" -gt 0 ] || exit $status

echo "::: fuzz: ${seconds} s per target, $jobs at a time"
mkdir -p "$build/logs"
run_target() {  # target
  local t=$1 work="$build/corpus/$1" art="$build/artifacts/$1/"
  mkdir -p "$work" "$art"
  local rc=0
  "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$art" "${extra[@]}" "$work" "fuzz/corpus/$t" >"$build/logs/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$build/logs/$t.rc"
}
failed=()
for t in "${targets[@]}"; do
  rm -f "$build/logs/$t.rc"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_target "$t" &
done
wait
for t in "${targets[@]}"; do
  [ "$(cat "$build/logs/$t.rc" 2>/dev/null)" = 0 ] || failed+=("$t")
  log="$build/logs/$t.log"
  last=$(grep -E "^#[0-9]+" "$log" | tail -n 1 | sed -E 's/ +/ /g' | cut -d' ' -f1-6 || true)
  execs=$(grep -E "stat::number_of_executed_units" "$log" | awk '{print $2}' || true)
  echo "  $t: ${execs:-?} executions; last: ${last:-?}"
done
if [ ${#failed[@]} -gt 0 ]; then
  for t in "${failed[@]}"; do
    echo "::: fuzz: $t FAILED (log: $build/logs/$t.log, input in $build/artifacts/$t/):" >&2
    grep -E "SUMMARY|invariant broken|ERROR|Test unit written" "$build/logs/$t.log" | tail -n 20 >&2 || true
  done
  status=1
fi
exit $status
