// sqllm/kernels/x86/avx2.hpp — the AVX2 target's primitives (8 float lanes).
//
// Only primitives live here; the algorithms that use them are written once
// in kernels/driver/ (docs/EXTENDING.md lists the set a target provides).
// They are intrinsics rather than xsimd::batch because xsimd declares
// batch<T, avx2> only in units compiled with -mavx2 (target/region.hpp).
#pragma once

#include "../../config.hpp"
#include "../../target/region.hpp"

#if SQLLM_HAVE_X86_TARGETS

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../target/tags.hpp"
#include "../../types/half.hpp"

SQLLM_REGION_BEGIN_AVX2
SQLLM_NAMESPACE_BEGIN
namespace impl_avx2 {

using tag = target::avx2;
using vf = __m256;   ///< 8 floats
using vu = __m256i;  ///< 8 uint32 words
using vd = __m256d;  ///< 4 doubles
constexpr int lanes = 8;
constexpr int dlanes = 4;

// ---- float -------------------------------------------------------------------
SQLLM_FORCE_INLINE vf vzero() noexcept { return _mm256_setzero_ps(); }
SQLLM_FORCE_INLINE vf vset1(float v) noexcept { return _mm256_set1_ps(v); }
SQLLM_FORCE_INLINE vf vload(const float* p) noexcept { return _mm256_loadu_ps(p); }
/// Lanes [0, n) set, n < 8.
SQLLM_FORCE_INLINE vu first_lanes(std::size_t n) noexcept {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
/// p[0, n) then zeros; reads nothing past p + n.
SQLLM_FORCE_INLINE vf vload_n(const float* p, std::size_t n) noexcept { return _mm256_maskload_ps(p, first_lanes(n)); }
SQLLM_FORCE_INLINE void vstore(float* p, vf v) noexcept { _mm256_storeu_ps(p, v); }
SQLLM_FORCE_INLINE void vstore_n(float* p, vf v, std::size_t n) noexcept { _mm256_maskstore_ps(p, first_lanes(n), v); }
SQLLM_FORCE_INLINE vf vadd(vf a, vf b) noexcept { return _mm256_add_ps(a, b); }
/// a·b + c, fused.
SQLLM_FORCE_INLINE vf vfma(vf a, vf b, vf c) noexcept { return _mm256_fmadd_ps(a, b, c); }
SQLLM_FORCE_INLINE float vsum(vf v) noexcept {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

// ---- packed words ----------------------------------------------------------------
SQLLM_FORCE_INLINE vu wload(const std::uint32_t* p) noexcept {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
SQLLM_FORCE_INLINE vu wload_n(const std::uint32_t* p, std::size_t n) noexcept {
    return _mm256_maskload_epi32(reinterpret_cast<const int*>(p), first_lanes(n));
}
template <int S>
SQLLM_FORCE_INLINE vu wshr(vu v) noexcept {
    return _mm256_srli_epi32(v, S);
}
template <int S>
SQLLM_FORCE_INLINE vu wshl(vu v) noexcept {
    return _mm256_slli_epi32(v, S);
}
SQLLM_FORCE_INLINE vu wor(vu a, vu b) noexcept { return _mm256_or_si256(a, b); }
SQLLM_FORCE_INLINE vu wand(vu a, vu b) noexcept { return _mm256_and_si256(a, b); }
SQLLM_FORCE_INLINE vu wadd(vu a, vu b) noexcept { return _mm256_add_epi32(a, b); }
SQLLM_FORCE_INLINE vu wset1(std::uint32_t v) noexcept { return _mm256_set1_epi32(static_cast<int>(v)); }
/// {0, k, 2k, ..., 7k}: lane j's offset into per-lane tables of k entries.
SQLLM_FORCE_INLINE vu lane_offsets(std::uint32_t k) noexcept {
    return _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), wset1(k));
}

// ---- table lookup -------------------------------------------------------------------
/// base[idx[j]] per lane.
SQLLM_FORCE_INLINE vf gather(const float* base, vu idx) noexcept {
    // Masked form with an explicit source: the unmasked one trips GCC 12's
    // -Wuninitialized through _mm256_undefined_ps (GCC PR 105593).
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base, idx, _mm256_castsi256_ps(_mm256_set1_epi32(-1)), 4);
}

/// A row's LUT for 2^Bits codes. The constructor takes the fp32 entries
/// repeated to at least 16 (so a permute may read index bits above the code);
/// the call looks up the low Bits bits of each lane of idx. From 5 bits on a
/// gather beats a tree of permutes and blends (bench_targets: 6-bit gemv
/// 4.3 ms gathering, 10.3 ms with the tree's 8 of AVX2's 16 registers).
template <int Bits, class = void>
struct table {  // Bits 5-8: gather from the entries in memory
    const float* p;
    explicit table(const float* lut) noexcept : p(lut) {}
    SQLLM_FORCE_INLINE vf operator()(vu idx) const noexcept { return gather(p, wand(idx, wset1((1u << Bits) - 1u))); }
};
template <int Bits>
struct table<Bits, typename std::enable_if<(Bits <= 3)>::type> {  // vpermps reads index bits 0-2
    vf t;
    explicit table(const float* lut) noexcept : t(vload(lut)) {}
    SQLLM_FORCE_INLINE vf operator()(vu idx) const noexcept { return _mm256_permutevar8x32_ps(t, idx); }
};
template <int Bits>
struct table<Bits, typename std::enable_if<(Bits == 4)>::type> {  // both halves, blend on bit 3
    vf lo, hi;
    explicit table(const float* lut) noexcept : lo(vload(lut)), hi(vload(lut + 8)) {}
    SQLLM_FORCE_INLINE vf operator()(vu idx) const noexcept {
        // blendv reads the sign bit: move code bit 3 there.
        return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx),
                                _mm256_castsi256_ps(wshl<28>(idx)));
    }
};

