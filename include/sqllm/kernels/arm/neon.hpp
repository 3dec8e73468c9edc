// sqllm/kernels/arm/neon.hpp — the NEON target's primitives (AArch64
// Advanced SIMD, 4 float lanes).
//
// NEON is part of the AArch64 baseline, so xsimd::batch<T, xsimd::neon64>
// exists in every AArch64 unit and the primitives are written with it.
// Intrinsics appear only where xsimd has no operation: the byte table
// lookups (TBL, vqtbl1q_u8..vqtbl4q_u8) that read a row's LUT, binary16
// widening, and the asm barrier of dopaque.
#pragma once

#include "../../config.hpp"
#include "../../target/region.hpp"

#if SQLLM_HAVE_NEON_TARGET

#include <arm_neon.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../target/tags.hpp"
#include "../../target/xsimd.hpp"
#include "../../types/half.hpp"

SQLLM_NAMESPACE_BEGIN
namespace impl_neon {

using tag = target::neon;
using arch = xsimd::neon64;
using vf = xsimd::batch<float, arch>;          ///< 4 floats
using vu = xsimd::batch<std::uint32_t, arch>;  ///< 4 uint32 words
using vd = xsimd::batch<double, arch>;         ///< 2 doubles
constexpr int lanes = 4;
constexpr int dlanes = 2;

// ---- float -------------------------------------------------------------------
SQLLM_FORCE_INLINE vf vzero() noexcept { return vf(0.0f); }
SQLLM_FORCE_INLINE vf vset1(float v) noexcept { return vf(v); }
SQLLM_FORCE_INLINE vf vload(const float* p) noexcept { return vf::load_unaligned(p); }
/// p[0, n) then zeros; reads nothing past p + n.
SQLLM_FORCE_INLINE vf vload_n(const float* p, std::size_t n) noexcept {
    alignas(16) float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    std::memcpy(t, p, std::min<std::size_t>(n, 4) * sizeof(float));
    return vf::load_aligned(t);
}
SQLLM_FORCE_INLINE void vstore(float* p, vf v) noexcept { v.store_unaligned(p); }
SQLLM_FORCE_INLINE void vstore_n(float* p, vf v, std::size_t n) noexcept {
    alignas(16) float t[4];
    v.store_aligned(t);
    std::memcpy(p, t, std::min<std::size_t>(n, 4) * sizeof(float));
}
SQLLM_FORCE_INLINE vf vadd(vf a, vf b) noexcept { return a + b; }
/// a·b + c, fused.
SQLLM_FORCE_INLINE vf vfma(vf a, vf b, vf c) noexcept { return xsimd::fma(a, b, c); }
SQLLM_FORCE_INLINE float vsum(vf v) noexcept { return xsimd_compat::reduce_add(v); }

// ---- packed words ----------------------------------------------------------------
SQLLM_FORCE_INLINE vu wload(const std::uint32_t* p) noexcept { return vu::load_unaligned(p); }
SQLLM_FORCE_INLINE vu wload_n(const std::uint32_t* p, std::size_t n) noexcept {
    alignas(16) std::uint32_t t[4] = {0, 0, 0, 0};
    std::memcpy(t, p, std::min<std::size_t>(n, 4) * sizeof(std::uint32_t));
    return vu::load_aligned(t);
}
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
SQLLM_FORCE_INLINE vu wset1(std::uint32_t v) noexcept { return vu(v); }
/// {0, k, 2k, 3k}.
SQLLM_FORCE_INLINE vu lane_offsets(std::uint32_t k) noexcept { return vu{0u, k, 2 * k, 3 * k}; }

// ---- table lookup -------------------------------------------------------------------
/// base[idx[j]] per lane (NEON has no gather: four loads).
SQLLM_FORCE_INLINE vf gather(const float* base, vu idx) noexcept {
    alignas(16) std::uint32_t i[4];
    idx.store_aligned(i);
    return vf{base[i[0]], base[i[1]], base[i[2]], base[i[3]]};
}

/// Byte indices of the fp32 entries `code` (< 16) of a byte table: each
/// lane's four bytes are 4·code + 0..3.
SQLLM_FORCE_INLINE uint8x16_t entry_bytes(vu code) noexcept {
    return vreinterpretq_u8_u32(code * vu(0x04040404u) + vu(0x03020100u));
}

/// A row's LUT for 2^Bits codes, from its fp32 entries repeated to at least
/// 16; the call looks up the low Bits bits of each lane of idx. Up to 16
/// entries (64 bytes) the lookup is one TBL over the table's bytes.
template <int Bits, class = void>
struct table {  // Bits 5-8: four loads
    const float* p;
    explicit table(const float* lut) noexcept : p(lut) {}
    SQLLM_FORCE_INLINE vf operator()(vu idx) const noexcept { return gather(p, idx & vu((1u << Bits) - 1u)); }
};
template <int Bits>
struct table<Bits, typename std::enable_if<(Bits <= 2)>::type> {  // 16 bytes: TBL 1
    uint8x16_t t;
    explicit table(const float* lut) noexcept : t(vreinterpretq_u8_f32(vld1q_f32(lut))) {}
    SQLLM_FORCE_INLINE vf operator()(vu idx) const noexcept {
        return vf(vreinterpretq_f32_u8(vqtbl1q_u8(t, entry_bytes(idx & vu((1u << Bits) - 1u)))));
    }
};
template <int Bits>
struct table<Bits, typename std::enable_if<(Bits == 3)>::type> {  // 32 bytes: TBL 2
    uint8x16x2_t t;
    explicit table(const float* lut) noexcept
        : t{{vreinterpretq_u8_f32(vld1q_f32(lut)), vreinterpretq_u8_f32(vld1q_f32(lut + 4))}} {}
    SQLLM_FORCE_INLINE vf operator()(vu idx) const noexcept {
        return vf(vreinterpretq_f32_u8(vqtbl2q_u8(t, entry_bytes(idx & vu(7u)))));
    }
};
template <int Bits>
struct table<Bits, typename std::enable_if<(Bits == 4)>::type> {  // 64 bytes: TBL 4
    uint8x16x4_t t;
    explicit table(const float* lut) noexcept
        : t{{vreinterpretq_u8_f32(vld1q_f32(lut)), vreinterpretq_u8_f32(vld1q_f32(lut + 4)),
             vreinterpretq_u8_f32(vld1q_f32(lut + 8)), vreinterpretq_u8_f32(vld1q_f32(lut + 12))}} {}
    SQLLM_FORCE_INLINE vf operator()(vu idx) const noexcept {
        return vf(vreinterpretq_f32_u8(vqtbl4q_u8(t, entry_bytes(idx & vu(15u)))));
    }
};

/// out[i] = in[i] for n binary16 values (exact).
inline void widen_half(const half* in, float* out, std::size_t n) noexcept {
    const std::size_t full = n / 4 * 4;
    for (std::size_t i = 0; i < full; i += 4) {
        std::uint16_t b[4];
        std::memcpy(b, in + i, sizeof b);
        vst1q_f32(out + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(b))));
    }
    if (full < n) {  // short LUTs (2^Bits < 4) and tails: through a zero-padded copy
        std::uint16_t b[4] = {0, 0, 0, 0};
        float f[4];
        std::memcpy(b, in + full, (n - full) * sizeof(half));
        vst1q_f32(f, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(b))));
        std::memcpy(out + full, f, (n - full) * sizeof(float));
    }
}

