// sqllm/kernels/x86/lut_gemv.hpp — AVX2 and AVX-512 row kernels for
// row_stream_layout: dot(LUT[codes of row r], x) straight from the packed bits.
//
// In row_stream_layout a row is one little-endian LSB-first bit stream (each
// 32-code group is Bits words, groups back to back), so 8 consecutive codes
// starting at a multiple of 8 are exactly Bits bytes at byte offset
// (c / 8) · Bits. Decoding them: one 32-bit load broadcast to 8 lanes, a
// per-lane variable shift by 0, Bits, ..., 7·Bits, a mask: 8 code indices.
// The LUT row (2^Bits <= 16 fp32 entries) lives in registers and the lookup is
// a permute: vpermps over 8 entries (AVX2; a second permute and a blend on
// bit 3 for 16), vpermps over 16 entries (AVX-512). Then an FMA with x.
//
// Loads never leave the row's words: a 32-bit load at byte offset o is only
// issued when o + 4 <= the row's byte length; the few codes past the last
// such load (at most one chunk of 8, plus cols % 8) are decoded one by one.
// Summation order differs from reference::gemv (lanes, then a tree), so
// results agree within float32 rounding of the same terms (tests: bound
// γ_n · Σ|terms|).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../arch/cpu.hpp"
#include "../../core/bits.hpp"
#include "../../types/bfloat16.hpp"
#include "../../types/half.hpp"

#if SQLLM_X86_DISPATCH
#include <immintrin.h>
#endif

