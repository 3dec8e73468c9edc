// sqllm/kernels/output_pass.hpp — what a multiply does to a block of rows
// after the kernels summed them in fp32: add the bias, convert to the
// engine's output type.
//
// The kernels accumulate in fp32 into an fp32 array. Each task runs the
// output pass on its own rows right after their dense and sparse parts, while
// they are in L1 (gemv.hpp, gemm.hpp), so a bias or an fp16/bf16 output costs
// no extra pass over memory. typed_batch prepares a multiply of any value
// types for the fp32 kernels (converted activations, where the sums go, the
// output pass). Both are non-template types whatever the value types, so
// code compiled for every type combination (runtime/linear.hpp) instantiates
// its kernels once.
#pragma once

#include <cstddef>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../core/span.hpp"
#include "../target/target_id.hpp"
#include "../types/scalar_type.hpp"
#include "convert.hpp"

SQLLM_NAMESPACE_BEGIN

/// A per-row bias of any value type, named at run time (empty: none).
struct bias_ref {
    const void* data = nullptr;  ///< rows values of `type`, or null
    scalar_type type = scalar_type::f32;
    explicit operator bool() const noexcept { return data != nullptr; }
};

namespace detail {

/// Output rows [b, e) of `vectors` batch vectors: out(j, r) = acc(j, r) + bias[r],
/// converted to out_type. acc may alias out when out_type is f32.
struct output_pass {
    float* acc = nullptr;            ///< fp32 sums, vector j at acc + j · acc_stride
    std::size_t acc_stride = 0;
    void* out = nullptr;             ///< the caller's output, vector j at out + j · out_stride values
    std::size_t out_stride = 0;
    scalar_type out_type = scalar_type::f32;
    std::size_t vectors = 1;
    bias_ref bias{};
    target_id target = target_id::scalar;  ///< whose conversion instructions to use (kernels/convert.hpp)

    /// Nothing to do: fp32 output written in place, no bias.
    bool trivial() const noexcept { return !bias && out_type == scalar_type::f32 && out == acc; }

    void operator()(std::size_t b, std::size_t e) const noexcept {
        if (trivial()) return;
        for (std::size_t j = 0; j < vectors; ++j) {
            float* a = acc + j * acc_stride;
            if (bias) with_scalar_type(bias.type, [&](auto t) {
                    const auto* bv = static_cast<const decltype(t)*>(bias.data);
                    for (std::size_t r = b; r < e; ++r) a[r] += lut_value_traits<decltype(t)>::to_float(bv[r]);
                });
            if (out_type == scalar_type::f32 && out == acc) continue;
            with_scalar_type(out_type, [&](auto t) {
                using T = decltype(t);
                convert_on(target, a + b, static_cast<T*>(out) + j * out_stride + b, e - b);
            });
        }
    }
};

/// A multiply's activations as fp32 (converted into xf when they are not)
/// and its fp32 sums (in Y itself when it is fp32, else in yf), with the
/// output pass that adds the bias and converts. Not a template: shared by
/// every model.
struct typed_batch {
    std::vector<float> xf, yf;
    matrix_view<const float> X32;
    matrix_view<float> Y32;
    output_pass finish;

    typed_batch(target_id t, const activation_ref& X, const output_ref& Y, bias_ref bias) {
        const std::size_t n = X.rows, cols = X.cols, rows = Y.cols;
        if (X.type == scalar_type::f32) {
            X32 = matrix_view<const float>(static_cast<const float*>(X.data), n, cols, X.stride);
        } else {
            xf.resize(checked_mul(n, cols, "activation batch size"));
            with_scalar_type(X.type, [&](auto value) {
                using T = decltype(value);
                for (std::size_t j = 0; j < n; ++j)
                    convert_on(t, static_cast<const T*>(X.data) + j * X.stride, xf.data() + j * cols, cols);
            });
            X32 = matrix_view<const float>(xf.data(), n, cols);
        }
        if (Y.type == scalar_type::f32) {
            Y32 = matrix_view<float>(static_cast<float*>(Y.data), n, rows, Y.stride);
        } else {
            yf.resize(checked_mul(n, rows, "output batch size"));
            Y32 = matrix_view<float>(yf.data(), n, rows);
        }
        finish.acc = Y32.data();
        finish.acc_stride = Y32.stride();
        finish.out = Y.data;
        finish.out_stride = Y.stride;
        finish.out_type = Y.type;
        finish.vectors = n;
        finish.bias = bias;
        finish.target = t;
    }
};

}  // namespace detail
SQLLM_NAMESPACE_END
