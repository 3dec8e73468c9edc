// Scalar reference kernels against float64 dequantize-then-multiply, on odd
// shapes, every Bits × LUT type × sparse format × layout, batch sizes and threads.
//
// Tolerance: the kernel sums, per row, cols dense products and nnz_r sparse
// products in float, one after another. Recursive summation of m rounded
// products has |error| <= γ_m · Σ|terms| with γ_m = m·u / (1 − m·u), u = 2^-24
// (Higham, Accuracy and Stability, §3.1), while the float64 oracle's own
// error is ~1e-16 relative. So each output must lie within γ_m · Σ|terms|.
#include <sqllm/sqllm.hpp>

#include <cmath>

#include "catch.hpp"
#include "test_util.hpp"

using namespace sqllm;
using sqllm_test::gamma;
using sqllm_test::rng_t;
using sqllm_test::throws_code;

namespace {

template <class Sparse>
struct sparse_for;
template <>
struct sparse_for<no_sparse> {
    static no_sparse_storage make(rng_t&, std::size_t, std::size_t) { return {}; }
};
template <class Value, class Index>
struct sparse_for<csr<Value, Index>> {
    static csr_storage<Value, Index> make(rng_t& rng, std::size_t rows, std::size_t cols) {
        return sqllm_test::random_csr<Value, Index>(rng, rows, cols, 0.03);
    }
};
template <class Value, class Index>
struct sparse_for<balanced_csr<Value, Index>> {
    static balanced_csr_storage<Value, Index> make(rng_t& rng, std::size_t rows, std::size_t cols) {
        balanced_csr_storage<Value, Index> out;
        static_cast<csr_storage<Value, Index>&>(out) = sqllm_test::random_csr<Value, Index>(rng, rows, cols, 0.03);
        return out;
    }
};

/// Checks gemv and gemm of one random matrix against float64.
template <int Bits, class Lut, class Sparse, class Layout, class Executor>
void check_kernels(rng_t& rng, std::size_t rows, std::size_t cols, const Executor& exec, isa level = best_isa()) {
    const auto codes = sqllm_test::random_codes(rng, rows * cols, Bits);
    const quantized_matrix<Bits, Lut, Sparse, Layout> q(rows, cols, sqllm_test::random_lut<Lut>(rng, rows, 1 << Bits),
                                                        pack_codes<Layout>({codes.data(), rows, cols}),
                                                        sparse_for<Sparse>::make(rng, rows, cols));
    const auto W = q.view();
    const auto Wd = dequantize<double>(W);
    // |W| per entry split into dense and sparse magnitudes for the bound.
    std::vector<double> absW(rows * cols, 0.0);
    std::vector<std::size_t> nnz_row(rows, 0);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c)
            absW[r * cols + c] = std::fabs(W.dense_value(r, c));
    std::vector<double> sparse_abs(rows * cols, 0.0);
    {
        auto S = dequantize<double>(W);
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols; ++c) {
                const double s = S[r * cols + c] - W.dense_value(r, c);
                if (s != 0) {
                    sparse_abs[r * cols + c] = std::fabs(s);
                    ++nnz_row[r];
                }
            }
    }

    for (std::size_t batch : {1u, 2u, 5u, 17u, 64u}) {
        const auto X = sqllm_test::random_normal(rng, batch * cols);
        std::vector<float> Y(batch * rows, std::nanf(""));
        if (batch == 1)
            gemv(level, W, span<const float>(X), span<float>(Y), exec);
        else
            gemm(level, W, matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(Y.data(), batch, rows),
                 exec);
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t r = 0; r < rows; ++r) {
                double exact = 0, mag = 0;
                for (std::size_t c = 0; c < cols; ++c) {
                    const double x = X[b * cols + c];
                    exact += Wd[r * cols + c] * x;
                    mag += (absW[r * cols + c] + sparse_abs[r * cols + c]) * std::fabs(x);
                }
                const double bound = gamma(cols + nnz_row[r] + 1) * mag + 1e-30;
                INFO("Bits " << Bits << " " << rows << "x" << cols << " batch " << batch << " row " << r << " isa "
                             << isa_name(level));
                REQUIRE(std::fabs(Y[b * rows + r] - exact) <= bound);
            }
    }
}

