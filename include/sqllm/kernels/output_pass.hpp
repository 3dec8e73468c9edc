// sqllm/kernels/output_pass.hpp — what a multiply does to a block of rows
// after the kernels summed them in fp32: add the bias, convert to the
// engine's output type.
//
// The kernels accumulate in fp32 into an fp32 array. Each task runs the
// output pass on its own rows right after their dense and sparse parts, while
// they are in L1 (gemv.hpp, gemm.hpp), so a bias or an fp16/bf16 output costs
// no extra pass over memory. The pass is one non-template type whatever the
// types, so a layer compiled for every type combination instantiates its
// kernels once.
#pragma once

#include <cstddef>

#include "../config.hpp"
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

}  // namespace detail
SQLLM_NAMESPACE_END
