// Shared by the kernel tests: the targets this CPU runs, a layout without a
// driver, and the float64 check of gemv/gemm on one random matrix.
//
// Tolerance: a target sums, per row, cols dense products and nnz_r sparse
// products in float, in some order. Any order of summing m rounded products
// has |error| <= γ_m · Σ|terms| with γ_m = m·u / (1 − m·u), u = 2^-24
// (Higham, Accuracy and Stability, §3.1; fused multiply-adds only remove
// roundings), while the float64 oracle's own error is ~1e-16 relative. So
// each output must lie within γ_m · Σ|terms|, m = cols + nnz_r + 1.
//
// SQLLM_TEST_QUICK=1 (set by the emulated AArch64 run, .ci/run) keeps every
// type combination but runs fewer shapes.
#pragma once

#include <sqllm/sqllm.hpp>

#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "test_util.hpp"

namespace sqllm_test {

/// A layout with no driver of its own, as a user might add: one code per
/// word. Only the scalar target (the oracle) has kernels for it.
template <int Bits>
struct word_per_code_layout {
    static constexpr int bits = Bits;
    static constexpr const char* name = "word_per_code";
    static std::size_t word_count(std::size_t rows, std::size_t cols) { return rows * sqllm::group_count(cols) * 32; }
    static std::uint32_t get(const std::uint32_t* w, std::size_t, std::size_t cols, std::size_t r, std::size_t c) {
        return w[r * sqllm::group_count(cols) * 32 + c];
    }
    static void unpack_group(const std::uint32_t* w, std::size_t, std::size_t cols, std::size_t r, std::size_t g,
                             sqllm::code_t* out) {
        for (std::size_t k = 0; k < 32; ++k)
            out[k] = static_cast<sqllm::code_t>(w[r * sqllm::group_count(cols) * 32 + g * 32 + k]);
    }
    static void pack_group(std::uint32_t* w, std::size_t, std::size_t cols, std::size_t r, std::size_t g,
                           const sqllm::code_t* in) {
        for (std::size_t k = 0; k < 32; ++k) w[r * sqllm::group_count(cols) * 32 + g * 32 + k] = in[k];
    }
};

inline std::vector<sqllm::target_id> runnable_targets() {
    std::vector<sqllm::target_id> out;
    for (sqllm::target_id t : sqllm::all_targets)
        if (sqllm::target_supported(t)) out.push_back(t);
    return out;
}

inline bool quick_tests() {
    const char* q = std::getenv("SQLLM_TEST_QUICK");
    return q && *q && std::string(q) != "0";
}

template <class Sparse>
typename sqllm::sparse_format_traits<Sparse>::storage random_sparse(rng_t& rng, std::size_t rows, std::size_t cols) {
    if constexpr (sqllm::sparse_format_traits<Sparse>::stores_entries) {
        using V = typename sqllm::sparse_format_traits<Sparse>::view;
        return random_csr<typename V::value_type, typename V::index_type>(rng, rows, cols, 0.03);
    } else {
        return {};
    }
}

/// What one multiply produced and what float64 says: dense W (with sparse)
/// row-major, per-entry magnitude bound, nonzeros per row.
struct kernel_case {
    std::string what;
    std::size_t rows = 0, cols = 0;
    std::vector<double> W, mag_w;
    std::vector<std::size_t> nnz_row;
};

/// Checks Y (batch × rows) = W·X (X: batch × cols) within the bound; not a
/// template, so the assertions are compiled once. Defined in test_kernels.cpp.
void check_product(const kernel_case& k, const std::vector<float>& X, const std::vector<float>& Y, std::size_t batch);

/// Builds a random rows × cols matrix of the given types and runs gemv
/// (batch 1) and gemm (other batches) on target t through exec.
template <int Bits, class Lut, class Sparse, class Layout, class Executor>
void check_kernels(rng_t& rng, std::size_t rows, std::size_t cols, const Executor& exec, sqllm::target_id t,
                   const std::vector<std::size_t>& batches) {
    using namespace sqllm;
    const auto codes = random_codes(rng, rows * cols, Bits);
    const quantized_matrix<Bits, Lut, Sparse, Layout> q(rows, cols, random_lut<Lut>(rng, rows, 1 << Bits),
                                                        pack_codes<Layout>({codes.data(), rows, cols}),
                                                        random_sparse<Sparse>(rng, rows, cols));
    const auto W = q.view();
    kernel_case k;
    k.what = "Bits " + std::to_string(Bits) + " " + lut_value_traits<Lut>::name + " " + Layout::name + " " +
             sparse_format_traits<Sparse>::name + " " + std::to_string(rows) + "x" + std::to_string(cols) +
             " target " + to_string(t) + " threads " + std::to_string(exec.concurrency()) +
             (has_kernel(t, W) ? "" : " (NO KERNEL)");
    k.rows = rows;
    k.cols = cols;
    k.W = dequantize<double>(W);
    k.mag_w.resize(rows * cols);
    k.nnz_row.assign(rows, 0);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
            const double dense = W.dense_value(r, c), sparse = k.W[r * cols + c] - dense;
            k.mag_w[r * cols + c] = std::fabs(dense) + std::fabs(sparse);
            k.nnz_row[r] += sparse != 0.0;
        }
    for (std::size_t batch : batches) {
        const auto X = random_normal(rng, batch * cols);
        std::vector<float> Y(batch * rows, std::nanf(""));
        if (batch == 1)
            gemv(t, W, span<const float>(X), span<float>(Y), exec);
        else
            gemm(t, W, matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(Y.data(), batch, rows), exec);
        check_product(k, X, Y, batch);
    }
}