template <int Bits, class Lut>
void check_all_formats(std::uint64_t seed) {
    rng_t rng(seed);
    const thread_executor threads(3);
    // Odd shapes: tails of every length after the 8- and 16-code SIMD steps,
    // rows whose last 32-bit load would cross the end of the words array;
    // striped rows ending in a full, a partial or an 8-lane block, rows of
    // several 1024-column gemm chunks, row counts that leave a short tile.
    for (auto shape : {std::pair<std::size_t, std::size_t>{37, 100}, {1, 33}, {129, 257}, {64, 31}, {3, 1},
                       {5, 1000}, {2, 4099}, {7, 96}, {11, 8}, {4, 129}, {6, 512}, {9, 768}, {3, 1537},
                       {13, 2304}}) {
        for (const isa level : {isa::scalar, isa::avx2, isa::avx512}) {
            if (!isa_supported(level)) continue;  // paths this CPU cannot execute are not built into the run
            check_kernels<Bits, Lut, csr<>, row_stream_layout<Bits>>(rng, shape.first, shape.second,
                                                                     sequential_executor{}, level);
            check_kernels<Bits, Lut, no_sparse, row_stream_layout<Bits>>(rng, shape.first, shape.second, threads,
                                                                         level);
            check_kernels<Bits, Lut, no_sparse, striped_layout<Bits>>(rng, shape.first, shape.second, threads,
                                                                      level);
            check_kernels<Bits, Lut, csr<>, striped_layout<Bits>>(rng, shape.first, shape.second,
                                                                  sequential_executor{}, level);
            check_kernels<Bits, Lut, csr<half, std::int64_t>, striped_layout<Bits>>(rng, shape.first, shape.second,
                                                                                    threads, level);
            check_kernels<Bits, Lut, balanced_csr<>, striped_layout<Bits>>(rng, shape.first, shape.second, threads,
                                                                           level);
        }
        check_kernels<Bits, Lut, csr<>, reference_layout<Bits>>(rng, shape.first, shape.second, threads);
    }
}

}  // namespace

TEMPLATE_TEST_CASE_SIG("gemv (every path this CPU runs) and gemm match float64 within the summation bound",
                       "[kernels]",
                       ((int Bits, class Lut), Bits, Lut), (2, float), (3, float), (4, float), (8, float), (2, half),
                       (3, half), (4, half), (8, half), (2, bfloat16), (3, bfloat16), (4, bfloat16), (8, bfloat16),
                       (1, float), (5, float), (6, half), (7, bfloat16)) {
    check_all_formats<Bits, Lut>(1000 + Bits);
}

TEST_CASE("multi-threaded results equal single-threaded ones bit for bit", "[kernels]") {
    rng_t rng(11);
    const std::size_t rows = 301, cols = 515;
    const auto codes = sqllm_test::random_codes(rng, rows * cols, 3);
    const quantized_matrix<3, half> q(rows, cols, sqllm_test::random_lut<half>(rng, rows, 8),
                                      pack_codes<row_stream_layout<3>>({codes.data(), rows, cols}),
                                      sqllm_test::random_csr<float, std::int32_t>(rng, rows, cols, 0.005));
    const auto X = sqllm_test::random_normal(rng, 4 * cols);
    std::vector<float> a(4 * rows), b(4 * rows);
    gemm(q.view(), matrix_view<const float>(X.data(), 4, cols), matrix_view<float>(a.data(), 4, rows));
    gemm(q.view(), matrix_view<const float>(X.data(), 4, cols), matrix_view<float>(b.data(), 4, rows),
         thread_executor(2));
    REQUIRE(a == b);
    // Batch column j of gemm equals the reference gemv of that column.
    std::vector<float> y(rows), y1(rows), y2(rows);
    gemv(isa::scalar, q.view(), span<const float>(X.data() + 2 * cols, cols), span<float>(y));
    REQUIRE(std::equal(y.begin(), y.end(), a.begin() + 2 * rows));
    // The SIMD gemv: a row's arithmetic does not depend on the thread count.
    gemv(q.view(), span<const float>(X.data(), cols), span<float>(y1));
    gemv(q.view(), span<const float>(X.data(), cols), span<float>(y2), thread_executor(2));
    REQUIRE(y1 == y2);
}

