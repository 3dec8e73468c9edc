// Kernels: the dispatch rules (the default target, forced targets, errors),
// threading, strided views, validation, storage accounting and the dense
// fp32 kernels, on every target this CPU runs (scalar, AVX2, AVX-512 or NEON).
// The Bits × LUT × sparse × layout sweep against float64 is
// test_kernels_bits.cpp, one translation unit per code width; its shared
// check (check_product, the bound of kernel_check.hpp) is defined here.
#include <sqllm/sqllm.hpp>

#include <cmath>
#include <string>

#include "catch.hpp"
#include "kernel_check.hpp"
#include "test_util.hpp"

using namespace sqllm;
using sqllm_test::gamma;
using sqllm_test::rng_t;
using sqllm_test::runnable_targets;
using sqllm_test::throws_code;
using sqllm_test::word_per_code_layout;

void sqllm_test::check_product(const kernel_case& k, const std::vector<float>& X, const std::vector<float>& Y,
                               std::size_t batch) {
    const std::size_t rows = k.rows, cols = k.cols;
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t r = 0; r < rows; ++r) {
            double exact = 0, mag = 0;
            for (std::size_t c = 0; c < cols; ++c) {
                const double x = X[b * cols + c];
                exact += k.W[r * cols + c] * x;
                mag += k.mag_w[r * cols + c] * std::fabs(x);
            }
            const double bound = gamma(cols + k.nnz_row[r] + 1) * mag + 1e-30;
            const double err = std::fabs(Y[b * rows + r] - exact);
            if (!(err <= bound)) {  // one message per failure, not one INFO per output
                INFO(k.what << " batch " << batch << " row " << r << " got " << Y[b * rows + r] << " want " << exact
                            << " bound " << bound);
                REQUIRE(err <= bound);
            }
        }
    SUCCEED(k.what << " batch " << batch);
}

TEST_CASE("the default target is the best one with a kernel; forcing one that cannot run is an error",
          "[kernels][dispatch]") {
    rng_t rng(21);
    const std::size_t rows = 64, cols = 200;
    const auto codes = sqllm_test::random_codes(rng, rows * cols, 3);
    // The README sample's types, default layout.
    const quantized_matrix<3, half, csr<>> q(rows, cols, sqllm_test::random_lut<half>(rng, rows, 8),
                                             pack_codes<default_layout<3>>({codes.data(), rows, cols}));
    const auto W = q.view();
    STATIC_REQUIRE(std::is_same<decltype(q)::view_type::layout, striped_layout<3>>::value);
    INFO("best target " << to_string(best_target()) << ", README sample runs on " << to_string(kernel_target(W)));
    REQUIRE(kernel_target(W) == best_target());  // the default layout has SIMD gemv and gemm everywhere
#if defined(__x86_64__) || defined(__aarch64__)
    // On a SIMD machine the sample must not run scalar.
    if (target_supported(target_id::avx2) || target_supported(target_id::neon)) REQUIRE(kernel_target(W) != target_id::scalar);
#endif
    const auto x = sqllm_test::random_normal(rng, cols);
    std::vector<float> y(rows), y2(rows);
    gemv(W, x, y);
    gemv(kernel_target(W), W, x, y2);
    REQUIRE(y == y2);
    for (target_id t : all_targets) {
        INFO("target " << to_string(t));
        if (target_supported(t)) {
            REQUIRE(has_kernel(t, W));
            REQUIRE_NOTHROW(gemv(t, W, x, y2));
        } else {
            REQUIRE(!has_kernel(t, W));
            REQUIRE(throws_code([&] { gemv(t, W, x, y2); }, errc::invalid_argument));
            std::vector<float> Y(2 * rows), X(2 * cols);
            REQUIRE(throws_code([&] { gemm(t, W, {X.data(), 2, cols}, {Y.data(), 2, rows}); }, errc::invalid_argument));
            REQUIRE(throws_code([&] { dense_gemv(t, {X.data(), 1, cols}, x, y2); }, errc::invalid_argument));
        }
    }
    // Tags force a target too.
    REQUIRE_NOTHROW(gemv(target::scalar{}, W, x, y2));
    // A layout without a driver runs on scalar, and nothing else may be forced on it.
    const auto wcodes = pack_codes<word_per_code_layout<3>>({codes.data(), rows, cols});
    const quantized_view<3, half, no_sparse, word_per_code_layout<3>> U(rows, cols, q.lut(), wcodes);
    REQUIRE(kernel_target(U) == target_id::scalar);
    for (target_id t : runnable_targets())
        if (t != target_id::scalar) {
            REQUIRE(!has_kernel(t, U));
            try {
                gemv(t, U, x, y2);
                FAIL("forcing a target without a kernel must throw");
            } catch (const error& e) {
                REQUIRE(e.code() == errc::invalid_argument);
                REQUIRE(std::string(e.what()).find("no " + std::string(to_string(t)) + " kernel") != std::string::npos);
            }
        }
}

