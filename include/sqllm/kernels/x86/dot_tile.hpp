// sqllm/kernels/x86/dot_tile.hpp — the fp32 register tile of the batched
// kernels: R weight rows times NB activation vectors, dot products over k.
//
// gemm decodes a tile of rows to fp32 once (striped_lut.hpp) and runs this
// over every group of NB batch vectors; an fp32 GEMM (the benchmarks'
// yardstick) runs the same tile on its weights in place. Accumulators are
// R·NB vector registers summed horizontally once per call, so a call should
// cover a long k range (the callers use 1024 columns).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../arch/cpu.hpp"
#include "lut_gemv.hpp"

namespace sqllm {
namespace x86 {

#if SQLLM_X86_DISPATCH

/// out[r·NB + b] (+)= Σ_{k < n} w[r][k]·x[b][k] for r < R, b < NB; AVX-512.
/// With Prefetch, the w rows are prefetched `prefetch_bytes` ahead (for
/// weights streamed from memory rather than from a decoded tile).
template <int R, int NB, bool Accumulate, bool Prefetch = false>
SQLLM_TARGET_AVX512 void dot_tile_avx512(const float* const* w, const float* const* x, std::size_t n, float* out,
                                         std::size_t prefetch_bytes = 0) noexcept {
    __m512 acc[R][NB];
    for (int r = 0; r < R; ++r)
        for (int b = 0; b < NB; ++b) acc[r][b] = _mm512_setzero_ps();
    std::size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 wv[R];
        for (int r = 0; r < R; ++r) {
            if (Prefetch) _mm_prefetch(reinterpret_cast<const char*>(w[r] + k) + prefetch_bytes, _MM_HINT_T0);
            wv[r] = _mm512_loadu_ps(w[r] + k);
        }
        for (int b = 0; b < NB; ++b) {
            const __m512 xv = _mm512_loadu_ps(x[b] + k);
            for (int r = 0; r < R; ++r) acc[r][b] = _mm512_fmadd_ps(wv[r], xv, acc[r][b]);
        }
    }
    if (k < n) {  // masked loads: nothing past n is touched
        const __mmask16 m = static_cast<__mmask16>((1u << (n - k)) - 1);
        __m512 wv[R];
        for (int r = 0; r < R; ++r) wv[r] = _mm512_maskz_loadu_ps(m, w[r] + k);
        for (int b = 0; b < NB; ++b) {
            const __m512 xv = _mm512_maskz_loadu_ps(m, x[b] + k);
            for (int r = 0; r < R; ++r) acc[r][b] = _mm512_fmadd_ps(wv[r], xv, acc[r][b]);
        }
    }
    alignas(64) float lanes[16];
    for (int r = 0; r < R; ++r)
        for (int b = 0; b < NB; ++b) {
            _mm512_store_ps(lanes, acc[r][b]);
            const float s = hsum(_mm256_add_ps(_mm256_load_ps(lanes), _mm256_load_ps(lanes + 8)));
            if (Accumulate)
                out[r * NB + b] += s;
            else
                out[r * NB + b] = s;
        }
}

/// As dot_tile_avx512 with 8-lane AVX2 vectors.
template <int R, int NB, bool Accumulate, bool Prefetch = false>
SQLLM_TARGET_AVX2 void dot_tile_avx2(const float* const* w, const float* const* x, std::size_t n, float* out,
                                     std::size_t prefetch_bytes = 0) noexcept {
    __m256 acc[R][NB];
    for (int r = 0; r < R; ++r)
        for (int b = 0; b < NB; ++b) acc[r][b] = _mm256_setzero_ps();
    std::size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 wv[R];
        for (int r = 0; r < R; ++r) {
            if (Prefetch && k % 16 == 0)
                _mm_prefetch(reinterpret_cast<const char*>(w[r] + k) + prefetch_bytes, _MM_HINT_T0);
            wv[r] = _mm256_loadu_ps(w[r] + k);
        }
        for (int b = 0; b < NB; ++b) {
            const __m256 xv = _mm256_loadu_ps(x[b] + k);
            for (int r = 0; r < R; ++r) acc[r][b] = _mm256_fmadd_ps(wv[r], xv, acc[r][b]);
        }
    }
    if (k < n) {
        alignas(32) std::int32_t bits[8];
        for (std::size_t i = 0; i < 8; ++i) bits[i] = k + i < n ? -1 : 0;
        const __m256i m = _mm256_load_si256(reinterpret_cast<const __m256i*>(bits));
        __m256 wv[R];
        for (int r = 0; r < R; ++r) wv[r] = _mm256_maskload_ps(w[r] + k, m);
        for (int b = 0; b < NB; ++b) {
            const __m256 xv = _mm256_maskload_ps(x[b] + k, m);
            for (int r = 0; r < R; ++r) acc[r][b] = _mm256_fmadd_ps(wv[r], xv, acc[r][b]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int b = 0; b < NB; ++b) {
            const float s = hsum(acc[r][b]);
            if (Accumulate)
                out[r * NB + b] += s;
            else
                out[r * NB + b] = s;
        }
}

#endif  // SQLLM_X86_DISPATCH

}  // namespace x86
}  // namespace sqllm