/// Every sparse format and layout, every target this CPU runs, odd shapes.
template <int Bits, class Lut>
void check_all_kernels(std::uint64_t seed) {
    using namespace sqllm;
    rng_t rng(seed);
    // One executor type, two thread counts: every instantiation costs compile time.
    const thread_executor three(3), one(1);
    using shape = std::pair<std::size_t, std::size_t>;
    // Odd shapes: striped rows ending in a full, a partial or an 8-lane block,
    // rows of several 1024-column gemm chunks, row counts that leave a short
    // tile or a partial group of 16 rows (reference layout: rows in lanes),
    // columns that end inside a 32-code group.
    const std::vector<shape> full = {{37, 100}, {1, 33}, {129, 257}, {64, 31}, {3, 1},   {5, 1000}, {2, 4099},
                                     {7, 96},   {11, 8}, {4, 129},   {6, 512}, {9, 768}, {3, 1537}, {13, 2304}};
    const std::vector<shape> few = {{37, 100}, {1, 33}, {19, 257}, {3, 1537}, {6, 512}};
    std::size_t i = 0;
    for (const shape& s : quick_tests() ? few : full) {
        const std::size_t rows = s.first, cols = s.second;
        for (const target_id t : runnable_targets()) {
            // Batch 64 on every other shape: it is the oracle, not the kernel, that costs.
            const std::vector<std::size_t> batches =
                i++ % 2 ? std::vector<std::size_t>{1, 2, 5, 17, 64} : std::vector<std::size_t>{1, 3, 8};
            check_kernels<Bits, Lut, no_sparse, striped_layout<Bits>>(rng, rows, cols, three, t, batches);
            check_kernels<Bits, Lut, csr<>, striped_layout<Bits>>(rng, rows, cols, one, t, batches);
            check_kernels<Bits, Lut, balanced_csr<>, striped_layout<Bits>>(rng, rows, cols, three, t, {1, 4});
            check_kernels<Bits, Lut, no_sparse, reference_layout<Bits>>(rng, rows, cols, one, t, batches);
            check_kernels<Bits, Lut, csr<>, reference_layout<Bits>>(rng, rows, cols, three, t, batches);
            check_kernels<Bits, Lut, balanced_csr<>, reference_layout<Bits>>(rng, rows, cols, one, t, {1, 4});
            // Other value and index types of the sparse part, one layout each.
            check_kernels<Bits, Lut, csr<half, std::int64_t>, striped_layout<Bits>>(rng, rows, cols, three, t, {1, 2});
            check_kernels<Bits, Lut, balanced_csr<bfloat16, std::int16_t>, reference_layout<Bits>>(rng, rows, cols,
                                                                                                   three, t, {1, 2});
        }
        // A layout without a driver: the oracle, as the scalar target.
        check_kernels<Bits, Lut, csr<>, word_per_code_layout<Bits>>(rng, rows, cols, three, target_id::scalar, {1, 3});
    }
}

}  // namespace sqllm_test
