// The approximate int8 path (kernels/gemm_int8.hpp): every target this CPU
// runs against its oracle, reference::gemm_int8, on odd shapes; the oracle
// against the exact product; bad input.
//
// Tolerance against the oracle. Both quantize X with the same function and
// each row's LUT with the same formula, so every block's integer sum is the
// same exact integer; they differ only in float rounding. A target sums, per
// lane, d·S' over the blocks (S' the block's lane sum with the weights biased
// by b = 0 or 128, exact in float: |S'| <= 255·127·256 < 2^24), then the lanes,
// subtracts b·Q (Q = Σ d·Σx8, itself a float sum over the blocks), scales by
// s = max|lut|/127, adds the chunks (2048 columns each) and the sparse terms.
// That is m <= 2·blocks + 16 + chunks + nnz + 4 rounded additions, each term
// bounded by s·d·(|w8| + b)|x8| <= 255/127·max|lut|·|x̂| or b·s·d|x8| <=
// 128/127·max|lut|·|x̂| (x̂ = d·x8, |x̂| <= |x| + d/2), or a sparse |v·x|; so
// |y − y_oracle| <= γ_m·(4·max|lut|·Σ|x̂| + Σ|v·x|) (Higham §3.1; the double
// oracle's own error is ~1e-16 relative, its final float rounding one more term).
#include <sqllm/kernels/gemm_int8.hpp>
#include <sqllm/sqllm.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "catch.hpp"
#include "error_check.hpp"
#include "test_util.hpp"

