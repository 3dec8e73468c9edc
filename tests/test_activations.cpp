// fp16 and bf16 activations and outputs (kernels/gemv.hpp, gemm.hpp): on
// every target this CPU runs, the typed multiply must equal the fp32
// multiply of the same values (x converted exactly: half and bfloat16 are
// subsets of float), rounded once to the output type, bit for bit — the
// kernels are the same, only the conversions around them differ. The fp32
// multiply itself is checked against the float64 oracle in test_kernels.cpp.
#include <sqllm/sqllm.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "catch.hpp"
#include "kernel_check.hpp"
#include "test_util.hpp"

using namespace sqllm;
using sqllm_test::rng_t;
using sqllm_test::rounded;
using sqllm_test::same_bits;

namespace {

template <class XT, class YT, class View, class Executor>
void check_types(rng_t& rng, target_id t, const View& W, const Executor& exec, const std::string& what) {
    const std::size_t rows = W.rows(), cols = W.cols();
    INFO(what << " x " << to_string(scalar_type_of<XT>::value) << " y " << to_string(scalar_type_of<YT>::value));
    // gemv
    const auto x = rounded<XT>(sqllm_test::random_normal(rng, cols));
    std::vector<float> x32(cols), y32(rows);
    convert_array(x.data(), x32.data(), cols);
    gemv(t, W, span<const float>(x32), span<float>(y32), exec);
    std::vector<YT> y(rows);
    gemv(t, W, span<const XT>(x), span<YT>(y), exec);
    CHECK(same_bits(y, rounded<YT>(y32)));
    // gemm, batch 3, Y with a row stride wider than rows (the gap must stay untouched)
    const std::size_t n = 3, stride = rows + 5;
    const auto X = rounded<XT>(sqllm_test::random_normal(rng, n * cols));
    std::vector<float> X32(n * cols), Y32(n * rows);
    convert_array(X.data(), X32.data(), X.size());
    gemm(t, W, matrix_view<const float>(X32.data(), n, cols), matrix_view<float>(Y32.data(), n, rows), exec);
    std::vector<YT> Y(n * stride, lut_value_traits<YT>::from_float(7.0f));
    gemm(t, W, matrix_view<const XT>(X.data(), n, cols), matrix_view<YT>(Y.data(), n, rows, stride), exec);
    std::vector<YT> packed(n * rows);
    bool gap_kept = true;
    for (std::size_t j = 0; j < n; ++j) {
        for (std::size_t r = 0; r < rows; ++r) packed[j * rows + r] = Y[j * stride + r];
        for (std::size_t r = rows; r < stride; ++r)
            gap_kept = gap_kept && lut_value_traits<YT>::to_float(Y[j * stride + r]) == 7.0f;
    }
    CHECK(same_bits(packed, rounded<YT>(Y32)));
    CHECK(gap_kept);
}

template <int Bits, class Lut, class Sparse>
void check_matrix(rng_t& rng, std::size_t rows, std::size_t cols) {
    using namespace sqllm_test;
    const auto codes = random_codes(rng, rows * cols, Bits);
    const quantized_matrix<Bits, Lut, Sparse> q(rows, cols, random_lut<Lut>(rng, rows, 1 << Bits),
                                                pack_codes<default_layout<Bits>>({codes.data(), rows, cols}),
                                                random_sparse<Sparse>(rng, rows, cols));
    // One executor type, two thread counts: every instantiation costs compile time.
    const thread_executor three(3), one(1);
    for (const target_id t : runnable_targets()) {
        const std::string what = "Bits " + std::to_string(Bits) + " " + lut_value_traits<Lut>::name + " " +
                                 sparse_format_traits<Sparse>::name + " " + std::to_string(rows) + "x" +
                                 std::to_string(cols) + " " + to_string(t);
        check_types<half, half>(rng, t, q.view(), three, what);
        check_types<bfloat16, bfloat16>(rng, t, q.view(), three, what);
        check_types<half, float>(rng, t, q.view(), one, what);
        check_types<bfloat16, float>(rng, t, q.view(), three, what);
        check_types<float, half>(rng, t, q.view(), three, what);
        check_types<float, bfloat16>(rng, t, q.view(), one, what);
    }
}

}  // namespace

