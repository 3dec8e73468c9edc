// fuzz/check_kernels.hpp — runs gemv and gemm on a matrix that loaded or
// imported, on every target this CPU runs, and checks them against the
// scalar oracle: the dequantized matrix (sqllm::dequantize plus the sparse
// part's add_to_dense) multiplied in double, within the float32 summation
// bound γ_m·Σ|terms|; the scalar reference kernels within the same bound;
// a batch of one equal to gemv bit for bit; and a chunked, out-of-order
// executor equal to an in-order one of the same concurrency bit for bit (and
// to the sequential executor, for row-fused sparse formats).
#pragma once

#include <sqllm/sqllm.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

namespace sqllm_fuzz {

/// Shapes the harness multiplies (it allocates rows·cols doubles for the oracle).
constexpr std::size_t max_kernel_elements = std::size_t(1) << 16;

template <int Bits, class Lut, class Sparse, class Layout>
void check_kernels(const sqllm::quantized_view<Bits, Lut, Sparse, Layout>& W, reader& in, const char* what) {
    using namespace sqllm;
    const std::size_t rows = W.rows(), cols = W.cols();
    if (rows == 0 || cols == 0 || rows > max_kernel_elements || cols > max_kernel_elements ||
        rows * cols > max_kernel_elements)
        return;
    const std::size_t batch = 1 + in.u8() % 4;
    // Activations: multiples of 1/16 in [-8, 8), so the products stay finite.
    std::vector<float> X(batch * cols);
    for (float& v : X)
        v = static_cast<float>(static_cast<std::int8_t>(in.u8())) / 16.0f;

    // The oracle: dense and sparse parts separately, in double.
    std::vector<double> D(rows * cols), S(rows * cols, 0.0);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c)
            D[r * cols + c] = W.dense_value(r, c);
    sparse_format_traits<Sparse>::add_to_dense(W.sparse(), matrix_view<double>(S.data(), rows, cols));
    {  // dequantize must agree with the parts (it is the oracle the tests use)
        const auto deq = dequantize<double>(W);
        for (std::size_t i = 0; i < rows * cols; ++i)
            SQLLM_FUZZ_CHECK(deq[i] == D[i] + S[i] || (std::isnan(deq[i]) && std::isnan(D[i] + S[i])),
                             std::string(what) + ": dequantize differs from LUT + sparse at " + std::to_string(i));
    }
    std::vector<double> exact(batch * rows), bound(batch * rows);
    bool finite = true;
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t r = 0; r < rows; ++r) {
            double e = 0, mag = 0;
            for (std::size_t c = 0; c < cols; ++c) {
                const double x = X[b * cols + c];
                e += (D[r * cols + c] + S[r * cols + c]) * x;
                mag += (std::fabs(D[r * cols + c]) + std::fabs(S[r * cols + c])) * std::fabs(x);
            }
            exact[b * rows + r] = e;
            bound[b * rows + r] = gamma(2 * cols + 1) * mag + 1e-30;
            // Partial sums near FLT_MAX may overflow float legitimately: compare only well inside the range.
            if (!(mag < 1e36)) finite = false;
        }
    auto near = [&](const std::vector<float>& y, std::size_t b, const std::string& how) {
        if (!finite) return;
        for (std::size_t r = 0; r < rows; ++r) {
            const double err = std::fabs(static_cast<double>(y[r]) - exact[b * rows + r]);
            if (!(err <= bound[b * rows + r]))
                finding(std::string(what) + ": " + how + " row " + std::to_string(r) + " batch " + std::to_string(b) +
                        " = " + std::to_string(y[r]) + ", oracle " + std::to_string(exact[b * rows + r]) +
                        ", bound " + std::to_string(bound[b * rows + r]));
        }
    };

    const std::size_t workers = 2 + in.u8() % 5;
    const chunk_executor in_order{workers, false}, reversed{workers, true};
    constexpr bool row_fused = sparse_format_traits<Sparse>::row_fused;
    std::vector<float> y(rows), y2(rows), Y(batch * rows), Y2(batch * rows);
    auto same = [&](const std::vector<float>& a, const std::vector<float>& b, const std::string& how) {
        for (std::size_t i = 0; i < a.size(); ++i)
            SQLLM_FUZZ_CHECK(same_bits(a[i], b[i]) || (std::isnan(a[i]) && std::isnan(b[i])),
                             std::string(what) + ": " + how + " at " + std::to_string(i));
    };
    {
        reference::gemv(W, span<const float>(X.data(), cols), span<float>(y));
        near(y, 0, "reference::gemv");
        reference::gemm(W, matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(Y.data(), batch, rows));
        for (std::size_t b = 0; b < batch; ++b)
            near(std::vector<float>(Y.begin() + b * rows, Y.begin() + (b + 1) * rows), b, "reference::gemm");
    }
    for (const target_id t : all_targets) {
        if (!has_kernel(t, W)) continue;
        const std::string on = std::string(" on ") + to_string(t);
        gemv(t, W, span<const float>(X.data(), cols), span<float>(y));
        near(y, 0, "gemv" + on);
        if (row_fused) {
            gemv(t, W, span<const float>(X.data(), cols), span<float>(y2), reversed);
            same(y, y2, "gemv" + on + " differs between the sequential and a chunked executor");
        }
        gemv(t, W, span<const float>(X.data(), cols), span<float>(y), in_order);
        near(y, 0, "gemv" + on + " (chunked)");
        gemv(t, W, span<const float>(X.data(), cols), span<float>(y2), reversed);
        same(y, y2, "gemv" + on + " differs between in-order and reversed chunks");

        gemm(t, W, matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(Y.data(), batch, rows));
        for (std::size_t b = 0; b < batch; ++b)
            near(std::vector<float>(Y.begin() + b * rows, Y.begin() + (b + 1) * rows), b, "gemm" + on);
        if (batch == 1) {
            gemv(t, W, span<const float>(X.data(), cols), span<float>(y));
            same(y, Y, "gemm of a batch of one differs from gemv" + on);
        }
        if (row_fused) {
            gemm(t, W, matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(Y2.data(), batch, rows),
                 reversed);
            same(Y, Y2, "gemm" + on + " differs between the sequential and a chunked executor");
        }
        gemm(t, W, matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(Y.data(), batch, rows),
             in_order);
        gemm(t, W, matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(Y2.data(), batch, rows),
             reversed);
        same(Y, Y2, "gemm" + on + " differs between in-order and reversed chunks");
    }
}

}  // namespace sqllm_fuzz
