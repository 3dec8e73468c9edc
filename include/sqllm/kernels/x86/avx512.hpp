// sqllm/kernels/x86/avx512.hpp — the AVX-512 target's primitives (16 float
// lanes; F/BW/DQ/VL + VBMI + VNNI).
//
// As avx2.hpp, plus the one primitive this target schedules its own way:
// extract (vpmultishiftqb for two slots in three, see below). Masked
// intrinsic forms with explicit sources are used throughout: the unmasked
// ones trip GCC 12's -Wuninitialized through _mm512_undefined_* (GCC PR 105593).
#pragma once

#include "../../config.hpp"
#include "../../target/region.hpp"

#if SQLLM_HAVE_X86_TARGETS

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../../target/tags.hpp"
#include "../../types/half.hpp"
#include "avx2.hpp"

SQLLM_REGION_BEGIN_AVX512
SQLLM_NAMESPACE_BEGIN
namespace impl_avx512 {

using tag = target::avx512;
using vf = __m512;   ///< 16 floats
using vu = __m512i;  ///< 16 uint32 words
using vd = __m512d;  ///< 8 doubles
constexpr int lanes = 16;
constexpr int dlanes = 8;
constexpr __mmask16 all16 = 0xFFFF;

// ---- float -------------------------------------------------------------------
SQLLM_FORCE_INLINE vf vzero() noexcept { return _mm512_setzero_ps(); }
SQLLM_FORCE_INLINE vf vset1(float v) noexcept { return _mm512_set1_ps(v); }
SQLLM_FORCE_INLINE vf vload(const float* p) noexcept { return _mm512_loadu_ps(p); }
SQLLM_FORCE_INLINE __mmask16 first_lanes(std::size_t n) noexcept { return static_cast<__mmask16>((1u << n) - 1u); }
/// p[0, n) then zeros; reads nothing past p + n.
SQLLM_FORCE_INLINE vf vload_n(const float* p, std::size_t n) noexcept {
    return _mm512_maskz_loadu_ps(first_lanes(n), p);
}
SQLLM_FORCE_INLINE void vstore(float* p, vf v) noexcept { _mm512_storeu_ps(p, v); }
SQLLM_FORCE_INLINE void vstore_n(float* p, vf v, std::size_t n) noexcept {
    _mm512_mask_storeu_ps(p, first_lanes(n), v);
}
SQLLM_FORCE_INLINE vf vadd(vf a, vf b) noexcept { return _mm512_add_ps(a, b); }
/// a·b + c, fused.
SQLLM_FORCE_INLINE vf vfma(vf a, vf b, vf c) noexcept { return _mm512_fmadd_ps(a, b, c); }
SQLLM_FORCE_INLINE float vsum(vf v) noexcept {
    // Through memory: no unmasked extract (see the file comment).
    alignas(64) float l[16];
    _mm512_store_ps(l, v);
    __m128 h =
        _mm_add_ps(_mm_add_ps(_mm_load_ps(l), _mm_load_ps(l + 4)), _mm_add_ps(_mm_load_ps(l + 8), _mm_load_ps(l + 12)));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

// ---- packed words ----------------------------------------------------------------
SQLLM_FORCE_INLINE vu wload(const std::uint32_t* p) noexcept { return _mm512_loadu_si512(p); }
SQLLM_FORCE_INLINE vu wload_n(const std::uint32_t* p, std::size_t n) noexcept {
    return _mm512_maskz_loadu_epi32(first_lanes(n), p);
}
template <int S>
SQLLM_FORCE_INLINE vu wshr(vu v) noexcept {
    return _mm512_mask_srli_epi32(v, all16, v, S);
}
template <int S>
SQLLM_FORCE_INLINE vu wshl(vu v) noexcept {
    return _mm512_mask_slli_epi32(v, all16, v, S);
}
SQLLM_FORCE_INLINE vu wor(vu a, vu b) noexcept { return _mm512_or_si512(a, b); }
SQLLM_FORCE_INLINE vu wand(vu a, vu b) noexcept { return _mm512_and_si512(a, b); }
SQLLM_FORCE_INLINE vu wadd(vu a, vu b) noexcept { return _mm512_add_epi32(a, b); }
SQLLM_FORCE_INLINE vu wset1(std::uint32_t v) noexcept { return _mm512_set1_epi32(static_cast<int>(v)); }
/// {0, k, 2k, ..., 15k}.
SQLLM_FORCE_INLINE vu lane_offsets(std::uint32_t k) noexcept {
    const vu j = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm512_mask_mullo_epi32(j, all16, j, wset1(k));
}

/// Bits [Bits·T, Bits·T + Bits) of each lane's stream of word vectors w
/// (the code of slot T in the striped and reference layouts), in the low
/// bits of each lane; the bits above are not cleared. Byte 0 of a lane by
/// vpmultishiftqb runs on port 5 and a shift on port 0 with the FMAs: two
/// slots in three take the former, which balances the ports (measured -25%
/// on Sapphire Rapids). It yields 8 bits, so only for codes of up to 8 bits
/// that do not straddle two words.
template <int Bits, int T>
SQLLM_FORCE_INLINE vu extract(const vu* w) noexcept {
    constexpr int bit = Bits * T, m = bit / 32, s = bit % 32;
    constexpr bool straddles = s + Bits > 32;
    vu v = w[m];
    if constexpr (s != 0 && !straddles && Bits <= 5 && T % 3 != 0) {
        const __m512i ctrl =
            _mm512_set1_epi64(static_cast<long long>((std::uint64_t{32} + s) << 32 | std::uint64_t{s}));
        v = _mm512_mask_multishift_epi64_epi8(v, ~__mmask64{0}, ctrl, v);
    } else if constexpr (s != 0) {
        v = wshr<s>(v);
    }
    if constexpr (straddles) v = wor(v, wshl<32 - s>(w[m + 1]));
    return v;
}

// ---- table lookup -------------------------------------------------------------------
/// base[idx[j]] per lane.
SQLLM_FORCE_INLINE vf gather(const float* base, vu idx) noexcept {
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), all16, idx, base, 4);
}

