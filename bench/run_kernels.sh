#!/usr/bin/env bash
# Reproduces the kernel benchmark table and chart in one command:
#   ./bench/run_kernels.sh            every shape × Bits × LUT × sparse × batch × threads (~40 min)
#   ./bench/run_kernels.sh targets    the issue's target configurations only (~5 min)
# Writes bench/results/kernels.json (Google Benchmark), kernels.md (table) and kernels.png (chart).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh --bench
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target bench_kernels
mkdir -p bench/results
SQLLM_BENCH_SET="${1:-all}" ./build/bench/bench_kernels --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true --benchmark_min_time=0.3 \
  --benchmark_out=bench/results/kernels.json --benchmark_out_format=json
# Debian's matplotlib lives in the system interpreter, whatever python3 comes first in PATH.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
"$PY" bench/report.py bench/results/kernels.json --table bench/results/kernels.md --chart bench/results/kernels.png
cat bench/results/kernels.md
