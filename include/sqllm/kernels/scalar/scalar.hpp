// sqllm/kernels/scalar/scalar.hpp — the scalar target's primitives: one lane,
// portable C++. Every CPU runs it; it ends every fallback chain.
//
// The drivers of kernels/driver/ compiled with these are the scalar target;
// the oracle the tests hold every target to is kernels/reference.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../config.hpp"
#include "../../core/rounded_product.hpp"
#include "../../target/tags.hpp"
#include "../../types/half.hpp"

SQLLM_NAMESPACE_BEGIN
namespace impl_scalar {

using tag = target::scalar;
using vf = float;
using vu = std::uint32_t;
using vd = double;
constexpr int lanes = 1;
constexpr int dlanes = 1;

// ---- float -------------------------------------------------------------------
SQLLM_FORCE_INLINE vf vzero() noexcept { return 0.0f; }
SQLLM_FORCE_INLINE vf vset1(float v) noexcept { return v; }
SQLLM_FORCE_INLINE vf vload(const float* p) noexcept { return *p; }
SQLLM_FORCE_INLINE vf vload_n(const float* p, std::size_t n) noexcept { return n ? *p : 0.0f; }
SQLLM_FORCE_INLINE void vstore(float* p, vf v) noexcept { *p = v; }
SQLLM_FORCE_INLINE void vstore_n(float* p, vf v, std::size_t n) noexcept {
    if (n) *p = v;
}
SQLLM_FORCE_INLINE vf vadd(vf a, vf b) noexcept { return a + b; }
SQLLM_FORCE_INLINE vf vfma(vf a, vf b, vf c) noexcept { return a * b + c; }  // kernels: contraction is welcome
SQLLM_FORCE_INLINE float vsum(vf v) noexcept { return v; }

// ---- packed words ----------------------------------------------------------------
SQLLM_FORCE_INLINE vu wload(const std::uint32_t* p) noexcept { return *p; }
SQLLM_FORCE_INLINE vu wload_n(const std::uint32_t* p, std::size_t n) noexcept { return n ? *p : 0u; }
template <int S>
SQLLM_FORCE_INLINE vu wshr(vu v) noexcept {
    return v >> S;
}
template <int S>
SQLLM_FORCE_INLINE vu wshl(vu v) noexcept {
    return v << S;
}
SQLLM_FORCE_INLINE vu wor(vu a, vu b) noexcept { return a | b; }
SQLLM_FORCE_INLINE vu wand(vu a, vu b) noexcept { return a & b; }
SQLLM_FORCE_INLINE vu wadd(vu a, vu b) noexcept { return a + b; }
SQLLM_FORCE_INLINE vu wset1(std::uint32_t v) noexcept { return v; }
SQLLM_FORCE_INLINE vu lane_offsets(std::uint32_t) noexcept { return 0u; }

// ---- table lookup -------------------------------------------------------------------
SQLLM_FORCE_INLINE vf gather(const float* base, vu idx) noexcept { return base[idx]; }

/// A row's LUT (fp32 entries, repeated to at least 16).
template <int Bits>
struct table {
    const float* p;
    explicit table(const float* lut) noexcept : p(lut) {}
    SQLLM_FORCE_INLINE vf operator()(vu idx) const noexcept { return p[idx & ((1u << Bits) - 1u)]; }
};

inline void widen_half(const half* in, float* out, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) out[i] = in[i].to_float();
}

// ---- double ----------------------------------------------------------------------
SQLLM_FORCE_INLINE vd dload(const double* p) noexcept { return *p; }
SQLLM_FORCE_INLINE vd dset1(double v) noexcept { return v; }
SQLLM_FORCE_INLINE vd dsub(vd a, vd b) noexcept { return a - b; }
SQLLM_FORCE_INLINE vd dmul(vd a, vd b) noexcept { return a * b; }
SQLLM_FORCE_INLINE vd dmax(vd a, vd b) noexcept { return std::max(a, b); }
SQLLM_FORCE_INLINE vd dmin(vd a, vd b) noexcept { return std::min(a, b); }
SQLLM_FORCE_INLINE double dhmin(vd v) noexcept { return v; }
/// v, opaque to the optimiser: never fused into an FMA (core/rounded_product.hpp).
SQLLM_FORCE_INLINE vd dopaque(vd v) noexcept { return detail::rounded(v); }

// ---- int8 dot products (the approximate path: kernels/gemm_int8.hpp, driver/int8.inl) --
using vi = std::int32_t;  ///< int32 sums of int8 products
/// Bytes one i8_dot consumes (divides 256, the activation block).
constexpr std::size_t i8_step = 4;
/// Added to each int8 weight of a decoded tile: 0, the bytes are two's complement int8.
constexpr int i8_weight_bias = 0;
/// Batch vectors in the int8 register tile.
constexpr int i8_batch_tile = 4;
using i8w = const std::uint8_t*;  ///< i8_step decoded weights
using i8x = const std::int8_t*;   ///< i8_step int8 activations
SQLLM_FORCE_INLINE vi izero() noexcept { return 0; }
SQLLM_FORCE_INLINE i8w i8_load_w(const std::uint8_t* p) noexcept { return p; }
SQLLM_FORCE_INLINE i8x i8_load_x(const std::int8_t* p) noexcept { return p; }
/// acc + Σ_i w[i]·x[i], exact.
SQLLM_FORCE_INLINE vi i8_dot(vi acc, i8w w, i8x x) noexcept {
    for (std::size_t i = 0; i < i8_step; ++i) acc += static_cast<std::int8_t>(w[i]) * x[i];
    return acc;
}
SQLLM_FORCE_INLINE vf i8_to_float(vi v) noexcept { return static_cast<float>(v); }
/// v's bits as a word.
SQLLM_FORCE_INLINE vu vbits(vf v) noexcept {
    std::uint32_t u;
    std::memcpy(&u, &v, sizeof u);
    return u;
}
/// Four slots' bytes of the first n lanes (byte i of lane j: slot i), stored
/// at p[L·i + j]: the decoded tile in column order (driver/int8.inl).
SQLLM_FORCE_INLINE void store_slots4(std::uint8_t* p, std::size_t L, vu v, std::size_t n) noexcept {
    if (n)
        for (std::size_t i = 0; i < 4; ++i) p[L * i] = static_cast<std::uint8_t>(v >> (8 * i));
}

}  // namespace impl_scalar
SQLLM_NAMESPACE_END