namespace {

using namespace sqllm;
using sqllm_test::rng_t;

std::vector<target_id> runnable_targets() {
    std::vector<target_id> out;
    for (target_id t : all_targets)
        if (target_supported(t)) out.push_back(t);
    return out;
}

template <int Bits, class Lut, class Sparse>
using striped_matrix = quantized_matrix<Bits, Lut, Sparse, striped_layout<Bits>>;

template <class Sparse>
typename sparse_format_traits<Sparse>::storage make_sparse(rng_t& rng, std::size_t rows, std::size_t cols) {
    if constexpr (sparse_format_traits<Sparse>::stores_entries) {
        using V = typename sparse_format_traits<Sparse>::view;
        return sqllm_test::random_csr<typename V::value_type, typename V::index_type>(rng, rows, cols, 0.03);
    } else {
        return {};
    }
}

template <int Bits, class Lut, class Sparse>
striped_matrix<Bits, Lut, Sparse> random_matrix(rng_t& rng, std::size_t rows, std::size_t cols) {
    const auto codes = sqllm_test::random_codes(rng, rows * cols, Bits);
    return striped_matrix<Bits, Lut, Sparse>(rows, cols, sqllm_test::random_lut<Lut>(rng, rows, 1 << Bits),
                                             pack_codes<striped_layout<Bits>>({codes.data(), rows, cols}),
                                             make_sparse<Sparse>(rng, rows, cols));
}

/// Activations with some spread between blocks and a few outliers.
std::vector<float> random_x(rng_t& rng, std::size_t n) {
    auto x = sqllm_test::random_normal(rng, n);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (std::size_t i = 0; i < n; ++i) {
        x[i] *= 0.5f + static_cast<float>(i / 256 % 3);
        if (u(rng) < 0.002f) x[i] *= 20.0f;
    }
    return x;
}

/// Checks Y (batch × rows) from a target against the oracle's Yo within the
/// bound of the file comment.
template <int Bits, class Lut, class Sparse>
void check_against_oracle(const quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>& W,
                          const std::vector<float>& X, const std::vector<float>& Y, const std::vector<float>& Yo,
                          std::size_t batch, const std::string& what) {
    const std::size_t rows = W.rows(), cols = W.cols();
    const std::size_t blocks = striped_geometry::padded_cols(cols) / 256;
    const auto dense = dequantize<double>(W);  // dense + sparse
    std::size_t bad = 0;
    for (std::size_t j = 0; j < batch; ++j) {
        const float* x = X.data() + j * cols;
        double sum_xhat = 0.0;  // Σ|x̂| <= Σ (|x| + max|x of the block| / 254)
        for (std::size_t q = 0; q < blocks; ++q) {
            double m = 0.0, s = 0.0;
            for (std::size_t c = q * 256; c < std::min(cols, q * 256 + 256); ++c) {
                m = std::max(m, double(std::fabs(x[c])));
                s += std::fabs(x[c]);
            }
            sum_xhat += s + m / 254.0 * double(std::min(cols, q * 256 + 256) - q * 256);
        }
        for (std::size_t r = 0; r < rows; ++r) {
            double lmax = 0.0;
            for (int k = 0; k < (1 << Bits); ++k)
                lmax = std::max(lmax, double(std::fabs(lut_value_traits<Lut>::to_float(W.lut_row(r)[k]))));
            double sparse_mag = 0.0;
            std::size_t nnz = 0;
            for (std::size_t c = 0; c < cols; ++c) {
                const double v = dense[r * cols + c] - W.dense_value(r, c);
                if (v != 0.0) {
                    sparse_mag += std::fabs(v * x[c]);
                    ++nnz;
                }
            }
            const std::size_t m = 2 * blocks + 16 + blocks / 8 + nnz + 8;
            const double bound = sqllm_test::gamma(m) * (4.0 * lmax * sum_xhat + sparse_mag);
            const double got = Y[j * rows + r], want = Yo[j * rows + r];
            if (!(std::fabs(got - want) <= bound) && bad++ < 5) {
                CAPTURE(what, j, r, got, want, bound);
                CHECK(std::fabs(got - want) <= bound);
            }
        }
    }
    if (bad) FAIL(what << ": " << bad << " outputs off the oracle");
}

/// gemv_int8 (batch 1) or gemm_int8 on every runnable target against the oracle.
template <int Bits, class Lut, class Sparse>
void check_targets(rng_t& rng, std::size_t rows, std::size_t cols, const std::vector<std::size_t>& batches) {
    const auto q = random_matrix<Bits, Lut, Sparse>(rng, rows, cols);
    const auto W = q.view();
    const thread_executor three(3);
    for (std::size_t batch : batches) {
        const auto X = random_x(rng, batch * cols);
        std::vector<float> Yo(batch * rows, std::nanf(""));
        reference::gemm_int8(W, matrix_view<const float>(X.data(), batch, cols),
                             matrix_view<float>(Yo.data(), batch, rows));
        for (target_id t : runnable_targets()) {
            const std::string what = "Bits " + std::to_string(Bits) + " " + lut_value_traits<Lut>::name + " " +
                                     sparse_format_traits<Sparse>::name + " " + std::to_string(rows) + "x" +
                                     std::to_string(cols) + " batch " + std::to_string(batch) + " target " +
                                     to_string(t);
            std::vector<float> Y(batch * rows, std::nanf(""));
            if (batch == 1)
                gemv_int8(t, W, span<const float>(X), span<float>(Y), three);
            else
                gemm_int8(t, W, matrix_view<const float>(X.data(), batch, cols),
                          matrix_view<float>(Y.data(), batch, rows), batch % 2 ? three : thread_executor(1));
            check_against_oracle(W, X, Y, Yo, batch, what);
        }
    }
}

template <int Bits, class Lut>
void check_all(std::uint64_t seed) {
    rng_t rng(seed);
    using shape = std::pair<std::size_t, std::size_t>;
    // Rows leaving short 4-row tiles; columns ending inside a 32-code group,
    // in an 8-lane block, over several 2048-column chunks.
    const std::vector<shape> shapes = {{37, 100}, {1, 33}, {19, 257}, {6, 512}, {3, 1537}, {13, 2304}, {2, 4099}};
    const std::vector<std::size_t> few = {1, 2, 5, 33}, all = {1, 2, 3, 4, 5, 6, 7, 8, 9, 33};
    std::size_t i = 0;
    for (const shape& s : shapes) {
        check_targets<Bits, Lut, no_sparse>(rng, s.first, s.second, i % 2 ? few : all);
        check_targets<Bits, Lut, csr<>>(rng, s.first, s.second, i++ % 2 ? all : few);
    }
    check_targets<Bits, Lut, balanced_csr<>>(rng, 21, 700, {1, 4});
}

// The code widths these tests instantiate: those of SQLLM_TEST_KERNEL_BITS
// (CMake passes their mask; all eight without it), so that the builds that
// narrow the kernel sweep (CI's sanitized and AArch64 builds) narrow this
// unit too. A width left out is not instantiated at all: B is dependent.
#ifndef SQLLM_TEST_BITS_MASK
#define SQLLM_TEST_BITS_MASK 0xff
#endif
template <int Bits, class F>
void if_tested(F&& f) {
    if constexpr (((SQLLM_TEST_BITS_MASK >> (Bits - 1)) & 1) != 0) f(std::integral_constant<int, Bits>{});
}
#define SQLLM_INT8_WIDTH(BITS, ...) \
    if_tested<BITS>([&](auto width_) { \
        constexpr int B = decltype(width_)::value; \
        __VA_ARGS__; \
    })

}  // namespace