/// out[i] = in[i] for n < 8 binary16 values (F16C: exact), reading and
/// writing exactly n values: LUTs of 2^Bits < 8 entries, and tails.
SQLLM_FORCE_INLINE void widen_half_tail(const half* in, float* out, std::size_t n) noexcept {
    if (n == 4) {
        _mm_storeu_ps(out, _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(in))));
    } else if (n == 2) {
        std::int32_t bits;
        std::memcpy(&bits, in, sizeof bits);
        _mm_storel_pi(reinterpret_cast<__m64*>(out), _mm_cvtph_ps(_mm_cvtsi32_si128(bits)));
    } else {
        for (std::size_t i = 0; i < n; ++i)
            out[i] = in[i].to_float();
    }
}

/// out[i] = in[i] for n binary16 values (F16C: exact). Stores are whole
/// vectors, so the caller's loads of the values forward from them.
SQLLM_FORCE_INLINE void widen_half(const half* in, float* out, std::size_t n) noexcept {
    const std::size_t full = n / 8 * 8;
    for (std::size_t i = 0; i < full; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
    widen_half_tail(in + full, out + full, n - full);
}

// ---- double (the quantizer's argmin scan) ----------------------------------------------
SQLLM_FORCE_INLINE vd dload(const double* p) noexcept { return _mm256_loadu_pd(p); }
SQLLM_FORCE_INLINE vd dset1(double v) noexcept { return _mm256_set1_pd(v); }
SQLLM_FORCE_INLINE vd dsub(vd a, vd b) noexcept { return _mm256_sub_pd(a, b); }
SQLLM_FORCE_INLINE vd dmul(vd a, vd b) noexcept { return _mm256_mul_pd(a, b); }
SQLLM_FORCE_INLINE vd dmax(vd a, vd b) noexcept { return _mm256_max_pd(a, b); }
SQLLM_FORCE_INLINE vd dmin(vd a, vd b) noexcept { return _mm256_min_pd(a, b); }
SQLLM_FORCE_INLINE double dhmin(vd v) noexcept {
    const __m128d h = _mm_min_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_min_sd(h, _mm_unpackhi_pd(h, h)));
}
/// v, opaque to the optimiser: a product passed through it is never fused
/// into an FMA, whatever -ffp-contract says (reproducible results).
SQLLM_FORCE_INLINE vd dopaque(vd v) noexcept {
    __asm__("" : "+x"(v));
    return v;
}

