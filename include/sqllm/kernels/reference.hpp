// sqllm/kernels/reference.hpp — scalar reference kernels: y = W·x and Y = W·X
// straight from the packed codes, dense and sparse parts fused per row.
//
// They are the test oracle for every SIMD and GPU kernel, so they are written
// for clarity and a fixed summation order: per row, the dense terms in column
// order, then the sparse terms in CSR order, accumulated in float.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include "../core/executor.hpp"
#include "../core/quantized_matrix.hpp"

namespace sqllm {
namespace detail {

template <class View>
void check_gemv_shapes(const View& W, std::size_t x_size, std::size_t y_size) {
    if (x_size != W.cols())
        fail(errc::shape_mismatch,
             "x has " + std::to_string(x_size) + " values, the matrix has " + std::to_string(W.cols()) + " columns");
    if (y_size != W.rows())
        fail(errc::shape_mismatch,
             "y has " + std::to_string(y_size) + " values, the matrix has " + std::to_string(W.rows()) + " rows");
}

template <class View>
void check_gemm_shapes(const View& W, std::size_t x_rows, std::size_t x_cols, std::size_t y_rows, std::size_t y_cols) {
    if (x_cols != W.cols())
        fail(errc::shape_mismatch, "X rows have " + std::to_string(x_cols) + " values, the matrix has " +
                                       std::to_string(W.cols()) + " columns");
    if (y_cols != W.rows())
        fail(errc::shape_mismatch,
             "Y rows have " + std::to_string(y_cols) + " values, the matrix has " + std::to_string(W.rows()) + " rows");
    if (x_rows != y_rows)
        fail(errc::shape_mismatch,
             "X holds " + std::to_string(x_rows) + " vectors but Y has room for " + std::to_string(y_rows));
}

/// The sparse part of rows [b, e), for formats applied per row block
/// (sparse_format_traits::row_fused); a no-op for the others.
template <class Sparse, class View>
void sparse_gemv_rows(const View& s, const float* x, float* y, std::size_t b, std::size_t e) {
    if constexpr (sparse_format_traits<Sparse>::row_fused) accumulate_gemv(s, x, y, b, e);
}
template <class Sparse, class View>
void sparse_gemm_rows(const View& s, matrix_view<const float> X, matrix_view<float> Y, std::size_t b, std::size_t e) {
    if constexpr (sparse_format_traits<Sparse>::row_fused) accumulate_gemm(s, X, Y, b, e);
}
/// The sparse part of every row, after the dense part, for formats that
/// split their own work (row_fused == false); a no-op for the others.
template <class Sparse, class View, class Executor>
void sparse_gemv_split(const View& s, const float* x, float* y, const Executor& exec) {
    if constexpr (!sparse_format_traits<Sparse>::row_fused) accumulate_gemv_split(s, x, y, exec);
}
template <class Sparse, class View, class Executor>
void sparse_gemm_split(const View& s, matrix_view<const float> X, matrix_view<float> Y, const Executor& exec) {
    if constexpr (!sparse_format_traits<Sparse>::row_fused) accumulate_gemm_split(s, X, Y, exec);
}

/// Rows per task: enough work per task to amortise scheduling, and a few
/// tasks per worker so uneven rows balance out.
inline std::size_t row_tasks(std::size_t rows, std::size_t cols, std::size_t concurrency) {
    if (concurrency <= 1) return 1;
    const std::size_t min_rows = std::max<std::size_t>(1, (1u << 16) / std::max<std::size_t>(cols, 1));
    return std::max<std::size_t>(1, std::min(concurrency * 4, rows / min_rows));
}

}  // namespace detail

namespace reference {

/// y = W·x. x has W.cols() values, y W.rows(); y is overwritten.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemv(const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const float> x, span<float> y,
          const Executor& exec = {}) {
    detail::check_gemv_shapes(W, x.size(), y.size());
    const std::size_t rows = W.rows(), cols = W.cols();
    auto body = [&](std::size_t row_begin, std::size_t row_end) {
        code_t codes[codes_per_group];
        float lut[bit_width<Bits>::levels];
        for (std::size_t r = row_begin; r < row_end; ++r) {
            for (int k = 0; k < bit_width<Bits>::levels; ++k)
                lut[k] = lut_value_traits<Lut>::to_float(W.lut_row(r)[k]);
            float acc = 0.0f;
            for (std::size_t g = 0; g * codes_per_group < cols; ++g) {
                Layout::unpack_group(W.words(), rows, cols, r, g, codes);
                const std::size_t c0 = g * codes_per_group;
                const std::size_t n = std::min(codes_per_group, cols - c0);
                for (std::size_t k = 0; k < n; ++k)
                    acc += lut[codes[k]] * x[c0 + k];
            }
            y[r] = acc;
        }
        detail::sparse_gemv_rows<Sparse>(W.sparse(), x.data(), y.data(), row_begin, row_end);
    };
    parallel_blocks(exec, rows, detail::row_tasks(rows, cols, exec.concurrency()), body);
    detail::sparse_gemv_split<Sparse>(W.sparse(), x.data(), y.data(), exec);
}

/// Y = W·X for a batch of N activation vectors. X is N × cols (one vector
/// per row, i.e. the batch's columns stored contiguously, as engines hold
/// tokens), Y is N × rows; Y is overwritten. Any stride >= the row length.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemm(const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const float> X, matrix_view<float> Y,
          const Executor& exec = {}) {
    detail::check_gemm_shapes(W, X.rows(), X.cols(), Y.rows(), Y.cols());
    const std::size_t rows = W.rows(), cols = W.cols(), batch = X.rows();
    auto body = [&](std::size_t row_begin, std::size_t row_end) {
        code_t codes[codes_per_group];
        float w[codes_per_group];
        constexpr std::size_t tile = 16;  // batch columns accumulated at once
        float acc[tile];
        for (std::size_t r = row_begin; r < row_end; ++r) {
            const Lut* lut = W.lut_row(r);
            for (std::size_t b0 = 0; b0 < batch; b0 += tile) {
                const std::size_t nb = std::min(tile, batch - b0);
                std::fill(acc, acc + nb, 0.0f);
                for (std::size_t g = 0; g * codes_per_group < cols; ++g) {
                    Layout::unpack_group(W.words(), rows, cols, r, g, codes);
                    const std::size_t c0 = g * codes_per_group;
                    const std::size_t n = std::min(codes_per_group, cols - c0);
                    for (std::size_t k = 0; k < n; ++k)
                        w[k] = lut_value_traits<Lut>::to_float(lut[codes[k]]);
                    for (std::size_t b = 0; b < nb; ++b) {
                        const float* xb = X.row(b0 + b) + c0;
                        for (std::size_t k = 0; k < n; ++k)
                            acc[b] += w[k] * xb[k];
                    }
                }
                for (std::size_t b = 0; b < nb; ++b)
                    Y(b0 + b, r) = acc[b];
            }
        }
        detail::sparse_gemm_rows<Sparse>(W.sparse(), X, Y, row_begin, row_end);
    };
    parallel_blocks(exec, rows, detail::row_tasks(rows, cols, exec.concurrency()), body);
    detail::sparse_gemm_split<Sparse>(W.sparse(), X, Y, exec);
}

}  // namespace reference
}  // namespace sqllm
