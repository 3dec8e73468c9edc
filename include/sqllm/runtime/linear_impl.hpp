// sqllm/runtime/linear_impl.hpp — the definitions behind runtime/linear.hpp:
// one linear_model<Bits, Lut, Sparse> per combination, and make_linear,
// which wraps a compile-time-typed matrix in a run-time-typed layer.
//
// Included by runtime/linear.hpp in header-only use. With the compiled
// library (SQLLM_COMPILED_LIB), include it only to call make_linear on your
// own matrices: the models are declared extern below, so the kernels are
// not compiled again in your unit.
//
// SQLLM_RUNTIME_BITS_MASK (bit b set: b-bit layers are compiled; default all
// of 1..8) lets a build leave code widths out; the compiled library and its
// users must agree (CMake: SQLLM_RUNTIME_BITS sets it on sqllm::runtime).
#pragma once

#include <cmath>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../error.hpp"
#include "../kernels/gemm.hpp"
#include "../kernels/gemv.hpp"
#include "../kernels/output_pass.hpp"
#include "../matrix/quantized_matrix.hpp"
#include "../sparse/csr.hpp"
#include "../sparse/none.hpp"
#include "../target/cpu.hpp"
#include "linear.hpp"

#ifndef SQLLM_RUNTIME_BITS_MASK
#define SQLLM_RUNTIME_BITS_MASK 0x1FE
#endif

SQLLM_NAMESPACE_BEGIN

/// True if this build's run-time-typed layer has code width `bits`.
constexpr bool runtime_has_bits(int bits) noexcept {
    return bits >= 1 && bits <= 8 && ((SQLLM_RUNTIME_BITS_MASK >> bits) & 1) != 0;
}

namespace detail {

template <class Sparse>
struct sparse_kind_of;
template <>
struct sparse_kind_of<no_sparse> : std::integral_constant<sparse_kind, sparse_kind::none> {};
template <>
struct sparse_kind_of<csr<>> : std::integral_constant<sparse_kind, sparse_kind::csr> {};
template <>
struct sparse_kind_of<balanced_csr<>> : std::integral_constant<sparse_kind, sparse_kind::balanced_csr> {};

/// One combination of the run-time-typed layer: a view of the weights (in
/// the kernels' layout), an optional bias, and whatever keeps both alive.
template <int Bits, class Lut, class Sparse>
class linear_model final : public linear_interface {
public:
    using view_type = quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>;

    linear_model(const view_type& W, bias_ref bias, std::shared_ptr<const void> owner, bool zero_copy)
        : W_(W), bias_(bias), owner_(std::move(owner)), best_(kernel_target(W)) {
        info_.rows = W.rows();
        info_.cols = W.cols();
        info_.bits = Bits;
        info_.lut_type = scalar_type_of<Lut>::value;
        info_.sparse = sparse_kind_of<Sparse>::value;
        info_.nonzeros = W.nonzeros();
        info_.has_bias = static_cast<bool>(bias);
        info_.bias_type = bias.type;
        info_.storage_bytes = W.storage_bytes() + (bias ? W.rows() * size_of(bias.type) : 0);
        info_.zero_copy = zero_copy;
    }

    const linear_info& info() const noexcept override { return info_; }
    target_id default_target() const noexcept override { return best_; }
    bool has_kernel(target_id t) const noexcept override { return sqllm::has_kernel(t, W_); }

    void multiply(target_id t, const activation_ref& X, const output_ref& Y, executor_ref exec) const override {
        // The types are dealt with around the kernels, in code shared by every model:
        // each model compiles one fp32 multiply per target.
        typed_batch b(t, X, Y, bias_);
        with_target(t, [&](auto tag) { gemm_on(tag, W_, b.X32, b.Y32, exec, &b.finish); });
    }

private:
    view_type W_;
    bias_ref bias_;
    std::shared_ptr<const void> owner_;
    target_id best_;
    linear_info info_;
};

/// Checks a bias of `rows` values: finite.
inline void check_bias(bias_ref bias, std::size_t rows) {
    if (!bias) return;
    for (std::size_t r = 0; r < rows; ++r)
        if (!std::isfinite(load_as_float(bias.data, bias.type, r)))
            fail(errc::non_finite, "bias value of row " + detail::to_string(r) + " is NaN or Inf");
}

}  // namespace detail

/// A run-time-typed layer over a view of weights whose memory `owner`
/// keeps alive (a mapped file, a matrix), with an optional bias of rows()
/// values, also kept alive by `owner`. Sparse must be no_sparse, csr<> or
/// balanced_csr<>. Throws sqllm::error(non_finite) for a NaN/Inf bias.
template <int Bits, class Lut, class Sparse>
linear make_linear(const quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>& W, std::shared_ptr<const void> owner,
                   bias_ref bias = {}, bool zero_copy = false) {
    static_assert(runtime_has_bits(Bits), "this code width is left out of SQLLM_RUNTIME_BITS_MASK");
    detail::check_bias(bias, W.rows());
    return linear(
        std::make_shared<const detail::linear_model<Bits, Lut, Sparse>>(W, bias, std::move(owner), zero_copy));
}

/// A run-time-typed layer that owns `m` (moved in).
template <int Bits, class Lut, class Sparse>
linear make_linear(quantized_matrix<Bits, Lut, Sparse, striped_layout<Bits>> m) {
    auto owned = std::make_shared<const quantized_matrix<Bits, Lut, Sparse, striped_layout<Bits>>>(std::move(m));
    return make_linear(owned->view(), owned);
}

