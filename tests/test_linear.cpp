// The run-time-typed layer (runtime/linear.hpp): every multiply must equal
// the compile-time-typed gemv/gemm of the same matrix on the same target
// plus the bias added in fp32, rounded once to the output type — bit for
// bit, since the same kernels run; the kernels themselves are checked
// against the float64 oracle in test_kernels.cpp. Also: what it reports,
// and each error path.
#include <sqllm/runtime/linear.hpp>
#include <sqllm/sqllm.hpp>

#include <cmath>
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

/// Y (n × rows) of the template API on target t, plus the bias, in fp32.
template <class View>
std::vector<float> expected(const View& W, target_id t, const std::vector<float>& X, std::size_t n,
                            const std::vector<float>& bias) {
    std::vector<float> Y(n * W.rows());
    if (n == 1)
        gemv(t, W, span<const float>(X), span<float>(Y));
    else
        gemm(t, W, matrix_view<const float>(X.data(), n, W.cols()), matrix_view<float>(Y.data(), n, W.rows()));
    for (std::size_t j = 0; j < n; ++j)
        for (std::size_t r = 0; r < bias.size(); ++r) Y[j * W.rows() + r] += bias[r];
    return Y;
}

template <class XT, class YT, class View>
void check_layer(rng_t& rng, const linear& L, const View& W, const std::vector<float>& bias, const thread_pool& pool) {
    INFO("x " << to_string(scalar_type_of<XT>::value) << " y " << to_string(scalar_type_of<YT>::value) << " target "
              << to_string(L.target()));
    for (std::size_t n : {1, 4}) {
        const auto X = rounded<XT>(sqllm_test::random_normal(rng, n * W.cols()));
        std::vector<float> X32(X.size());
        convert_array(X.data(), X32.data(), X.size());
        const auto want = rounded<YT>(expected(W, L.target(), X32, n, bias));
        std::vector<YT> Y(n * W.rows());
        if (n == 1)
            L.gemv(span<const XT>(X), span<YT>(Y), pool);
        else
            L.gemm(matrix_view<const XT>(X.data(), n, W.cols()), matrix_view<YT>(Y.data(), n, W.rows()), pool);
        CHECK(same_bits(Y, want));
    }
}

template <int Bits, class Lut, class Sparse, class B>
void check_combination(rng_t& rng, std::size_t rows, std::size_t cols, bool with_bias) {
    using namespace sqllm_test;
    const auto codes = random_codes(rng, rows * cols, Bits);
    quantized_matrix<Bits, Lut, Sparse> q(rows, cols, random_lut<Lut>(rng, rows, 1 << Bits),
                                          pack_codes<default_layout<Bits>>({codes.data(), rows, cols}),
                                          random_sparse<Sparse>(rng, rows, cols));
    const auto copy = q;  // the layer takes ownership of q
    const auto W = copy.view();
    std::vector<float> bias32;
    linear L;
    if (with_bias) {
        const auto b = rounded<B>(random_normal(rng, rows));
        bias32.resize(rows);
        convert_array(b.data(), bias32.data(), rows);
        L = make_linear(std::move(q), b);
    } else {
        L = make_linear(std::move(q));
    }
    INFO("Bits " << Bits << " " << lut_value_traits<Lut>::name << " " << sparse_format_traits<Sparse>::name << " "
                 << rows << "x" << cols << (with_bias ? " bias " : " no bias ") << lut_value_traits<B>::name);
    const linear_info& i = L.info();
    CHECK(i.rows == rows);
    CHECK(i.cols == cols);
    CHECK(i.bits == Bits);
    CHECK(i.lut_type == scalar_type_of<Lut>::value);
    CHECK(i.sparse == detail::sparse_kind_of<Sparse>::value);
    CHECK(i.nonzeros == W.nonzeros());
    CHECK(i.has_bias == with_bias);
    CHECK(i.storage_bytes == W.storage_bytes() + (with_bias ? rows * sizeof(B) : 0));
    CHECK(!i.zero_copy);
    CHECK(L.target() == kernel_target(W));
    const thread_pool pool(3);
    for (target_id t : sqllm_test::runnable_targets()) {
        L.set_target(t);
        check_layer<float, float>(rng, L, W, bias32, pool);
        check_layer<half, half>(rng, L, W, bias32, pool);
        check_layer<bfloat16, float>(rng, L, W, bias32, pool);
        check_layer<float, bfloat16>(rng, L, W, bias32, pool);
    }
}

}  // namespace

TEST_CASE("linear equals the template multiply plus bias, for every value type and target") {
    rng_t rng(1411);
    check_combination<3, float, csr<>, float>(rng, 37, 100, true);
    check_combination<4, half, balanced_csr<>, half>(rng, 19, 257, true);
    check_combination<2, bfloat16, no_sparse, bfloat16>(rng, 5, 1000, true);
    check_combination<8, float, no_sparse, float>(rng, 3, 33, false);
    check_combination<1, half, csr<>, float>(rng, 64, 31, false);
}

TEST_CASE("linear's errors") {
    rng_t rng(1412);
    const linear empty;
    CHECK(empty.empty());
    CHECK_THROWS_AS(empty.info(), error);
    std::vector<float> x(40), y(4), bad(3);
    CHECK_THROWS_AS(empty.gemv(x, y), error);

    const auto codes = sqllm_test::random_codes(rng, 4 * 40, 4);
    auto make = [&] {
        return quantized_matrix<4, float, no_sparse>(4, 40, sqllm_test::random_lut<float>(rng, 4, 16),
                                                     pack_codes<default_layout<4>>({codes.data(), 4, 40}));
    };
    const linear L = make_linear(make());
    L.gemv(x, y);
    CHECK_THROWS_AS(L.gemv(bad, y), error);
    CHECK_THROWS_AS(L.gemv(x, bad), error);
    CHECK_THROWS_AS(L.gemm(matrix_view<const float>(x.data(), 1, 40), matrix_view<float>(y.data(), 2, 2)), error);
    CHECK_THROWS_AS(L.multiply({nullptr, scalar_type::f32, 1, 40, 40}, {y.data(), scalar_type::f32, 1, 4, 4}), error);
    CHECK_THROWS_AS(L.multiply({x.data(), scalar_type::f32, 2, 20, 10}, {y.data(), scalar_type::f32, 2, 4, 4}),
                    error);  // stride shorter than a row (and cols mismatch)
    L.gemm(matrix_view<const float>(x.data(), 0, 40), matrix_view<float>(y.data(), 0, 4));  // empty batch: no work
    linear M = L;
    for (target_id t : all_targets)
        if (!target_supported(t)) CHECK_THROWS_AS(M.set_target(t), error);
    CHECK_THROWS_AS(make_linear(make(), std::vector<float>(3)), error);                // bias length
    CHECK_THROWS_AS(make_linear(make(), std::vector<float>{1, NAN, 0, 0}), error);    // bias NaN
    CHECK_THROWS_AS(make_linear(make(), std::vector<half>{half(1.0f), half(INFINITY), half(0.0f), half(0.0f)}), error);
}
