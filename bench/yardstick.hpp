// bench/yardstick.hpp — the fp32 GEMV / GEMM the LUT kernels are measured
// against, and a read-bandwidth probe. They use the same register tile
// (sqllm/kernels/x86/dot_tile.hpp), the same row blocking, the same
// prefetch distance and the same executor as sqllm's kernels, so a ratio
// between the two measures the weight format, not the care taken.
#pragma once

#include <sqllm/sqllm.hpp>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace yardstick {

/// y = W·x, W fp32 rows × cols row-major: rows in pairs through the 2 × 1
/// tile, prefetching each row 4 KiB ahead.
template <class Executor>
void fp32_gemv(sqllm::isa level, const float* W, std::size_t rows, std::size_t cols, const float* x, float* y,
               const Executor& exec) {
    auto body = [&](std::size_t b, std::size_t e) {
        const float* xp[1] = {x};
        std::size_t r = b;
        for (; r + 2 <= e; r += 2) {
            const float* wp[2] = {W + r * cols, W + (r + 1) * cols};
            if (level == sqllm::isa::avx512)
                sqllm::x86::dot_tile_avx512<2, 1, false, true>(wp, xp, cols, y + r, sqllm::x86::prefetch_distance);
            else
                sqllm::x86::dot_tile_avx2<2, 1, false, true>(wp, xp, cols, y + r, sqllm::x86::prefetch_distance);
        }
        for (; r < e; ++r) {
            const float* wp[1] = {W + r * cols};
            if (level == sqllm::isa::avx512)
                sqllm::x86::dot_tile_avx512<1, 1, false, true>(wp, xp, cols, y + r, sqllm::x86::prefetch_distance);
            else
                sqllm::x86::dot_tile_avx2<1, 1, false, true>(wp, xp, cols, y + r, sqllm::x86::prefetch_distance);
        }
    };
    sqllm::parallel_blocks(exec, rows, sqllm::detail::row_tasks(rows, cols, exec.concurrency()), body);
}

namespace detail {
template <sqllm::isa Level, int NB>
void tile(const float* const* w, const float* const* x, std::size_t n, float* out) {
    if constexpr (Level == sqllm::isa::avx512)
        sqllm::x86::dot_tile_avx512<4, NB, false>(w, x, n, out);
    else
        sqllm::x86::dot_tile_avx2<4, NB, false>(w, x, n, out);
}
}  // namespace detail

/// Y = W·X (X: batch × cols, Y: batch × rows), the loop of
/// sqllm::x86::striped_gemm_rows with the fp32 rows in place of the decoded
/// tile: 1024-column chunks, 4-row tiles, 4 batch vectors per register tile,
/// the next tile's chunk prefetched.
template <sqllm::isa Level, class Executor>
void fp32_gemm(const float* W, std::size_t rows, std::size_t cols, sqllm::matrix_view<const float> X,
               sqllm::matrix_view<float> Y, const Executor& exec) {
    constexpr std::size_t R = 4, NB = 4, chunk = 1024;
    const std::size_t batch = X.rows();
    auto body = [&](std::size_t b, std::size_t e) {
        for (std::size_t c0 = 0; c0 < cols; c0 += chunk) {
            const std::size_t n = std::min(chunk, cols - c0);
            for (std::size_t r0 = b; r0 < e; r0 += R) {
                const std::size_t nr = std::min(R, e - r0);
                for (std::size_t i = 0; i < R && r0 + R + i < e; ++i) {
                    const char* next = reinterpret_cast<const char*>(W + (r0 + R + i) * cols + c0);
                    for (std::size_t l = 0; l < n * sizeof(float); l += 64) _mm_prefetch(next + l, _MM_HINT_T0);
                }
                const float* wp[R];
                for (std::size_t i = 0; i < R; ++i) wp[i] = W + (r0 + std::min(i, nr - 1)) * cols + c0;
                float part[R * NB];
                for (std::size_t b0 = 0; b0 < batch; b0 += NB) {
                    const std::size_t nb = std::min(NB, batch - b0);
                    const float* xp[NB];
                    for (std::size_t j = 0; j < nb; ++j) xp[j] = X.row(b0 + j) + c0;
                    switch (nb) {
                        case 1: detail::tile<Level, 1>(wp, xp, n, part); break;
                        case 2: detail::tile<Level, 2>(wp, xp, n, part); break;
                        case 3: detail::tile<Level, 3>(wp, xp, n, part); break;
                        default: detail::tile<Level, 4>(wp, xp, n, part); break;
                    }
                    for (std::size_t i = 0; i < nr; ++i)
                        for (std::size_t j = 0; j < nb; ++j) {
                            float& out = Y.row(b0 + j)[r0 + i];
                            out = c0 == 0 ? part[i * nb + j] : out + part[i * nb + j];
                        }
                }
            }
        }
    };
    sqllm::parallel_blocks(exec, rows, sqllm::detail::row_tasks(rows, cols, exec.concurrency()), body);
}

/// Sum of `n` floats read once, split across the executor's tasks: the
/// sequential read bandwidth the kernels' memory floor is computed from.
SQLLM_TARGET_AVX512 inline float sum_avx512(const float* p, std::size_t n) {
    __m512 a[8];
    for (auto& v : a) v = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 128 <= n; i += 128)
        for (int k = 0; k < 8; ++k) a[k] = _mm512_add_ps(a[k], _mm512_loadu_ps(p + i + 16 * k));
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3])),
                                         _mm512_add_ps(_mm512_add_ps(a[4], a[5]), _mm512_add_ps(a[6], a[7]))));
    float s = 0;
    for (float v : lanes) s += v;
    for (; i < n; ++i) s += p[i];
    return s;
}

template <class Executor>
float read_all(const float* p, std::size_t n, const Executor& exec, float* partial) {
    const std::size_t tasks = exec.concurrency();
    sqllm::parallel_tasks(exec, n, tasks, [&](std::size_t t, std::size_t b, std::size_t e) {
        partial[t] = sum_avx512(p + b, e - b);
    });
    float s = 0;
    for (std::size_t t = 0; t < tasks; ++t) s += partial[t];
    return s;
}

}  // namespace yardstick