TEST_CASE("int8 path: every target agrees with reference::gemm_int8", "[int8]") {
    SQLLM_INT8_WIDTH(2, check_all<B, float>(1));
    SQLLM_INT8_WIDTH(3, check_all<B, float>(2));
    SQLLM_INT8_WIDTH(4, check_all<B, float>(3));
    SQLLM_INT8_WIDTH(8, check_all<B, float>(4));
    SQLLM_INT8_WIDTH(3, check_all<B, half>(5));
    SQLLM_INT8_WIDTH(4, check_all<B, half>(6));
    SQLLM_INT8_WIDTH(4, check_all<B, bfloat16>(7));
    SQLLM_INT8_WIDTH(8, check_all<B, bfloat16>(8));
}

/// Integer data that makes every rounding exact: each row's LUT integers in
/// [-127, 127] with max |lut| = 127 (s = 1, lut8 = lut), each block of X
/// integers with max |x| = 127 (d = 1, x8 = x), and few enough columns that
/// every partial sum, biased or not, stays below 2^24. Every target must then
/// give the exact integer product, bit for bit: an error of one product shows.
template <int Bits, class Lut>
void check_exact(rng_t& rng, std::size_t rows, std::size_t cols, std::size_t batch) {
    REQUIRE(255 * 127 * cols < (std::size_t{1} << 24));
    std::uniform_int_distribution<int> v(-127, 127), k(0, (1 << Bits) - 1), sign(0, 1);
    std::vector<Lut> lut(rows << Bits);
    for (std::size_t r = 0; r < rows; ++r) {
        for (int i = 0; i < (1 << Bits); ++i) lut[(r << Bits) + i] = lut_value_traits<Lut>::from_float(float(v(rng)));
        lut[(r << Bits) + k(rng)] = lut_value_traits<Lut>::from_float(sign(rng) ? 127.0f : -127.0f);
    }
    const auto codes = sqllm_test::random_codes(rng, rows * cols, Bits);
    const striped_matrix<Bits, Lut, no_sparse> q(rows, cols, lut,
                                                 pack_codes<striped_layout<Bits>>({codes.data(), rows, cols}));
    std::vector<float> X(batch * cols);
    for (std::size_t j = 0; j < batch; ++j) {
        for (std::size_t c = 0; c < cols; ++c) X[j * cols + c] = float(v(rng));
        for (std::size_t c0 = 0; c0 < cols; c0 += 256)
            X[j * cols + c0 + std::uniform_int_distribution<std::size_t>(0, std::min<std::size_t>(255, cols - c0 - 1))(rng)] =
                sign(rng) ? 127.0f : -127.0f;
    }
    std::vector<float> want(batch * rows), Yo(batch * rows);
    for (std::size_t j = 0; j < batch; ++j)
        for (std::size_t r = 0; r < rows; ++r) {
            long long y = 0;
            for (std::size_t c = 0; c < cols; ++c)
                y += static_cast<long long>(lut_value_traits<Lut>::to_float(lut[(r << Bits) + codes[r * cols + c]])) *
                     static_cast<long long>(X[j * cols + c]);
            want[j * rows + r] = static_cast<float>(y);
        }
    reference::gemm_int8(q.view(), matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(Yo.data(), batch, rows));
    CHECK(sqllm_test::same_bits(Yo, want));
    for (target_id t : runnable_targets()) {
        CAPTURE(Bits, lut_value_traits<Lut>::name, rows, cols, batch, to_string(t));
        std::vector<float> Y(batch * rows, std::nanf(""));
        gemm_int8(t, q.view(), matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(Y.data(), batch, rows));
        CHECK(sqllm_test::same_bits(Y, want));
    }
}