// ---- double (the quantizer's argmin scan) ----------------------------------------------
SQLLM_FORCE_INLINE vd dload(const double* p) noexcept { return vd::load_unaligned(p); }
SQLLM_FORCE_INLINE vd dset1(double v) noexcept { return vd(v); }
SQLLM_FORCE_INLINE vd dsub(vd a, vd b) noexcept { return a - b; }
SQLLM_FORCE_INLINE vd dmul(vd a, vd b) noexcept { return a * b; }
SQLLM_FORCE_INLINE vd dmax(vd a, vd b) noexcept { return xsimd::max(a, b); }
SQLLM_FORCE_INLINE vd dmin(vd a, vd b) noexcept { return xsimd::min(a, b); }
SQLLM_FORCE_INLINE double dhmin(vd v) noexcept {
    alignas(16) double l[2];
    v.store_aligned(l);
    return std::min(l[0], l[1]);
}
/// v, opaque to the optimiser: never fused into an FMA (GCC contracts by
/// default on AArch64).
SQLLM_FORCE_INLINE vd dopaque(vd v) noexcept {
    float64x2_t r = v;
    __asm__("" : "+w"(r));
    return vd(r);
}

// ---- int8 dot products (the approximate path: kernels/gemm_int8.hpp, driver/int8.inl) --
// SDOT where the build targets it (__ARM_FEATURE_DOTPROD: -march=armv8.2-a+dotprod
// and later), else widening multiplies. A compile-time choice: AArch64 has no
// function-level target switch this header could use portably.
using vi = int32x4_t;  ///< 4 int32 sums of int8 products
/// Bytes one i8_dot consumes (divides 256, the activation block).
constexpr std::size_t i8_step = 16;
/// Added to each int8 weight of a decoded tile: 0, the bytes are two's complement int8.
constexpr int i8_weight_bias = 0;
/// Batch vectors in the int8 register tile.
constexpr int i8_batch_tile = 4;
using i8w = int8x16_t;  ///< 16 int8 weights
using i8x = int8x16_t;  ///< 16 int8 activations
SQLLM_FORCE_INLINE vi izero() noexcept { return vdupq_n_s32(0); }
SQLLM_FORCE_INLINE i8w i8_load_w(const std::uint8_t* p) noexcept { return vreinterpretq_s8_u8(vld1q_u8(p)); }
SQLLM_FORCE_INLINE i8x i8_load_x(const std::int8_t* p) noexcept { return vld1q_s8(p); }
/// acc + the products w·x, 4 to a lane (SDOT) or 4 to a lane in pairs
/// (SMULL + SADALP), exact either way.
SQLLM_FORCE_INLINE vi i8_dot(vi acc, i8w w, i8x x) noexcept {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, w, x);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w), vget_low_s8(x)));
    return vpadalq_s16(acc, vmull_high_s8(w, x));