TEST_CASE("fp16 and bf16 activations equal the fp32 multiply of the same values, on every target") {
    rng_t rng(1401);
    for (auto shape : {std::pair<std::size_t, std::size_t>{37, 100}, {5, 1000}, {19, 257}, {1, 33}}) {
        check_matrix<3, float, csr<>>(rng, shape.first, shape.second);
        check_matrix<4, half, balanced_csr<>>(rng, shape.first, shape.second);
        check_matrix<2, bfloat16, no_sparse>(rng, shape.first, shape.second);
    }
}

TEST_CASE("typed gemv and gemm check shapes and targets") {
    rng_t rng(1402);
    const auto codes = sqllm_test::random_codes(rng, 4 * 40, 4);
    const quantized_matrix<4, float, no_sparse> q(4, 40, sqllm_test::random_lut<float>(rng, 4, 16),
                                                  pack_codes<default_layout<4>>({codes.data(), 4, 40}));
    std::vector<half> x(40), y(4), bad(3);
    CHECK_THROWS_AS(gemv(q.view(), span<const half>(bad), span<half>(y)), error);
    CHECK_THROWS_AS(gemv(q.view(), span<const half>(x), span<half>(bad)), error);
    CHECK_THROWS_AS(gemm(q.view(), matrix_view<const half>(x.data(), 1, 40), matrix_view<half>(y.data(), 2, 2)), error);
    for (target_id t : all_targets)
        if (!target_supported(t)) CHECK_THROWS_AS(gemv(t, q.view(), span<const half>(x), span<half>(y)), error);
    std::vector<half> none;
    gemm(q.view(), matrix_view<const half>(none.data(), 0, 40), matrix_view<half>(none.data(), 0, 4));  // no work
}

TEST_CASE("fp16 conversions with the CPU's instructions give half.hpp's bits: every fp16 value, a sweep of floats") {
    std::vector<half> all(65536);
    for (std::uint32_t b = 0; b < 65536; ++b) all[b] = half::from_bits(static_cast<std::uint16_t>(b));
    // Floats: every 4099th bit pattern (all exponents, odd mantissas), plus the edges of fp16's range.
    std::vector<float> floats;
    for (std::uint64_t b = 0; b < (std::uint64_t{1} << 32); b += 4099) {
        const std::uint32_t u = static_cast<std::uint32_t>(b);
        float f;
        std::memcpy(&f, &u, 4);
        floats.push_back(f);
    }
    for (float f : {65504.0f, 65519.99f, 65520.0f, 6.1035156e-05f, 5.9604645e-08f, 2.9802322e-08f, 2.9802326e-08f,
                    -0.0f, INFINITY, -INFINITY, NAN})
        floats.push_back(f);
    std::vector<float> want_f(all.size()), got_f(all.size());
    convert_array(all.data(), want_f.data(), all.size());
    std::vector<half> want_h(floats.size()), got_h(floats.size());
    convert_array(floats.data(), want_h.data(), floats.size());
    for (const target_id t : sqllm_test::runnable_targets()) {
        INFO(to_string(t));
        detail::convert_on(t, all.data(), got_f.data(), all.size());
        std::size_t differ = 0;  // bits, except that a signalling NaN may come out quieted
        for (std::size_t i = 0; i < all.size(); ++i)
            differ += std::memcmp(&got_f[i], &want_f[i], 4) != 0 && !(std::isnan(got_f[i]) && std::isnan(want_f[i]));
        CHECK(differ == 0);
        detail::convert_on(t, floats.data(), got_h.data(), floats.size());
        CHECK(std::memcmp(got_h.data(), want_h.data(), got_h.size() * 2) == 0);
        std::size_t first_bad = floats.size();
        for (std::size_t i = 0; i < floats.size() && first_bad == floats.size(); ++i)
            if (std::memcmp(&got_h[i], &want_h[i], 2) != 0) first_bad = i;
        if (first_bad < floats.size()) {
            std::uint32_t u;
            std::memcpy(&u, &floats[first_bad], 4);
            FAIL_CHECK("first float that differs: bits 0x" << std::hex << u);
        }
    }
}