TEST_CASE("int8 path: exact on integer data, every target and code width", "[int8]") {
    rng_t rng(10);
    for (std::size_t batch : {1, 3, 9}) {
        SQLLM_INT8_WIDTH(1, check_exact<B, float>(rng, 7, 100, batch));
        SQLLM_INT8_WIDTH(2, check_exact<B, half>(rng, 9, 257, batch));
        SQLLM_INT8_WIDTH(3, check_exact<B, float>(rng, 13, 500, batch));
        SQLLM_INT8_WIDTH(4, check_exact<B, bfloat16>(rng, 6, 300, batch));
        SQLLM_INT8_WIDTH(5, check_exact<B, half>(rng, 5, 511, batch));
        SQLLM_INT8_WIDTH(6, check_exact<B, float>(rng, 3, 33, batch));
        SQLLM_INT8_WIDTH(7, check_exact<B, bfloat16>(rng, 11, 480, batch));
        SQLLM_INT8_WIDTH(8, check_exact<B, float>(rng, 17, 450, batch));
    }
}

TEST_CASE("int8 path: every code width 1..8", "[int8]") {
    rng_t rng(11);
    const std::vector<std::size_t> batches = {1, 6};
    SQLLM_INT8_WIDTH(1, check_targets<B, float, csr<>>(rng, 9, 600, batches));
    SQLLM_INT8_WIDTH(2, check_targets<B, half, csr<>>(rng, 9, 600, batches));
    SQLLM_INT8_WIDTH(3, check_targets<B, bfloat16, no_sparse>(rng, 9, 600, batches));
    SQLLM_INT8_WIDTH(4, check_targets<B, float, no_sparse>(rng, 9, 600, batches));
    SQLLM_INT8_WIDTH(5, check_targets<B, float, csr<>>(rng, 9, 600, batches));
    SQLLM_INT8_WIDTH(6, check_targets<B, half, no_sparse>(rng, 9, 600, batches));
    SQLLM_INT8_WIDTH(7, check_targets<B, float, csr<>>(rng, 9, 600, batches));
    SQLLM_INT8_WIDTH(8, check_targets<B, half, csr<>>(rng, 9, 600, batches));
}

TEST_CASE("int8 path: gemm_int8 is gemv_int8 per vector; the oracle reads any layout", "[int8]") {
    // Dense only: the dense part of a batch vector does not depend on its
    // neighbours in the register tile; CSR's gemm and gemv orders may differ.
    rng_t rng(12);
    const std::size_t rows = 23, cols = 1100, batch = 7;
    const auto q = random_matrix<3, float, no_sparse>(rng, rows, cols);
    const auto X = random_x(rng, batch * cols);
    for (target_id t : runnable_targets()) {
        CAPTURE(to_string(t));
        std::vector<float> Y(batch * rows), y(rows);
        gemm_int8(t, q.view(), matrix_view<const float>(X.data(), batch, cols),
                  matrix_view<float>(Y.data(), batch, rows));
        for (std::size_t j = 0; j < batch; ++j) {
            gemv_int8(t, q.view(), span<const float>(X.data() + j * cols, cols), span<float>(y));
            CHECK(sqllm_test::same_bits(y, std::vector<float>(Y.begin() + j * rows, Y.begin() + (j + 1) * rows)));
        }
    }
    // The reference-layout twin (the same codes): the oracle gives the same bits.
    const auto codes = unpack_codes<striped_layout<3>>(span<const std::uint32_t>(q.words()), rows, cols);
    const quantized_matrix<3, float, no_sparse, reference_layout<3>> ref(
        rows, cols, q.lut(), pack_codes<reference_layout<3>>({codes.data(), rows, cols}), q.sparse());
    std::vector<float> Ys(batch * rows), Yr(batch * rows);
    reference::gemm_int8(q.view(), matrix_view<const float>(X.data(), batch, cols),
                         matrix_view<float>(Ys.data(), batch, rows));
    reference::gemm_int8(ref.view(), matrix_view<const float>(X.data(), batch, cols),
                         matrix_view<float>(Yr.data(), batch, rows));
    CHECK(sqllm_test::same_bits(Ys, Yr));
}