namespace sqllm {
namespace x86 {

/// Bit widths with SIMD row kernels (2^Bits entries fit one 16-lane permute).
template <int Bits>
struct has_simd_rows : std::integral_constant<bool, Bits == 2 || Bits == 3 || Bits == 4> {};

/// Code c of a row stream, read byte-wise (for tails; never reads past the
/// bytes holding code c).
template <int Bits>
SQLLM_FORCE_INLINE unsigned code_at(const unsigned char* row, std::size_t c) noexcept {
    const std::size_t bit = c * Bits;
    unsigned v = row[bit / 8] >> (bit % 8);
    if (bit % 8 + Bits > 8) v |= static_cast<unsigned>(row[bit / 8 + 1]) << (8 - bit % 8);
    return v & bit_width<Bits>::mask;
}

/// Number of leading 8-code chunks whose 32-bit load stays inside the row's
/// `row_bytes` and whose 8 codes are all < cols.
template <int Bits>
constexpr std::size_t safe_chunks(std::size_t cols, std::size_t row_bytes) noexcept {
    const std::size_t full = cols / 8;
    const std::size_t fit = row_bytes >= 4 ? (row_bytes - 4) / Bits + 1 : 0;
    return full < fit ? full : fit;
}

#if SQLLM_X86_DISPATCH

/// A LUT row's K entries to fp32.
template <class Lut>
struct lut_loader;
template <>
struct lut_loader<float> {
    template <int K>
    SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE static void load(const float* in, float* out) noexcept {
        std::memcpy(out, in, K * sizeof(float));
    }
};
template <>
struct lut_loader<half> {
    template <int K>
    SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE static void load(const half* in, float* out) noexcept {
        std::uint16_t bits[16] = {};
        std::memcpy(bits, in, K * sizeof(half));
        __m128i lo, hi;
        std::memcpy(&lo, bits, 16);
        std::memcpy(&hi, bits + 8, 16);
        _mm256_storeu_ps(out, _mm256_cvtph_ps(lo));  // F16C: exact widening
        _mm256_storeu_ps(out + 8, _mm256_cvtph_ps(hi));
    }
};
template <>
struct lut_loader<bfloat16> {
    template <int K>
    SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE static void load(const bfloat16* in, float* out) noexcept {
        for (int k = 0; k < K; ++k) {
            std::uint16_t b;
            std::memcpy(&b, in + k, sizeof b);
            const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;  // bf16 is fp32's top half
            std::memcpy(out + k, &u, sizeof u);
        }
    }
};

SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE float hsum(__m256 s) noexcept {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

// 8 LUT values for the 8 codes of chunk `chunk` (AVX2).
template <int Bits>
SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE __m256 lookup8_avx2(const unsigned char* row, std::size_t chunk, __m256 t0,
                                                          __m256 t1) noexcept {
    const __m256i shifts = _mm256_setr_epi32(0, Bits, 2 * Bits, 3 * Bits, 4 * Bits, 5 * Bits, 6 * Bits, 7 * Bits);
    std::uint32_t v;
    std::memcpy(&v, row + chunk * Bits, sizeof v);
    const __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(v)), shifts),
                                         _mm256_set1_epi32(bit_width<Bits>::mask));
    const __m256 lo = _mm256_permutevar8x32_ps(t0, idx);
    if (Bits < 4) return lo;
    // 16 entries: bit 3 of the index picks the upper table (blendv reads the sign bit).
    const __m256 hi = _mm256_permutevar8x32_ps(t1, idx);
    return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

/// Σ_c lut[code(c)] · x[c] over one row of `row_bytes` bytes, AVX2 + FMA;
/// `lut` is the row's 2^Bits entries.
template <int Bits, class Lut>
SQLLM_TARGET_AVX2 float row_dot_avx2(const unsigned char* row, std::size_t row_bytes, std::size_t cols,
                                     const Lut* lut, const float* x) noexcept {
    static_assert(has_simd_rows<Bits>::value, "AVX2 row kernel: Bits 2, 3 or 4");
    float lut16[16] = {};  // entries past 2^Bits are never indexed
    lut_loader<Lut>::template load<bit_width<Bits>::levels>(lut, lut16);
    const __m256 t0 = _mm256_loadu_ps(lut16), t1 = _mm256_loadu_ps(lut16 + 8);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    const std::size_t chunks = safe_chunks<Bits>(cols, row_bytes);
    std::size_t i = 0;
    for (; i + 4 <= chunks; i += 4) {
        a0 = _mm256_fmadd_ps(lookup8_avx2<Bits>(row, i, t0, t1), _mm256_loadu_ps(x + 8 * i), a0);
        a1 = _mm256_fmadd_ps(lookup8_avx2<Bits>(row, i + 1, t0, t1), _mm256_loadu_ps(x + 8 * i + 8), a1);
        a2 = _mm256_fmadd_ps(lookup8_avx2<Bits>(row, i + 2, t0, t1), _mm256_loadu_ps(x + 8 * i + 16), a2);
        a3 = _mm256_fmadd_ps(lookup8_avx2<Bits>(row, i + 3, t0, t1), _mm256_loadu_ps(x + 8 * i + 24), a3);
    }
    for (; i < chunks; ++i) a0 = _mm256_fmadd_ps(lookup8_avx2<Bits>(row, i, t0, t1), _mm256_loadu_ps(x + 8 * i), a0);
    float acc = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (std::size_t c = 8 * chunks; c < cols; ++c) acc += lut16[code_at<Bits>(row, c)] * x[c];
    return acc;
}

// 16 LUT values for chunks `chunk` and `chunk + 1` (AVX-512). Masked forms
// with explicit sources: GCC 12's unmasked srlv/permutexvar trip
// -Wuninitialized through _mm512_undefined_* (GCC PR 105593).
template <int Bits>
SQLLM_TARGET_AVX512 SQLLM_FORCE_INLINE __m512 lookup16_avx512(const unsigned char* row, std::size_t chunk,
                                                               __m512 table) noexcept {
    const __m512i shifts = _mm512_setr_epi32(0, Bits, 2 * Bits, 3 * Bits, 4 * Bits, 5 * Bits, 6 * Bits, 7 * Bits, 0,
                                             Bits, 2 * Bits, 3 * Bits, 4 * Bits, 5 * Bits, 6 * Bits, 7 * Bits);
    std::uint32_t v0, v1;
    std::memcpy(&v0, row + chunk * Bits, sizeof v0);
    std::memcpy(&v1, row + (chunk + 1) * Bits, sizeof v1);
    // Lanes 0-7 hold v0, lanes 8-15 v1.
    const __m512i lo = _mm512_set1_epi32(static_cast<int>(v0));
    const __m512i both =
        _mm512_mask_broadcastd_epi32(lo, static_cast<__mmask16>(0xFF00), _mm_cvtsi32_si128(static_cast<int>(v1)));
    const __m512i idx = _mm512_and_si512(_mm512_mask_srlv_epi32(both, static_cast<__mmask16>(0xFFFF), both, shifts),
                                         _mm512_set1_epi32(bit_width<Bits>::mask));
    return _mm512_mask_permutexvar_ps(table, static_cast<__mmask16>(0xFFFF), idx, table);
}

/// As row_dot_avx2, AVX-512 (16 codes per step).
template <int Bits, class Lut>
SQLLM_TARGET_AVX512 float row_dot_avx512(const unsigned char* row, std::size_t row_bytes, std::size_t cols,
                                         const Lut* lut, const float* x) noexcept {
    static_assert(has_simd_rows<Bits>::value, "AVX-512 row kernel: Bits 2, 3 or 4");
    float lut16[16] = {};
    lut_loader<Lut>::template load<bit_width<Bits>::levels>(lut, lut16);
    const __m512 table = _mm512_loadu_ps(lut16);
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    const std::size_t chunks = safe_chunks<Bits>(cols, row_bytes);
    std::size_t i = 0;
    for (; i + 4 <= chunks; i += 4) {
        a0 = _mm512_fmadd_ps(lookup16_avx512<Bits>(row, i, table), _mm512_loadu_ps(x + 8 * i), a0);
        a1 = _mm512_fmadd_ps(lookup16_avx512<Bits>(row, i + 2, table), _mm512_loadu_ps(x + 8 * i + 16), a1);
    }
    if (i + 2 <= chunks) {
        a0 = _mm512_fmadd_ps(lookup16_avx512<Bits>(row, i, table), _mm512_loadu_ps(x + 8 * i), a0);
        i += 2;
    }
    // Horizontal sum through memory: no unmasked extract (see above).
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, _mm512_add_ps(a0, a1));
    float acc = hsum(_mm256_add_ps(_mm256_load_ps(lanes), _mm256_load_ps(lanes + 8)));
    for (std::size_t c = 8 * i; c < cols; ++c) acc += lut16[code_at<Bits>(row, c)] * x[c];
    return acc;
}

#endif  // SQLLM_X86_DISPATCH

}  // namespace x86
}  // namespace sqllm