TEST_CASE("multi-threaded results equal single-threaded ones bit for bit", "[kernels]") {
    rng_t rng(11);
    const std::size_t rows = 301, cols = 515;
    const auto codes = sqllm_test::random_codes(rng, rows * cols, 3);
    const auto lut = sqllm_test::random_lut<half>(rng, rows, 8);
    const auto sparse = sqllm_test::random_csr<float, std::int32_t>(rng, rows, cols, 0.005);
    const quantized_matrix<3, half> q(rows, cols, lut, pack_codes<default_layout<3>>({codes.data(), rows, cols}), sparse);
    const quantized_matrix<3, half, csr<>, reference_layout<3>> qr(
        rows, cols, lut, pack_codes<reference_layout<3>>({codes.data(), rows, cols}), sparse);
    const auto X = sqllm_test::random_normal(rng, 4 * cols);
    for (target_id t : runnable_targets()) {
        INFO("target " << to_string(t));
        std::vector<float> a(4 * rows), b(4 * rows), y1(rows), y2(rows);
        gemm(t, q.view(), matrix_view<const float>(X.data(), 4, cols), matrix_view<float>(a.data(), 4, rows));
        gemm(t, q.view(), matrix_view<const float>(X.data(), 4, cols), matrix_view<float>(b.data(), 4, rows),
             thread_executor(2));
        REQUIRE(a == b);
        gemv(t, q.view(), span<const float>(X.data(), cols), span<float>(y1));
        gemv(t, q.view(), span<const float>(X.data(), cols), span<float>(y2), thread_executor(3));
        REQUIRE(y1 == y2);  // a row's arithmetic does not depend on the thread count
        gemm(t, qr.view(), matrix_view<const float>(X.data(), 4, cols), matrix_view<float>(a.data(), 4, rows));
        gemm(t, qr.view(), matrix_view<const float>(X.data(), 4, cols), matrix_view<float>(b.data(), 4, rows),
             thread_executor(3));
        REQUIRE(a == b);
        gemv(t, qr.view(), span<const float>(X.data(), cols), span<float>(y1));
        gemv(t, qr.view(), span<const float>(X.data(), cols), span<float>(y2), thread_executor(3));
        REQUIRE(y1 == y2);
    }
}

TEST_CASE("strided batch views", "[kernels]") {
    rng_t rng(12);
    const std::size_t rows = 13, cols = 40, batch = 3, ldx = 47, ldy = 20;
    const auto codes = sqllm_test::random_codes(rng, rows * cols, 4);
    const quantized_matrix<4, float, no_sparse> q(rows, cols, sqllm_test::random_lut<float>(rng, rows, 16),
                                                  pack_codes<default_layout<4>>({codes.data(), rows, cols}));
    const auto X = sqllm_test::random_normal(rng, batch * ldx);
    for (target_id t : runnable_targets()) {
        std::vector<float> Y(batch * ldy, -1.0f), y(rows);
        gemm(t, q.view(), matrix_view<const float>(X.data(), batch, cols, ldx),
             matrix_view<float>(Y.data(), batch, rows, ldy));
        for (std::size_t b = 0; b < batch; ++b) {
            reference::gemv(q.view(), span<const float>(X.data() + b * ldx, cols), span<float>(y));
            for (std::size_t r = 0; r < rows; ++r) REQUIRE(std::fabs(Y[b * ldy + r] - y[r]) <= 1e-4f);
            for (std::size_t p = rows; p < ldy; ++p) REQUIRE(Y[b * ldy + p] == -1.0f);  // padding untouched
        }
    }
}