TEST_CASE("int8 path: close to the exact product", "[int8]") {
    // Elementwise: ŵ = s·lut8 is within s/2 = max|lut|/254 of w, x̂ = d·x8
    // within d/2 = max|x of the block|/254 of x, so |ŵx̂ − wx| <= |ŵ − w||x̂| +
    // |w||x̂ − x| and |y_int8 − y| <= Σ_c (max|lut|/254·|x̂_c| + |w_c|·d_c/2),
    // plus float rounding (the oracle is exact to ~1e-7; reference::gemm to γ_cols).
    rng_t rng(13);
    const std::size_t rows = 64, cols = 1500, batch = 5;
    const auto q = random_matrix<4, float, csr<>>(rng, rows, cols);
    const auto W = q.view();
    const auto X = random_x(rng, batch * cols);
    std::vector<float> Y8(batch * rows), Y(batch * rows);
    gemm_int8(W, matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(Y8.data(), batch, rows));
    reference::gemm(W, matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(Y.data(), batch, rows));
    double err2 = 0.0, norm2 = 0.0;
    for (std::size_t j = 0; j < batch; ++j)
        for (std::size_t r = 0; r < rows; ++r) {
            double lmax = 0.0;
            for (int k = 0; k < 16; ++k) lmax = std::max(lmax, double(std::fabs(W.lut_row(r)[k])));
            double bound = 0.0, mag = 0.0;
            for (std::size_t c0 = 0; c0 < cols; c0 += 256) {
                double m = 0.0;
                for (std::size_t c = c0; c < std::min(cols, c0 + 256); ++c) m = std::max(m, double(std::fabs(X[j * cols + c])));
                for (std::size_t c = c0; c < std::min(cols, c0 + 256); ++c) {
                    const double x = std::fabs(X[j * cols + c]), w = std::fabs(W.dense_value(r, c));
                    bound += lmax / 254.0 * (x + m / 254.0) + w * m / 254.0;
                    mag += (w + lmax / 254.0) * (x + m / 254.0);
                }
            }
            bound += 2.0 * sqllm_test::gamma(cols + 64) * mag;
            const double got = Y8[j * rows + r], want = Y[j * rows + r];
            CAPTURE(j, r, got, want, bound);
            CHECK(std::fabs(got - want) <= bound);
            err2 += (got - want) * (got - want);
            norm2 += want * want;
        }
    // In aggregate: ~1/(127·√12) of the rms per factor (uniform rounding
    // errors), a fraction of a percent for these Gaussian LUTs and activations.
    const double rel = std::sqrt(err2 / norm2);
    CAPTURE(rel);
    CHECK(rel < 0.02);
}

TEST_CASE("int8 path: a caller's workspace", "[int8]") {
    rng_t rng(14);
    const std::size_t rows = 10, cols = 300, batch = 3;
    const auto q = random_matrix<4, half, no_sparse>(rng, rows, cols);
    const auto X = random_x(rng, batch * cols);
    const std::size_t need = gemm_int8_workspace_bytes(q.view(), batch);
    CHECK(need >= batch * 512 + batch * 3 * sizeof(float));
    std::vector<unsigned char> ws(need + 1);
    std::vector<float> Y1(batch * rows), Y2(batch * rows), y(rows);
    gemm_int8(q.view(), matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(Y1.data(), batch, rows));
    // Any alignment: the workspace is aligned inside.
    gemm_int8(q.view(), matrix_view<const float>(X.data(), batch, cols), matrix_view<float>(Y2.data(), batch, rows),
              span<unsigned char>(ws.data() + 1, need));
    CHECK(sqllm_test::same_bits(Y1, Y2));
    gemv_int8(best_target(), q.view(), span<const float>(X.data(), cols), span<float>(y), ws, sequential_executor{});
    CHECK(sqllm_test::same_bits(y, std::vector<float>(Y1.begin(), Y1.begin() + rows)));
    sqllm_test::expect_error(
        [&] {
            gemm_int8(q.view(), matrix_view<const float>(X.data(), batch, cols),
                      matrix_view<float>(Y2.data(), batch, rows), span<unsigned char>(ws.data(), need - 1));
        },
        errc::invalid_argument, "workspace has");
}

