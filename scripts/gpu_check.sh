#!/usr/bin/env bash
# scripts/gpu_check.sh [OUT_DIR] — the GPU check of sqllm's CUDA target (issue 16),
# on a machine with an NVIDIA GPU (written for H100/H200; any sm_80+ works):
#   1. configure (-DSQLLM_CUDA=ON, CMAKE_CUDA_ARCHITECTURES from the GPU's compute
#      capability) and build only what the check runs: the tests labelled `cuda`
#      and bench_cuda;
#   2. run the GPU tests: ctest -L cuda;
#   3. run bench_cuda, writing OUT_DIR/cuda.md (the Markdown table, also printed),
#      OUT_DIR/cuda.json and OUT_DIR/cuda.log. OUT_DIR defaults to bench/results.
# Prints each phase's wall time; budgeted to finish in under 8 minutes (the
# phases run under timeouts that add up to 450 s: configure 40, build 180, tests 60, bench 170). Exit status: 0 all passed;
# 77 no usable NVIDIA GPU (nvidia-smi missing or failing; nothing is built);
# anything else: a phase failed (124: it ran out of time).
#
# Environment:
#   SQLLM_GPU_BUILD_DIR   build directory (default build-cuda in the repository)
#   SQLLM_GPU_SKIP_BUILD  1: skip configure and build when the build directory has
#                         a CMakeCache.txt (reuse an earlier build as is)
#   SQLLM_GPU_ARCH        CMAKE_CUDA_ARCHITECTURES (default: the GPU's, e.g. 90; else 90)
#   SQLLM_GPU_QUICK       1: bench_cuda --quick (one shape, 5 samples: a smoke test,
#                         not numbers to publish)
#   SQLLM_GPU_JOBS        build parallelism (default: nproc)
#   SQLLM_GPU_T_BUILD, SQLLM_GPU_T_TEST, SQLLM_GPU_T_BENCH
#                         per-phase timeouts in seconds (default 180, 60, 170)
#   CUDACXX               nvcc to use (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out_dir=${1:-$root/bench/results}
build=${SQLLM_GPU_BUILD_DIR:-$root/build-cuda}
skip_build=${SQLLM_GPU_SKIP_BUILD:-0}
quick=${SQLLM_GPU_QUICK:-0}
jobs=${SQLLM_GPU_JOBS:-$(nproc 2>/dev/null || echo 4)}
t_build=${SQLLM_GPU_T_BUILD:-180}
t_test=${SQLLM_GPU_T_TEST:-60}
t_bench=${SQLLM_GPU_T_BENCH:-170}

# ---- a GPU, or exit 77 (the conventional "skipped")
if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu_check: no NVIDIA GPU here (nvidia-smi not found); skipped" >&2
    exit 77
fi
if ! gpu_list=$(nvidia-smi -L 2>&1) || ! grep -q '^GPU ' <<<"$gpu_list"; then
    echo "gpu_check: no usable NVIDIA GPU here (nvidia-smi -L: ${gpu_list:-no output}); skipped" >&2
    exit 77
fi
echo "gpu_check: $(head -n 1 <<<"$gpu_list")"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null || true

# ---- timings, printed at the end whatever happens
declare -a phase_names=() phase_secs=()
t_all=$(date +%s.%N)
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
summary() {
    local rc=$?
    echo
    echo "gpu_check: timings"
    local i
    for i in "${!phase_names[@]}"; do printf '  %-10s %7s s\n' "${phase_names[$i]}" "${phase_secs[$i]}"; done
    printf '  %-10s %7s s\n' total "$(secs "$t_all" "$(now)")"
    if [ "$rc" -eq 0 ]; then echo "gpu_check: passed"; else echo "gpu_check: FAILED (exit $rc)"; fi
}
trap summary EXIT
# run_phase NAME TIMEOUT CMD...: runs CMD under `timeout`, records its wall time.
run_phase() {
    local name=$1 limit=$2 t0 rc=0
    shift 2
    echo
    echo "gpu_check: == $name (limit ${limit} s): $*"
    t0=$(now)
    timeout --kill-after=10 "$limit" "$@" || rc=$?
    phase_names+=("$name")
    phase_secs+=("$(secs "$t0" "$(now)")")
    if [ "$rc" -ne 0 ]; then
        [ "$rc" -eq 124 ] && echo "gpu_check: $name ran out of time (${limit} s)" >&2
        echo "gpu_check: $name failed (exit $rc)" >&2
        exit "$rc"
    fi
}

