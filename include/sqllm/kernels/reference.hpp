// sqllm/kernels/reference.hpp — the scalar oracle: y = W·x and Y = W·X
// straight from the packed codes of any layout, dense and sparse parts fused.
//
// Every target's kernels are tested against it, so it is written for clarity
// and a fixed summation order: per row, the dense terms in column order (the
// codes read 32 at a time through Layout::unpack_group), then the sparse terms
// in the format's order, accumulated in float. It also serves, as the scalar
// target, layouts that have no driver of their own (kernels/layout_kernels.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include "../config.hpp"
#include "../core/executor.hpp"
#include "../matrix/quantized_matrix.hpp"
#include "row_blocks.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {

/// y[r] = dense row r · x for r in [b, e).
template <int Bits, class Lut, class Sparse, class Layout>
void oracle_gemv_rows(const quantized_view<Bits, Lut, Sparse, Layout>& W, const float* x, float* y, std::size_t b,
                      std::size_t e) {
    constexpr int K = 1 << Bits;
    const std::size_t rows = W.rows(), cols = W.cols();
    code_t codes[codes_per_group];
    float lut[K];
    for (std::size_t r = b; r < e; ++r) {
        for (int k = 0; k < K; ++k) lut[k] = lut_value_traits<Lut>::to_float(W.lut_row(r)[k]);
        float acc = 0.0f;
        for (std::size_t g = 0; g * codes_per_group < cols; ++g) {
            Layout::unpack_group(W.words(), rows, cols, r, g, codes);
            const std::size_t c0 = g * codes_per_group;
            const std::size_t n = std::min(codes_per_group, cols - c0);
            for (std::size_t k = 0; k < n; ++k) acc += lut[codes[k]] * x[c0 + k];
        }
        y[r] = acc;
    }
}

/// Y(j, r) = dense row r · X(j, :) for r in [b, e) and every batch vector j.
template <int Bits, class Lut, class Sparse, class Layout>
void oracle_gemm_rows(const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const float> X,
                      matrix_view<float> Y, std::size_t b, std::size_t e) {
    const std::size_t rows = W.rows(), cols = W.cols(), batch = X.rows();
    code_t codes[codes_per_group];
    float w[codes_per_group];
    constexpr std::size_t tile = 16;  // batch vectors accumulated at once
    float acc[tile];
    for (std::size_t r = b; r < e; ++r) {
        const Lut* lut = W.lut_row(r);
        for (std::size_t b0 = 0; b0 < batch; b0 += tile) {
            const std::size_t nb = std::min(tile, batch - b0);
            std::fill(acc, acc + nb, 0.0f);
            for (std::size_t g = 0; g * codes_per_group < cols; ++g) {
                Layout::unpack_group(W.words(), rows, cols, r, g, codes);
                const std::size_t c0 = g * codes_per_group;
                const std::size_t n = std::min(codes_per_group, cols - c0);
                for (std::size_t k = 0; k < n; ++k) w[k] = lut_value_traits<Lut>::to_float(lut[codes[k]]);
                for (std::size_t j = 0; j < nb; ++j) {
                    const float* xj = X.row(b0 + j) + c0;
                    for (std::size_t k = 0; k < n; ++k) acc[j] += w[k] * xj[k];
                }
            }
            for (std::size_t j = 0; j < nb; ++j) Y(b0 + j, r) = acc[j];
        }
    }
}

}  // namespace detail

namespace reference {

/// y = W·x. x has W.cols() values, y W.rows(); y is overwritten.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemv(const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const float> x, span<float> y,
          const Executor& exec = {}) {
    detail::check_gemv_shapes(W.rows(), W.cols(), x.size(), y.size());
    using S = sparse_format_traits<Sparse>;
    parallel_blocks(exec, W.rows(), detail::row_tasks(W.rows(), W.cols(), exec.concurrency()),
                    [&](std::size_t b, std::size_t e) {
                        detail::oracle_gemv_rows(W, x.data(), y.data(), b, e);
                        if constexpr (S::row_fused) S::gemv_rows(W.sparse(), x.data(), y.data(), b, e);
                    });
    if constexpr (!S::row_fused) S::gemv_split(W.sparse(), x.data(), y.data(), exec);
}

/// Y = W·X for a batch of N activation vectors. X is N × cols (one vector
/// per row, i.e. the batch's columns stored contiguously, as engines hold
/// tokens), Y is N × rows; Y is overwritten. Any stride >= the row length.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemm(const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const float> X, matrix_view<float> Y,
          const Executor& exec = {}) {
    detail::check_gemm_shapes(W.rows(), W.cols(), X.rows(), X.cols(), Y.rows(), Y.cols());
    using S = sparse_format_traits<Sparse>;
    parallel_blocks(exec, W.rows(), detail::row_tasks(W.rows(), W.cols(), exec.concurrency()),
                    [&](std::size_t b, std::size_t e) {
                        detail::oracle_gemm_rows(W, X, Y, b, e);
                        if constexpr (S::row_fused) S::gemm_rows(W.sparse(), X, Y, b, e);
                    });
    if constexpr (!S::row_fused) S::gemm_split(W.sparse(), X, Y, exec);
}

}  // namespace reference
SQLLM_NAMESPACE_END