// ---- int8 dot products (the approximate path: kernels/gemm_int8.hpp, driver/int8.inl) --
using vi = __m256i;  ///< 8 int32 sums of int8 products
/// Bytes one i8_dot consumes (divides 256, the activation block).
constexpr std::size_t i8_step = 32;
/// Added to each int8 weight of a decoded tile: 0, the bytes are two's complement int8.
constexpr int i8_weight_bias = 0;
/// Batch vectors in the int8 register tile (16 registers: 8 int32 sums, 4 weights, 2 x).
constexpr int i8_batch_tile = 2;
using i8w = __m256i;  ///< 32 int8 weights
struct i8x {          ///< 32 int8 activations, and their magnitudes
    __m256i abs, raw;
};
SQLLM_FORCE_INLINE vi izero() noexcept { return _mm256_setzero_si256(); }
SQLLM_FORCE_INLINE i8w i8_load_w(const std::uint8_t* p) noexcept {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
SQLLM_FORCE_INLINE i8x i8_load_x(const std::int8_t* p) noexcept {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return {_mm256_abs_epi8(v), v};
}
/// acc + the products w·x, 4 to a lane, exact. vpmaddubsw multiplies u8 by
/// s8 into saturating int16 pairs: |x| (as u8) by w with x's sign (vpsignb)
/// keeps each pair within 2·127² < 2^15 (x and w are in [-127, 127]).
SQLLM_FORCE_INLINE vi i8_dot(vi acc, i8w w, const i8x& x) noexcept {
    const __m256i p16 = _mm256_maddubs_epi16(x.abs, _mm256_sign_epi8(w, x.raw));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}
SQLLM_FORCE_INLINE vf i8_to_float(vi v) noexcept { return _mm256_cvtepi32_ps(v); }
/// v's bits as words.
SQLLM_FORCE_INLINE vu vbits(vf v) noexcept { return _mm256_castps_si256(v); }
/// Four slots' bytes of the first n lanes (byte i of lane j: slot i), stored
/// at p[L·i + j]: the decoded tile in column order (driver/int8.inl).
SQLLM_FORCE_INLINE void store_slots4(std::uint8_t* p, std::size_t L, vu v, std::size_t n) noexcept {
    // Per 128-bit half, dword i = slot i of its 4 lanes; then qword i = slot i of all 8.
    const __m256i by_slot = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,  //
                                             0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m256i b = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, by_slot),
                                                  _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    if (n == 8 && L == 8) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), b);
    } else if (n == 8) {
        const __m128i lo = _mm256_castsi256_si128(b), hi = _mm256_extracti128_si256(b, 1);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(p), lo);
        _mm_storeh_pi(reinterpret_cast<__m64*>(p + L), _mm_castsi128_ps(lo));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(p + 2 * L), hi);
        _mm_storeh_pi(reinterpret_cast<__m64*>(p + 3 * L), _mm_castsi128_ps(hi));
    } else {
        alignas(32) std::uint8_t t[32];
        _mm256_store_si256(reinterpret_cast<__m256i*>(t), b);
        for (std::size_t i = 0; i < 4; ++i) std::memcpy(p + L * i, t + 8 * i, n);
    }
}

}  // namespace impl_avx2
SQLLM_NAMESPACE_END
SQLLM_REGION_END

#endif  // SQLLM_HAVE_X86_TARGETS