# ---- configure and build
if [ "$skip_build" = 1 ] && [ -f "$build/CMakeCache.txt" ]; then
    echo "gpu_check: SQLLM_GPU_SKIP_BUILD=1: using the existing build in $build"
else
    if [ -z "${CUDACXX:-}" ]; then
        if command -v nvcc >/dev/null 2>&1; then CUDACXX=$(command -v nvcc)
        elif [ -x /usr/local/cuda/bin/nvcc ]; then CUDACXX=/usr/local/cuda/bin/nvcc
        else echo "gpu_check: nvcc not found (set CUDACXX)" >&2; exit 1; fi
    fi
    export CUDACXX
    arch=${SQLLM_GPU_ARCH:-}
    if [ -z "$arch" ]; then
        cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .' || true)
        if [[ "$cap" =~ ^[0-9]+$ ]]; then arch=$cap; else arch=90; fi
    fi
    generator=()
    command -v ninja >/dev/null 2>&1 && [ ! -f "$build/CMakeCache.txt" ] && generator=(-G Ninja)
    run_phase configure 40 cmake -S "$root" -B "$build" ${generator[@]+"${generator[@]}"} \
        -DCMAKE_BUILD_TYPE=Release -DSQLLM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" \
        -DSQLLM_BUILD_TESTS=ON -DSQLLM_BUILD_BENCH=ON -DSQLLM_BUILD_EXAMPLES=OFF -DSQLLM_BUILD_TOOLS=OFF \
        -DSQLLM_WERROR=ON
    # Only the executables the `cuda` tests run, and bench_cuda: not the CPU suite.
    # (a test whose command is not one of this build's targets, e.g. a script, is skipped here)
    known=$(cmake --build "$build" --target help 2>/dev/null || true)
    targets=()
    while IFS= read -r t; do
        [ -n "$t" ] && grep -Eq "(^|[ .:])$t(:|\$| )" <<<"$known" && targets+=("$t")
    done < <(cd "$build" && ctest -N -V -L cuda 2>/dev/null |
        awk '{ for (i = 1; i < NF; ++i) if ($i == "command:") { n = split($(i + 1), p, "/"); print p[n] } }' | sort -u)
    if [ "${#targets[@]}" -eq 0 ]; then
        echo "gpu_check: no tests labelled 'cuda' were configured (is SQLLM_CUDA on in this tree?)" >&2
        exit 1
    fi
    echo "gpu_check: building ${targets[*]} bench_cuda"
    run_phase build "$t_build" cmake --build "$build" --parallel "$jobs" --target "${targets[@]}" bench_cuda
fi

# ---- GPU tests
# (cd, not ctest --test-dir: that needs CMake 3.20)
# shellcheck disable=SC2016
run_phase test "$t_test" bash -c 'cd "$1" && shift && exec ctest "$@"' _ "$build" -L cuda --output-on-failure --timeout "$t_test"

# ---- benchmark
bench=$(find "$build" -type f -name bench_cuda -perm -u+x 2>/dev/null | head -n 1)
if [ -z "$bench" ]; then
    echo "gpu_check: bench_cuda not found under $build" >&2
    exit 1
fi
mkdir -p "$out_dir"
bench_args=(--md "$out_dir/cuda.md" --json "$out_dir/cuda.json")
[ "$quick" = 1 ] && bench_args+=(--quick)
run_phase bench "$t_bench" "$bench" "${bench_args[@]}" > >(tee "$out_dir/cuda.log") 2>&1
echo "gpu_check: the table is in $out_dir/cuda.md"
