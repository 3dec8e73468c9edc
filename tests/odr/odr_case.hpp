// tests/odr/odr_case.hpp — the work both translation units of the ODR test
// do: quantize fixed matrices to sqllm::quantize<3, sqllm::half, sqllm::csr<>>
// (with each LUT method, so most of the quantizer's code runs), then gemv and
// gemm on the result, with the same template arguments in both units.
//
// Everything here has internal linkage (an unnamed namespace), and the test's
// own data lives in plain arrays, not std::vector: the only functions with
// external linkage the two units share are then sqllm's and the standard
// library instantiations sqllm's code makes, which is what odr_test.sh checks.
#pragma once

#include <sqllm/sqllm.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>

struct odr_result {
    std::uint64_t hash;  ///< FNV-1a 64 of the quantized matrices' bytes
    int failures;        ///< gemv/gemm outputs far from the float64 product
    const char* abi;     ///< this unit's ABI namespace (SQLLM_ABI_STRING)
    const char* target;  ///< the target gemv ran on
};

odr_result odr_run_portable();  // odr_portable.cpp, compiled without -m flags
odr_result odr_run_avx();       // odr_avx.cpp, compiled with -mavx2 -mfma (or more)

namespace {

constexpr std::size_t odr_rows = 48, odr_cols = 300, odr_batch = 3;
float odr_W[odr_rows * odr_cols], odr_W2[odr_rows * odr_cols], odr_S[odr_rows * odr_cols];
float odr_x[odr_cols], odr_y[odr_rows], odr_X[odr_batch * odr_cols], odr_Y[odr_batch * odr_rows];
double odr_D[odr_rows * odr_cols];

struct fnv1a {
    std::uint64_t h = 0xcbf29ce484222325ull;
    void bytes(const void* p, std::size_t n) {
        const unsigned char* b = static_cast<const unsigned char*>(p);
        for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
    }
    template <class V>
    void array(const V& v) {  // a std::vector's size and bytes, read through data() only
        const std::uint64_t n = v.size();
        bytes(&n, sizeof n);
        if (n) bytes(v.data(), n * sizeof(*v.data()));
    }
};

template <class Q>
int odr_check_products(const Q& q) {
    using sqllm::matrix_view;
    const std::size_t rows = odr_rows, cols = odr_cols;
    sqllm::gemv(q.view(), sqllm::span<const float>(odr_x, cols), sqllm::span<float>(odr_y, rows));
    sqllm::gemm(q.view(), matrix_view<const float>(odr_X, odr_batch, cols), matrix_view<float>(odr_Y, odr_batch, rows));
    // Against float64 from the dequantized matrix (a loose bound: this test is
    // about which code runs; the kernel tests check accuracy).
    sqllm::dequantize(q.view(), matrix_view<double>(odr_D, rows, cols));
    int failures = 0;
    for (std::size_t b = 0; b <= odr_batch; ++b)
        for (std::size_t r = 0; r < rows; ++r) {
            const float* in = b == 0 ? odr_x : odr_X + (b - 1) * cols;
            const float got = b == 0 ? odr_y[r] : odr_Y[(b - 1) * rows + r];
            double want = 0, mag = 0;
            for (std::size_t c = 0; c < cols; ++c) {
                want += odr_D[r * cols + c] * in[c];
                mag += std::fabs(odr_D[r * cols + c] * in[c]);
            }
            if (!(std::fabs(got - want) <= 1e-5 * mag + 1e-30)) ++failures;
        }
    return failures;
}

template <class Q>
void odr_hash(fnv1a& h, const Q& q) {
    h.array(q.lut());
    h.array(q.words());
    h.array(q.sparse().row_ptr);
    h.array(q.sparse().col_idx);
    h.array(q.sparse().values);
}

odr_result odr_case() {
    const std::size_t rows = odr_rows, cols = odr_cols;
    std::uint32_t state = 12345u;
    const auto next = [&state] {  // xorshift32: the same numbers everywhere
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        return static_cast<float>(state >> 8) * (1.0f / 16777216.0f);  // [0, 1)
    };
    for (std::size_t i = 0; i < rows * cols; ++i) {
        odr_W[i] = next() - 0.5f;
        odr_S[i] = next() + 0.01f;
        // Rows of few distinct values take the LUT fitters' fill-in paths.
        odr_W2[i] = i / cols % 2 ? odr_W[i] : (i % 3 == 0 ? 0.25f : -0.125f);
    }
    for (float& v : odr_x) v = next() - 0.5f;
    for (float& v : odr_X) v = next() - 0.5f;

    using matrix = sqllm::matrix_view<const float>;
    const matrix W(odr_W, rows, cols), W2(odr_W2, rows, cols), S(odr_S, rows, cols);
    sqllm::quantize_options opt;
    opt.sparse.sensitive_fraction = 0.002;
    opt.sparse.outlier_fraction = 0.01;
    fnv1a h;
    int failures = 0;
    const char* target = "";
    {
        const auto q = sqllm::quantize<3, sqllm::half, sqllm::csr<>>(W, S, opt);
        failures += odr_check_products(q);
        odr_hash(h, q);
        target = sqllm::to_string(sqllm::kernel_target(q.view()));
    }
    {
        const auto q = sqllm::quantize<3, sqllm::half, sqllm::csr<>>(W2, S, opt);
        failures += odr_check_products(q);
        odr_hash(h, q);
    }
    opt.method = sqllm::lut_method::lloyd;
    {
        const auto q = sqllm::quantize<3, sqllm::half, sqllm::csr<>>(W2, S, opt);
        failures += odr_check_products(q);
        odr_hash(h, q);
    }
    opt.method = sqllm::lut_method::uniform;
    opt.uniform.range = sqllm::uniform_range::mse;
    {
        const auto q = sqllm::quantize<3, sqllm::half, sqllm::csr<>>(W2, S, opt);
        failures += odr_check_products(q);
        odr_hash(h, q);
    }
    opt.uniform.range = sqllm::uniform_range::percentile;
    opt.sparse = {};
    opt.sparse.outlier_iqr_ratio = 1.5;
    {
        const auto q = sqllm::quantize<3, sqllm::half, sqllm::csr<>>(W, S, opt);
        failures += odr_check_products(q);
        odr_hash(h, q);
    }
    // An error thrown and caught in this unit (sqllm::error is shared by design).
    try {
        odr_S[0] = -1.0f;
        (void)sqllm::quantize<3, sqllm::half, sqllm::csr<>>(W, S, opt);
        ++failures;
    } catch (const sqllm::error& e) {
        if (e.code() != sqllm::errc::negative_value) ++failures;
    }
    return {h.h, failures, SQLLM_ABI_STRING, target};
}

}  // namespace