TEST_CASE("int8 path: bad input", "[int8]") {
    rng_t rng(15);
    const std::size_t rows = 8, cols = 300;
    const auto q = random_matrix<3, float, csr<>>(rng, rows, cols);
    const auto W = q.view();
    std::vector<float> X = random_x(rng, 2 * cols), Y(2 * rows, 7.0f), y(rows);
    using sqllm_test::expect_error;
    expect_error([&] { gemm_int8(W, matrix_view<const float>(X.data(), 2, cols - 1), matrix_view<float>(Y.data(), 2, rows)); },
                 errc::shape_mismatch, "columns");
    expect_error([&] { gemm_int8(W, matrix_view<const float>(X.data(), 2, cols), matrix_view<float>(Y.data(), 2, rows - 1)); },
                 errc::shape_mismatch, "rows");
    expect_error([&] { gemm_int8(W, matrix_view<const float>(X.data(), 2, cols), matrix_view<float>(Y.data(), 1, rows)); },
                 errc::shape_mismatch, "room for");
    expect_error([&] { gemv_int8(W, span<const float>(X.data(), cols + 1), span<float>(y)); }, errc::shape_mismatch,
                 "x has");

    // A NaN or an infinity in X: an error naming it, nothing written.
    X[cols + 7] = std::nanf("");
    expect_error([&] { gemm_int8(W, matrix_view<const float>(X.data(), 2, cols), matrix_view<float>(Y.data(), 2, rows)); },
                 errc::non_finite, "X(1, 7) is NaN");
    X[cols + 7] = 0.0f;
    X[299] = -std::numeric_limits<float>::infinity();
    expect_error([&] { gemv_int8(W, span<const float>(X.data(), cols), span<float>(y)); }, errc::non_finite,
                 "X(0, 299) is infinite");
    for (float v : Y) CHECK(v == 7.0f);

    // A target this build lacks, or this CPU cannot run.
    for (target_id t : all_targets) {
        if (target_supported(t)) continue;
        CAPTURE(to_string(t));
        expect_error([&] { gemm_int8(t, W, matrix_view<const float>(X.data(), 2, cols), matrix_view<float>(Y.data(), 2, rows)); },
                     errc::invalid_argument, to_string(t));
        expect_error([&] { gemv_int8(t, W, span<const float>(X.data(), cols), span<float>(y)); }, errc::invalid_argument,
                     "gemv_int8 of a 3-bit striped matrix");
    }
}

TEST_CASE("int8 path: blocks of zeros", "[int8]") {
    rng_t rng(16);
    const std::size_t rows = 6, cols = 520;
    const auto q = random_matrix<4, float, no_sparse>(rng, rows, cols);
    std::vector<float> x(cols, 0.0f), y(rows, 1.0f), yo(rows);
    for (std::size_t c = 256; c < cols; ++c) x[c] = 1.0f;  // block 0 all zero: scale 0
    reference::gemv_int8(q.view(), span<const float>(x), span<float>(yo));
    for (target_id t : runnable_targets()) {
        CAPTURE(to_string(t));
        gemv_int8(t, q.view(), span<const float>(x), span<float>(y));
        for (std::size_t r = 0; r < rows; ++r) CHECK(std::fabs(y[r] - yo[r]) <= 1e-5f * (1.0f + std::fabs(yo[r])));
        const std::vector<float> zero(cols, 0.0f);
        gemv_int8(t, q.view(), span<const float>(zero), span<float>(y));
        for (std::size_t r = 0; r < rows; ++r) CHECK(y[r] == 0.0f);
    }
}

namespace {

/// ||a − b|| / ||b|| over whole arrays.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
    double e = 0.0, n = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        e += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
        n += double(b[i]) * b[i];
    }
    return std::sqrt(e / n);
}

