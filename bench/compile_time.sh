#!/usr/bin/env bash
# What a translation unit costs to compile (g++ -O2, seconds and peak MB):
#   runtime API, compiled library   README's engine example with SQLLM_COMPILED_LIB (links sqllm::runtime)
#   runtime API, header-only        the same unit without it: every Bits × LUT × sparse model compiled here
#   ..., widths 3 and 4 only        header-only with SQLLM_RUNTIME_BITS_MASK=0x18: the widths an engine ships
#   direct, 4 widths × 2 layouts    gemv + gemm of quantized_view<B, float, csr<>, L> for B = 2, 3, 4, 8,
#                                   L = striped and reference: what an engine switching over widths compiles
# Usage: bench/compile_time.sh [CXX]   (run from the repository root; needs nlohmann-json)
set -euo pipefail
cxx=${1:-g++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -n '/<!-- engine-sample-begin -->/,/<!-- engine-sample-end -->/p' README.md | sed '1,2d;$d' | sed '$d' >"$tmp/engine.cpp"
cat >"$tmp/direct.cpp" <<'CPP'
#include <sqllm/sqllm.hpp>
#include <vector>
template <int B, class L>
float run(const std::vector<std::uint32_t>& words, const std::vector<float>& lut, const std::vector<float>& x,
          std::vector<float>& y, std::size_t rows, std::size_t cols) {
    const sqllm::quantized_view<B, float, sqllm::csr<>, L> W(rows, cols, lut, {words.data(), L::word_count(rows, cols)});
    sqllm::gemv(W, x, y);
    sqllm::gemm(W, {x.data(), 1, cols}, {y.data(), 1, rows});
    return y[0];
}
float all(const std::vector<std::uint32_t>& w, const std::vector<float>& l, const std::vector<float>& x,
          std::vector<float>& y, std::size_t r, std::size_t c, int bits, bool striped) {
    switch (bits) {
#define CASE(B) case B: return striped ? run<B, sqllm::striped_layout<B>>(w, l, x, y, r, c) \
                                       : run<B, sqllm::reference_layout<B>>(w, l, x, y, r, c);
        CASE(2) CASE(3) CASE(4) CASE(8)
    }
    return 0;
}
CPP
measure() {  # label, then the compile command
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$tmp/t" "$@"
  read -r secs kb <"$tmp/t"
  printf '| %-52s | %6.1f s | %5d MB |\n' "$label" "$secs" $((kb / 1024))
}
flags=(-std=c++17 -O2 -Iinclude -c)
echo "| unit ($cxx -O2) | time | peak memory |"
echo "|---|---|---|"
measure "runtime API, compiled library (sqllm::runtime)" "$cxx" "${flags[@]}" -DSQLLM_COMPILED_LIB "$tmp/engine.cpp" -o "$tmp/a.o"
measure "runtime API, header-only" "$cxx" "${flags[@]}" "$tmp/engine.cpp" -o "$tmp/b.o"
measure "runtime API, header-only, widths 3 and 4 only (mask 0x18)" "$cxx" "${flags[@]}" -DSQLLM_RUNTIME_BITS_MASK=0x18 "$tmp/engine.cpp" -o "$tmp/d.o"
measure "direct templates, 4 widths × 2 layouts" "$cxx" "${flags[@]}" "$tmp/direct.cpp" -o "$tmp/c.o"
