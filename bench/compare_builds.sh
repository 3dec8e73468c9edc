#!/usr/bin/env bash
# Runs two bench_kernels builds side by side (interleaved, same machine, same
# run) and compares each variant's ratio to its own build's fp32 yardstick:
#   bench/compare_builds.sh OLD_BINARY NEW_BINARY [ROUNDS] [FILTER]
# e.g. main before a change against the working tree, after building both:
#   git worktree add ../sqllm-before main && cmake -S ../sqllm-before -B ../sqllm-before/build ...
#   bench/compare_builds.sh ../sqllm-before/build/bench/bench_kernels build/bench/bench_kernels
# ROUNDS (default 2) alternates old, new, old, new...; FILTER (default: batch 1
# and 8 of the target shape) is a --benchmark_filter regex. Writes
# bench/results/compare-{old,new}-<round>.json and prints bench/compare.py's table.
set -euo pipefail
old="$1"; new="$2"; rounds="${3:-2}"
filter="${4:-read_bw|batch:1/|batch:8/}"
out="$(cd "$(dirname "$0")" && pwd)/results"
mkdir -p "$out"
args=(--benchmark_repetitions=5 --benchmark_report_aggregates_only=true --benchmark_min_time=0.3
      --benchmark_out_format=json)
files_old=(); files_new=()
for r in $(seq 1 "$rounds"); do
  for which in old new; do
    bin="$old"; [ "$which" = new ] && bin="$new"
    f="$out/compare-$which-$r.json"
    echo "::: round $r: $which ($bin)" >&2
    SQLLM_BENCH_SET=targets "$bin" "${args[@]}" --benchmark_filter="$filter" --benchmark_out="$f" >/dev/null
    if [ "$which" = old ]; then files_old+=("$f"); else files_new+=("$f"); fi
  done
done
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
"$PY" "$(dirname "$0")/compare.py" --old "${files_old[@]}" --new "${files_new[@]}"