/// The int8 path's output error on a random layer against the exact path on
/// the same quantized weights, and the weight quantization's own error (the
/// exact path against fp32 weights) for scale.
template <int Bits>
void measure_layer(rng_t& rng, std::size_t n, std::size_t batch, int activations, const thread_executor& exec) {
    const auto Wf = sqllm_test::random_normal(rng, n * n, 0.02f);  // Gaussian weights
    quantize_options opt;  // SqueezeLLM's non-uniform LUTs (exact k-means); 8 bits: RTN min-max
    opt.method = Bits <= 4 ? lut_method::exact : lut_method::uniform;
    const auto q = quantize<Bits, half, no_sparse>({Wf.data(), n, n}, {}, opt, exec);
    // Activations: 0 iid Gaussian; 1 realistic, Gaussian with per-channel scales
    // spread log-normally (LLM hidden states have persistent channel magnitudes);
    // 2 the same plus a few massive outlier channels (6 of 4096 at 30-100×, as
    // LLM.int8 reports).
    std::lognormal_distribution<float> scale(0.0f, 0.6f);
    std::uniform_real_distribution<float> u(30.0f, 100.0f);
    std::vector<float> sigma(n);
    for (auto& s : sigma) s = activations == 0 ? 1.0f : scale(rng);
    if (activations == 2)
        for (int i = 0; i < 6; ++i) sigma[std::uniform_int_distribution<std::size_t>(0, n - 1)(rng)] *= u(rng);
    auto X = sqllm_test::random_normal(rng, batch * n);
    for (std::size_t j = 0; j < batch; ++j)
        for (std::size_t c = 0; c < n; ++c) X[j * n + c] *= sigma[c];
    // X as the int8 path sees it (x̂ = d·x8 per block of 256): the activations' share of the error.
    std::vector<float> Xq(X.size());
    for (std::size_t j = 0; j < batch; ++j)
        for (std::size_t c0 = 0; c0 < n; c0 += 256) {
            float m = 0.0f;
            for (std::size_t c = c0; c < c0 + 256; ++c) m = std::max(m, std::fabs(X[j * n + c]));
            for (std::size_t c = c0; c < c0 + 256; ++c)
                Xq[j * n + c] = m / 127.0f * std::round(X[j * n + c] * (127.0f / m));
        }
    std::vector<float> Y8(batch * n), Y(batch * n), Yq(batch * n), Yf(batch * n);
    const matrix_view<const float> Xv(X.data(), batch, n);
    gemm_int8(q.view(), Xv, {Y8.data(), batch, n}, exec);
    gemm(q.view(), Xv, {Y.data(), batch, n}, exec);
    gemm(q.view(), {Xq.data(), batch, n}, {Yq.data(), batch, n}, exec);
    dense_gemm({Wf.data(), n, n}, Xv, {Yf.data(), batch, n}, exec);
    std::printf("| %d | %s | %s | %.2f %% | %.2f %% | %.2f %% |\n", Bits, Bits <= 4 ? "k-means" : "RTN",
                activations == 0 ? "iid Gaussian" : activations == 1 ? "log-normal scales" : "+ 6 outlier channels", 100 * relative_error(Y8, Y),
                100 * relative_error(Yq, Y), 100 * relative_error(Y, Yf));
}

}  // namespace

// Not run by default (tag [.]): prints the measurements of docs/DESIGN.md §7.2.
TEST_CASE("int8 path: relative output error on random 4096x4096 layers", "[.][int8-error]") {
    rng_t rng(2024);
    const thread_executor exec(2);
    std::printf("4096x4096, Gaussian weights, batch 8: ||y_int8 - y_exact|| / ||y_exact||, the same with only X\n"
                "quantized (exact gemm of x̂), and the weight quantization's own error (exact vs fp32 weights)\n"
                "| Bits | LUT | activations | int8 vs exact | X alone | exact vs fp32 |\n|---|---|---|---|---|---|\n");
    for (int activations : {0, 1, 2}) {
        measure_layer<3>(rng, 4096, 8, activations, exec);
        measure_layer<4>(rng, 4096, 8, activations, exec);
        measure_layer<8>(rng, 4096, 8, activations, exec);
    }
}