TEST_CASE("strided batch views", "[kernels]") {
    rng_t rng(12);
    const std::size_t rows = 13, cols = 40, batch = 3, ldx = 47, ldy = 20;
    const auto codes = sqllm_test::random_codes(rng, rows * cols, 4);
    const quantized_matrix<4, float, no_sparse> q(rows, cols, sqllm_test::random_lut<float>(rng, rows, 16),
                                                  pack_codes<row_stream_layout<4>>({codes.data(), rows, cols}));
    const auto X = sqllm_test::random_normal(rng, batch * ldx);
    std::vector<float> Y(batch * ldy, -1.0f), y(rows);
    gemm(q.view(), matrix_view<const float>(X.data(), batch, cols, ldx),
         matrix_view<float>(Y.data(), batch, rows, ldy));
    for (std::size_t b = 0; b < batch; ++b) {
        gemv(isa::scalar, q.view(), span<const float>(X.data() + b * ldx, cols), span<float>(y));
        REQUIRE(std::equal(y.begin(), y.end(), Y.begin() + static_cast<std::ptrdiff_t>(b * ldy)));
        REQUIRE(Y[b * ldy + rows] == -1.0f);  // padding untouched
    }
}

TEST_CASE("kernel shape errors", "[kernels][errors]") {
    rng_t rng(13);
    const auto codes = sqllm_test::random_codes(rng, 4 * 10, 2);
    const quantized_matrix<2, float, no_sparse> q(4, 10, sqllm_test::random_lut<float>(rng, 4, 4),
                                                  pack_codes<row_stream_layout<2>>({codes.data(), 4, 10}));
    std::vector<float> x(10), y(4), xbad(9), ybad(5), X(2 * 10), Y(2 * 4), Ybad(3 * 4);
    REQUIRE(throws_code([&] { gemv(q.view(), xbad, y); }, errc::shape_mismatch));
    REQUIRE(throws_code([&] { gemv(q.view(), x, ybad); }, errc::shape_mismatch));
    REQUIRE(throws_code([&] { gemm(q.view(), {X.data(), 2, 10}, {Ybad.data(), 3, 4}); }, errc::shape_mismatch));
    REQUIRE(throws_code([&] { gemm(q.view(), {X.data(), 2, 9}, {Y.data(), 2, 4}); }, errc::shape_mismatch));
    REQUIRE(throws_code([&] { gemm(q.view(), {X.data(), 2, 10}, {Y.data(), 2, 3}); }, errc::shape_mismatch));
}

TEST_CASE("views validate caller arrays", "[kernels][errors]") {
    std::vector<float> lut(3 * 8, 0.0f);
    std::vector<std::uint32_t> words(row_stream_layout<3>::word_count(3, 50));
    using view3 = quantized_view<3, float, no_sparse>;
    REQUIRE_NOTHROW(view3(3, 50, lut, words));
    std::vector<float> short_lut(3 * 7);
    REQUIRE(throws_code([&] { view3(3, 50, short_lut, words); }, errc::shape_mismatch));
    std::vector<std::uint32_t> short_words(words.size() - 1);
    REQUIRE(throws_code([&] { view3(3, 50, lut, short_words); }, errc::shape_mismatch));
    lut[4] = std::numeric_limits<float>::infinity();
    REQUIRE(throws_code([&] { view3(3, 50, lut, words); }, errc::non_finite));
}

TEST_CASE("storage accounting", "[kernels]") {
    // 4096 × 4096 at 3 bits, fp16 LUT, 0.45 % CSR: the figures an engine budgets with.
    const std::size_t rows = 4096, cols = 4096, nnz = rows * cols * 45 / 10000;
    std::vector<half> lut(rows * 8);
    std::vector<std::uint32_t> words(row_stream_layout<3>::word_count(rows, cols));
    std::vector<std::int32_t> row_ptr(rows + 1, 0), col_idx(nnz);
    std::vector<float> vals(nnz);
    for (std::size_t i = 0; i < nnz; ++i)
        col_idx[i] = static_cast<std::int32_t>(i % cols);
    for (std::size_t r = 0; r <= rows; ++r)
        row_ptr[r] = static_cast<std::int32_t>(nnz * r / rows);
    // Make every row's columns increasing: spread each row's entries evenly.
    for (std::size_t r = 0; r < rows; ++r)
        for (auto i = row_ptr[r]; i < row_ptr[r + 1]; ++i)
            col_idx[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i - row_ptr[r]) * 7);
    const quantized_view<3, half> v(rows, cols, lut, words, csr_view<float, std::int32_t>{row_ptr, col_idx, vals});
    const std::size_t expect = rows * cols * 3 / 8 + rows * 8 * 2 + (rows + 1) * 4 + nnz * 8;
    REQUIRE(v.storage_bytes() == expect);
    REQUIRE(std::fabs(v.bits_per_weight() - 8.0 * expect / (rows * cols)) < 1e-12);
    REQUIRE(v.bits_per_weight() < 3.4);
}