/// A run-time-typed layer that owns `m` and a bias of m.rows() values
/// (float, half or bfloat16). Throws sqllm::error(shape_mismatch) if the
/// bias has another length.
template <int Bits, class Lut, class Sparse, class B>
linear make_linear(quantized_matrix<Bits, Lut, Sparse, striped_layout<Bits>> m, std::vector<B> bias) {
    static_assert(is_lut_value<B>::value, "a bias holds float, sqllm::half or sqllm::bfloat16");
    if (bias.size() != m.rows())
        detail::fail(errc::shape_mismatch, "bias has " + detail::to_string(bias.size()) +
                                               " values, the matrix has " + detail::to_string(m.rows()) + " rows");
    using matrix = quantized_matrix<Bits, Lut, Sparse, striped_layout<Bits>>;
    struct both {
        matrix m;
        std::vector<B> bias;
    };
    auto owned = std::make_shared<const both>(both{std::move(m), std::move(bias)});
    return make_linear(owned->m.view(), std::shared_ptr<const void>(owned, &owned->m),
                       bias_ref{owned->bias.data(), scalar_type_of<B>::value});
}

// ---- linear's members ---------------------------------------------------------------
// Defined here in header-only use; with the compiled library, only in its source.
#if !defined(SQLLM_COMPILED_LIB) || defined(SQLLM_RUNTIME_SOURCE)

SQLLM_RUNTIME_INLINE linear::linear(std::shared_ptr<const detail::linear_interface> impl) noexcept
    : impl_(std::move(impl)), target_(impl_ ? impl_->default_target() : target_id::scalar) {}

SQLLM_RUNTIME_INLINE const linear_info& linear::info() const {
    if (!impl_) detail::fail(errc::invalid_argument, "an empty sqllm::linear has no weights");
    return impl_->info();
}

SQLLM_RUNTIME_INLINE void linear::set_target(target_id t) {
    const linear_info& i = info();
    if (!impl_->has_kernel(t))
        detail::fail(errc::invalid_argument,
                     std::string("target ") + to_string(t) + " cannot run this layer (" + detail::to_string(i.bits) +
                         "-bit, " + to_string(i.lut_type) + " LUT): not compiled in this build, not supported by "
                         "this CPU, or without a kernel for its layout");
    target_ = t;
}

SQLLM_RUNTIME_INLINE void linear::gemv(span<const float> x, span<float> y, executor_ref exec) const {
    gemv<float, float>(x, y, exec);
}

SQLLM_RUNTIME_INLINE void linear::gemm(matrix_view<const float> X, matrix_view<float> Y, executor_ref exec) const {
    gemm<float, float>(X, Y, exec);
}

SQLLM_RUNTIME_INLINE void linear::multiply(const activation_ref& X, const output_ref& Y, executor_ref exec) const {
    const linear_info& i = info();
    detail::check_gemm_shapes(i.rows, i.cols, X.rows, X.cols, Y.rows, Y.cols);
    if (X.rows == 0) return;
    if (X.data == nullptr || Y.data == nullptr)
        detail::fail(errc::invalid_argument, "activations or outputs are a null pointer");
    if ((X.rows > 1 && X.stride < X.cols) || (Y.rows > 1 && Y.stride < Y.cols))
        detail::fail(errc::shape_mismatch, "a batch's row stride is shorter than its rows");
    impl_->multiply(target_, X, Y, exec);
}
#endif  // members

// ---- the combinations ---------------------------------------------------------------

/// Calls SQLLM_X(Bits, Lut, Sparse) for every combination of one code width.
#define SQLLM_RUNTIME_MODELS_OF_WIDTH(SQLLM_X, B)                                                            \
    SQLLM_X(B, float, no_sparse)                                                     \
    SQLLM_X(B, float, csr<>)                                                         \
    SQLLM_X(B, float, balanced_csr<>)                                                \
    SQLLM_X(B, half, no_sparse)                              \
    SQLLM_X(B, half, csr<>)                                  \
    SQLLM_X(B, half, balanced_csr<>)                         \
    SQLLM_X(B, bfloat16, no_sparse)                          \
    SQLLM_X(B, bfloat16, csr<>)                              \
    SQLLM_X(B, bfloat16, balanced_csr<>)

#if defined(SQLLM_COMPILED_LIB) && !defined(SQLLM_BUILDING_RUNTIME)
// The compiled library (src/runtime/) defines these; users' units only refer to them.
#define SQLLM_RUNTIME_EXTERN_MODEL(B, L, S) extern template class detail::linear_model<B, L, S>;
SQLLM_RUNTIME_MODELS_OF_WIDTH(SQLLM_RUNTIME_EXTERN_MODEL, 1)
SQLLM_RUNTIME_MODELS_OF_WIDTH(SQLLM_RUNTIME_EXTERN_MODEL, 2)
SQLLM_RUNTIME_MODELS_OF_WIDTH(SQLLM_RUNTIME_EXTERN_MODEL, 3)
SQLLM_RUNTIME_MODELS_OF_WIDTH(SQLLM_RUNTIME_EXTERN_MODEL, 4)
SQLLM_RUNTIME_MODELS_OF_WIDTH(SQLLM_RUNTIME_EXTERN_MODEL, 5)
SQLLM_RUNTIME_MODELS_OF_WIDTH(SQLLM_RUNTIME_EXTERN_MODEL, 6)
SQLLM_RUNTIME_MODELS_OF_WIDTH(SQLLM_RUNTIME_EXTERN_MODEL, 7)
SQLLM_RUNTIME_MODELS_OF_WIDTH(SQLLM_RUNTIME_EXTERN_MODEL, 8)
#undef SQLLM_RUNTIME_EXTERN_MODEL
#endif

SQLLM_NAMESPACE_END
