#!/usr/bin/env bash
# sqllm against ggml's CPU matrix multiply, in one command:
#   bench/run_ggml.sh GGML_PREFIX [REPETITIONS=5]
# GGML_PREFIX is where a ggml build was installed (README, "Comparing with
# ggml"). Builds bench_ggml (Release; sqllm picks its kernels' target at run
# time, ggml's GGML_NATIVE build at compile time), runs every variant
# interleaved in random order, cold,
# REPETITIONS times each, and writes bench/results/ggml.json (Google
# Benchmark) and bench/results/ggml.md (the table, with the CPU, the targets
# each row ran on, and the issue's targets as met or missed).
# SQLLM_BENCH_SHAPES / SQLLM_BENCH_BATCHES / SQLLM_BENCH_THREADS narrow or
# widen the run (bench/bench_ggml.cpp); GGML_COMMIT=<hash> puts ggml's commit
# in the table.
set -euo pipefail
prefix="$(cd "$1" && pwd)"; reps="${2:-5}"
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
ggml_dir="$(dirname "$(find "$prefix" -name ggml-config.cmake | head -1)")"
[ -f "$ggml_dir/ggml-config.cmake" ] || { echo "no ggml-config.cmake under $prefix" >&2; exit 1; }
cmake -S . -B build-ggml -G Ninja -DCMAKE_BUILD_TYPE=Release -DSQLLM_BUILD_BENCH=ON -DSQLLM_BUILD_TESTS=OFF \
  -DSQLLM_BUILD_EXAMPLES=OFF -DSQLLM_BUILD_TOOLS=OFF -DSQLLM_RUNTIME=OFF -Dggml_DIR="$ggml_dir" >/dev/null
cmake --build build-ggml --target bench_ggml
mkdir -p bench/results
./build-ggml/bench/bench_ggml --benchmark_enable_random_interleaving=true --benchmark_repetitions="$reps" \
  --benchmark_min_time=0.1 --benchmark_report_aggregates_only=true \
  --benchmark_out=bench/results/ggml.json --benchmark_out_format=json >/dev/null
python3 bench/ggml_report.py bench/results/ggml.json --ggml "$prefix" > bench/results/ggml.md
cat bench/results/ggml.md