/// Entries [0, 32·N) of the table held in registers t[0..2N): vpermi2ps looks
/// up index bits 0-4 in each pair of registers, then a blend per higher bit,
/// from bit Bit down to bit 5, picks between the halves.
template <int N, int Bit>
SQLLM_FORCE_INLINE vf permute_tree(const vf* t, vu idx) noexcept {
    if constexpr (N == 1) {
        return _mm512_mask_permutex2var_ps(t[0], all16, idx, t[1]);
    } else {
        const __mmask16 hi = _mm512_mask_test_epi32_mask(all16, idx, wset1(1u << Bit));
        return _mm512_mask_blend_ps(hi, permute_tree<N / 2, Bit - 1>(t, idx), permute_tree<N / 2, Bit - 1>(t + N, idx));
    }
}

/// As impl_avx2::table: the fp32 entries repeated to at least 16. Every Bits
/// is a register permute, never a gather: a gather's cost varies widely across
/// CPUs (Intel's Downfall/GDS microcode made it several times slower), the
/// permute tree's does not.
template <int Bits, class = void>
struct table {  // Bits 5-8: 2^(Bits-5) vpermi2ps, blended on bits 5..Bits-1
    static constexpr int regs = 1 << (Bits - 4);
    vf t[regs];
    explicit table(const float* lut) noexcept {
        for (int i = 0; i < regs; ++i)
            t[i] = vload(lut + 16 * i);
    }
    SQLLM_FORCE_INLINE vf operator()(vu idx) const noexcept { return permute_tree<regs / 2, Bits - 1>(t, idx); }
};
template <int Bits>
struct table<Bits, typename std::enable_if<(Bits <= 4)>::type> {  // vpermps reads index bits 0-3
    vf t;
    explicit table(const float* lut) noexcept : t(vload(lut)) {}
    SQLLM_FORCE_INLINE vf operator()(vu idx) const noexcept { return _mm512_mask_permutexvar_ps(t, all16, idx, t); }
};

/// out[i] = in[i] for n binary16 values (exact). Stores are whole (never
/// masked): the caller reads the values straight back, and a masked store
/// cannot forward to those loads.
SQLLM_FORCE_INLINE void widen_half(const half* in, float* out, std::size_t n) noexcept {
    const std::size_t full = n / 16 * 16;
    for (std::size_t i = 0; i < full; i += 16)
        _mm512_storeu_ps(out + i,
                         _mm512_maskz_cvtph_ps(all16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i))));
    impl_avx2::widen_half(in + full, out + full, n - full);  // the last 8 and fewer
}