TEST_CASE("kernel shape errors", "[kernels][errors]") {
    rng_t rng(13);
    const auto codes = sqllm_test::random_codes(rng, 4 * 10, 2);
    const quantized_matrix<2, float, no_sparse> q(4, 10, sqllm_test::random_lut<float>(rng, 4, 4),
                                                  pack_codes<default_layout<2>>({codes.data(), 4, 10}));
    std::vector<float> x(10), y(4), xbad(9), ybad(5), X(2 * 10), Y(2 * 4), Ybad(3 * 4);
    REQUIRE(throws_code([&] { gemv(q.view(), xbad, y); }, errc::shape_mismatch));
    REQUIRE(throws_code([&] { gemv(q.view(), x, ybad); }, errc::shape_mismatch));
    REQUIRE(throws_code([&] { gemv(target_id::scalar, q.view(), x, ybad); }, errc::shape_mismatch));
    REQUIRE(throws_code([&] { gemm(q.view(), {X.data(), 2, 10}, {Ybad.data(), 3, 4}); }, errc::shape_mismatch));
    REQUIRE(throws_code([&] { gemm(q.view(), {X.data(), 2, 9}, {Y.data(), 2, 4}); }, errc::shape_mismatch));
    REQUIRE(throws_code([&] { gemm(q.view(), {X.data(), 2, 10}, {Y.data(), 2, 3}); }, errc::shape_mismatch));
    REQUIRE(throws_code([&] { dense_gemv({X.data(), 2, 10}, xbad, Y); }, errc::shape_mismatch));
    REQUIRE(throws_code([&] { dense_gemm({X.data(), 4, 5}, {X.data(), 2, 5}, {Y.data(), 2, 3}); }, errc::shape_mismatch));
}

TEST_CASE("views validate caller arrays", "[kernels][errors]") {
    std::vector<float> lut(3 * 8, 0.0f);
    std::vector<std::uint32_t> words(default_layout<3>::word_count(3, 50));
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
    std::vector<std::uint32_t> words(default_layout<3>::word_count(rows, cols));
    std::vector<std::int32_t> row_ptr(rows + 1, 0), col_idx(nnz);
    std::vector<float> vals(nnz);
    for (std::size_t r = 0; r <= rows; ++r) row_ptr[r] = static_cast<std::int32_t>(nnz * r / rows);
    // Make every row's columns increasing: spread each row's entries evenly.
    for (std::size_t r = 0; r < rows; ++r)
        for (auto i = row_ptr[r]; i < row_ptr[r + 1]; ++i)
            col_idx[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i - row_ptr[r]) * 7);
    const quantized_view<3, half> v(rows, cols, lut, words, csr_view<float, std::int32_t>{row_ptr, col_idx, vals});
    const std::size_t expect = rows * cols * 3 / 8 + rows * 8 * 2 + (rows + 1) * 4 + nnz * 8;
    REQUIRE(v.storage_bytes() == expect);
    REQUIRE(v.nonzeros() == nnz);
    REQUIRE(std::fabs(v.bits_per_weight() - 8.0 * expect / (rows * cols)) < 1e-12);
    REQUIRE(v.bits_per_weight() < 3.4);
}

TEST_CASE("dense fp32 gemv and gemm on every target", "[kernels][dense]") {
    rng_t rng(14);
    for (auto s : {std::pair<std::size_t, std::size_t>{37, 100}, {1, 1}, {5, 1031}, {66, 17}}) {
        const std::size_t rows = s.first, cols = s.second, ld = cols + 3;
        const auto W = sqllm_test::random_normal(rng, rows * ld);
        for (std::size_t batch : {1u, 2u, 7u}) {
            const auto X = sqllm_test::random_normal(rng, batch * cols);
            for (target_id t : runnable_targets()) {
                std::vector<float> Y(batch * rows);
                if (batch == 1)
                    dense_gemv(t, {W.data(), rows, cols, ld}, X, Y);
                else
                    dense_gemm(t, {W.data(), rows, cols, ld}, {X.data(), batch, cols}, {Y.data(), batch, rows},
                               thread_executor(3));
                for (std::size_t b = 0; b < batch; ++b)
                    for (std::size_t r = 0; r < rows; ++r) {
                        double exact = 0, mag = 0;
                        for (std::size_t c = 0; c < cols; ++c) {
                            exact += static_cast<double>(W[r * ld + c]) * X[b * cols + c];
                            mag += std::fabs(static_cast<double>(W[r * ld + c]) * X[b * cols + c]);
                        }
                        INFO(rows << "x" << cols << " batch " << batch << " target " << to_string(t));
                        REQUIRE(std::fabs(Y[b * rows + r] - exact) <= gamma(cols + 1) * mag + 1e-30);
                    }
            }
        }
    }
}