#endif
}
SQLLM_FORCE_INLINE vf i8_to_float(vi v) noexcept { return vf(vcvtq_f32_s32(v)); }
/// v's bits as words.
SQLLM_FORCE_INLINE vu vbits(vf v) noexcept { return vu(vreinterpretq_u32_f32(v)); }
/// Four slots' bytes of the first n lanes (byte i of lane j: slot i), stored
/// at p[L·i + j]: the decoded tile in column order (driver/int8.inl). One TBL
/// transposes the 4 × 4 bytes.
SQLLM_FORCE_INLINE void store_slots4(std::uint8_t* p, std::size_t L, vu v, std::size_t n) noexcept {
    static constexpr std::uint8_t by_slot[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
    const uint32x4_t b = vreinterpretq_u32_u8(vqtbl1q_u8(vreinterpretq_u8_u32(v), vld1q_u8(by_slot)));
    const std::uint32_t s[4] = {vgetq_lane_u32(b, 0), vgetq_lane_u32(b, 1), vgetq_lane_u32(b, 2),
                                vgetq_lane_u32(b, 3)};
    n = std::min<std::size_t>(n, 4);
    for (std::size_t i = 0; i < 4; ++i) std::memcpy(p + L * i, &s[i], n);
}

}  // namespace impl_neon
SQLLM_NAMESPACE_END

#endif  // SQLLM_HAVE_NEON_TARGET