// ---- double (the quantizer's argmin scan) ----------------------------------------------
SQLLM_FORCE_INLINE vd dload(const double* p) noexcept { return _mm512_loadu_pd(p); }
SQLLM_FORCE_INLINE vd dset1(double v) noexcept { return _mm512_set1_pd(v); }
SQLLM_FORCE_INLINE vd dsub(vd a, vd b) noexcept { return _mm512_sub_pd(a, b); }
SQLLM_FORCE_INLINE vd dmul(vd a, vd b) noexcept { return _mm512_mul_pd(a, b); }
SQLLM_FORCE_INLINE vd dmax(vd a, vd b) noexcept { return _mm512_mask_max_pd(a, 0xFF, a, b); }
SQLLM_FORCE_INLINE vd dmin(vd a, vd b) noexcept { return _mm512_mask_min_pd(a, 0xFF, a, b); }
SQLLM_FORCE_INLINE double dhmin(vd v) noexcept {
    alignas(64) double l[8];
    _mm512_store_pd(l, v);
    const __m128d h =
        _mm_min_pd(_mm_min_pd(_mm_load_pd(l), _mm_load_pd(l + 2)), _mm_min_pd(_mm_load_pd(l + 4), _mm_load_pd(l + 6)));
    return _mm_cvtsd_f64(_mm_min_sd(h, _mm_unpackhi_pd(h, h)));
}
/// v, opaque to the optimiser (see impl_avx2::dopaque).
SQLLM_FORCE_INLINE vd dopaque(vd v) noexcept {
    __asm__("" : "+v"(v));
    return v;
}

// ---- int8 dot products (the approximate path: kernels/gemm_int8.hpp, driver/int8.inl) --
using vi = __m512i;  ///< 16 int32 sums of int8 products
/// Bytes one i8_dot consumes (divides 256, the activation block).
constexpr std::size_t i8_step = 64;
/// Added to each int8 weight of a decoded tile: vpdpbusd multiplies unsigned
/// by signed bytes, so weights are stored as w + 128 (1..255) and the driver
/// subtracts 128·Σx, per activation vector, once (driver/int8.inl).
constexpr int i8_weight_bias = 128;
/// Batch vectors in the int8 register tile.
constexpr int i8_batch_tile = 4;
using i8w = __m512i;  ///< 64 weights + 128, as u8
using i8x = __m512i;  ///< 64 int8 activations
SQLLM_FORCE_INLINE vi izero() noexcept { return _mm512_setzero_si512(); }
SQLLM_FORCE_INLINE i8w i8_load_w(const std::uint8_t* p) noexcept { return _mm512_loadu_si512(p); }
SQLLM_FORCE_INLINE i8x i8_load_x(const std::int8_t* p) noexcept { return _mm512_loadu_si512(p); }
/// acc + the products w·x, 4 to a lane, exact (vpdpbusd, AVX512-VNNI: no saturation).
SQLLM_FORCE_INLINE vi i8_dot(vi acc, i8w w, i8x x) noexcept { return _mm512_dpbusd_epi32(acc, w, x); }
SQLLM_FORCE_INLINE vf i8_to_float(vi v) noexcept { return _mm512_mask_cvtepi32_ps(_mm512_setzero_ps(), all16, v); }
/// v's bits as words.
SQLLM_FORCE_INLINE vu vbits(vf v) noexcept { return _mm512_castps_si512(v); }
/// vpermb indices that put byte i of lane j (j < L) at byte L·i + j.
struct slot_bytes {
    alignas(64) unsigned char at[64];
};
constexpr slot_bytes slot_bytes_for(int L) {
    slot_bytes s{};
    for (int k = 0; k < 4 * L; ++k) s.at[k] = static_cast<unsigned char>(4 * (k % L) + k / L);
    return s;
}
/// Four slots' bytes of the first n lanes (byte i of lane j: slot i), stored
/// at p[L·i + j]: the decoded tile in column order (driver/int8.inl). Here
/// n = L always (16, or 8 for an 8-lane block): one vpermb, one store.
SQLLM_FORCE_INLINE void store_slots4(std::uint8_t* p, std::size_t L, vu v, std::size_t n) noexcept {
    static constexpr slot_bytes by16 = slot_bytes_for(16), by8 = slot_bytes_for(8);
    if (n == 16 && L == 16) {
        _mm512_storeu_si512(p, _mm512_mask_permutexvar_epi8(v, ~__mmask64{0}, _mm512_load_si512(by16.at), v));
    } else if (n == 8 && L == 8) {
        _mm512_mask_storeu_epi8(p, 0xFFFFFFFFu,
                                _mm512_mask_permutexvar_epi8(v, ~__mmask64{0}, _mm512_load_si512(by8.at), v));
    } else {  // not reached by the striped geometry; kept general
        alignas(64) std::uint32_t t[16];
        _mm512_store_si512(t, v);
        for (std::size_t i = 0; i < 4; ++i)
            for (std::size_t j = 0; j < n; ++j) p[L * i + j] = static_cast<std::uint8_t>(t[j] >> (8 * i));
    }
}

}  // namespace impl_avx512
SQLLM_NAMESPACE_END
SQLLM_REGION_END

#endif  // SQLLM_HAVE_X86_TARGETS
