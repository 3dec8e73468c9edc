// sqllm/kernels/x86/striped_lut.hpp — AVX2 and AVX-512 decoding of
// striped_layout rows: LUT values of 16 (or 8) consecutive columns per step,
// straight from the packed words, fed either to an FMA with x (gemv) or to a
// buffer (gemm decodes a tile once and reuses it for every batch column).
//
// Slot t of a block is one shift of one word vector (layout/striped.hpp), and
// the permute reads only the low index bits: vpermps (AVX-512, 16 entries)
// uses bits 0-3, the AVX2 one bits 0-2. So for Bits < 4 the LUT is repeated
// to fill the table and the bits above the code need no mask: a shift and a
// permute per 16 weights. 4-bit codes on AVX2 permute both halves of the
// table and blend on bit 3; 8-bit codes gather from the 256-entry table.
// Every shift count is a compile-time constant (the slots are unrolled).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "../../arch/cpu.hpp"
#include "../../core/bits.hpp"
#include "../../layout/striped.hpp"
#include "lut_gemv.hpp"

namespace sqllm {
namespace x86 {

/// Bit widths with striped SIMD kernels.
template <int Bits>
struct has_striped_kernels : std::integral_constant<bool, Bits == 2 || Bits == 3 || Bits == 4 || Bits == 8> {};

/// Bytes ahead of the current read to prefetch: DRAM latency (~250 ns here)
/// times the bytes a core consumes per ns, with margin (tuned by measurement).
constexpr std::size_t prefetch_distance = 8192;

/// Entries of the fp32 table a kernel keeps per row: 16 (in registers) or 256 (8-bit, gathered).
template <int Bits>
struct table_size : std::integral_constant<int, (Bits <= 4 ? 16 : 256)> {};

#if SQLLM_X86_DISPATCH

/// The row's 2^Bits LUT entries as fp32, repeated to fill table_size<Bits>
/// entries (so a permute may read index bits above the code).
template <int Bits, class Lut>
SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE void load_table(const Lut* lut, float* table) noexcept {
    constexpr int K = bit_width<Bits>::levels;
    if constexpr (K >= 16) {
        for (int k = 0; k < K; k += 16) lut_loader<Lut>::template load<16>(lut + k, table + k);
    } else {
        lut_loader<Lut>::template load<K>(lut, table);
        for (int k = K; k < 16; ++k) table[k] = table[k - K];
    }
}

/// Compile-time position of slot T's code: word vector m, shift s, and
/// whether its high bits are in vector m + 1.
template <int Bits, int T>
struct slot_pos {
    static constexpr int bit = Bits * T, m = bit / 32, s = bit % 32;
    static constexpr bool straddles = s + Bits > 32;
};

// ---- AVX2: 8 lanes ---------------------------------------------------------

/// Tables for the 8-lane lookup: t0 = entries 0-7, t1 = 8-15 (4-bit only),
/// wide = the 256-entry table (8-bit only).
struct tables8 {
    __m256 t0, t1;
    const float* wide;
};

template <int Bits, int T>
SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE __m256 lookup8(const __m256i* v, const tables8& tb) noexcept {
    using p = slot_pos<Bits, T>;
    __m256i idx = v[p::m];
    if constexpr (p::s != 0) idx = _mm256_srli_epi32(idx, p::s);
    if constexpr (p::straddles) idx = _mm256_or_si256(idx, _mm256_slli_epi32(v[p::m + 1], 32 - p::s));
    if constexpr (Bits == 8) {
        if constexpr (p::s != 24) idx = _mm256_and_si256(idx, _mm256_set1_epi32(0xFF));
        return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), tb.wide, idx, _mm256_castsi256_ps(_mm256_set1_epi32(-1)),
                                        4);
    }
    const __m256 lo = _mm256_permutevar8x32_ps(tb.t0, idx);
    if constexpr (Bits < 4) {
        return lo;
    } else {
        // Bit 3 of the code to the sign bit, which blendv reads.
        const __m256 hi = _mm256_permutevar8x32_ps(tb.t1, idx);
        return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(v[p::m], 28 - p::s)));
    }
}

/// Sink of an 8-lane row walk: acc[T % 4] += value · x[T·stride ..].
struct dot8 {
    const float* x;
    std::size_t stride;
    __m256 acc[4];
    template <int T>
    SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE void put(__m256 value) noexcept {
        acc[T % 4] = _mm256_fmadd_ps(value, _mm256_loadu_ps(x + T * stride), acc[T % 4]);
    }
};
/// Sink that stores the values: out[T·stride ..] = value.
struct store8 {
    float* out;
    std::size_t stride;
    template <int T>
    SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE void put(__m256 value) noexcept {
        _mm256_storeu_ps(out + T * stride, value);
    }
};

template <int Bits, class Sink, int... T>
SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE void walk8(const __m256i* v, const tables8& tb, Sink& sink,
                                                std::integer_sequence<int, T...>) noexcept {
    (sink.template put<T>(lookup8<Bits, T>(v, tb)), ...);
}

/// The 32 slots of 8 lanes whose word vector m is at words + m·lanes.
template <int Bits, class Sink>
SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE void lanes8(const std::uint32_t* words, std::size_t lanes, const tables8& tb,
                                                 Sink& sink) noexcept {
    __m256i v[Bits];
    for (int m = 0; m < Bits; ++m) v[m] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + m * lanes));
    walk8<Bits>(v, tb, sink, std::make_integer_sequence<int, 32>{});
}

SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE tables8 make_tables8(const float* table) noexcept {
    return {_mm256_loadu_ps(table), _mm256_loadu_ps(table + 8), table};
}

SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE void prefetch_block(const std::uint32_t* words, int lines) noexcept {
    // Integer arithmetic: the address may lie past the array (prefetches never fault).
    const std::uintptr_t p = reinterpret_cast<std::uintptr_t>(words) + prefetch_distance;
    for (int i = 0; i < lines; ++i) _mm_prefetch(reinterpret_cast<const char*>(p + 64u * static_cast<unsigned>(i)), _MM_HINT_T0);
}

SQLLM_TARGET_AVX2 SQLLM_FORCE_INLINE void prefetch_at(std::uintptr_t p, int lines) noexcept {
    for (int i = 0; i < lines; ++i) _mm_prefetch(reinterpret_cast<const char*>(p + 64u * static_cast<unsigned>(i)), _MM_HINT_T0);
}

// ---- AVX-512: 16 lanes ------------------------------------------------------

// Masked forms with explicit sources throughout: GCC 12's unmasked
// permutexvar/gather trip -Wuninitialized via _mm512_undefined_* (PR 105593).
template <int Bits, int T>
SQLLM_TARGET_AVX512 SQLLM_FORCE_INLINE __m512 lookup16(const __m512i* v, __m512 table, const float* wide) noexcept {
    using p = slot_pos<Bits, T>;
    constexpr __mmask16 all = 0xFFFF;
    __m512i idx = v[p::m];
    if constexpr (p::s != 0 && !p::straddles && Bits != 8 && T % 3 != 0) {
        // Byte 0 of each lane = bits [s, s + 8) of that lane. vpmultishiftqb
        // runs on port 5, the shift on port 0 with the FMAs: two slots in
        // three take the former, which balances the ports (measured: -25%).
        const __m512i ctrl = _mm512_set1_epi64(static_cast<long long>(((32ull + p::s) << 32) | p::s));
        idx = _mm512_mask_multishift_epi64_epi8(idx, ~__mmask64{0}, ctrl, idx);
    } else if constexpr (p::s != 0) {
        idx = _mm512_mask_srli_epi32(idx, all, idx, p::s);
    }
    if constexpr (p::straddles) idx = _mm512_or_si512(idx, _mm512_mask_slli_epi32(v[p::m + 1], all, v[p::m + 1], 32 - p::s));
    if constexpr (Bits == 8) {
        if constexpr (p::s != 24) idx = _mm512_and_si512(idx, _mm512_set1_epi32(0xFF));
        return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), all, idx, wide, 4);
    } else {
        (void)wide;
        return _mm512_mask_permutexvar_ps(table, all, idx, table);
    }
}

struct dot16 {
    const float* x;
    __m512 acc[8];
    template <int T>
    SQLLM_TARGET_AVX512 SQLLM_FORCE_INLINE void put(__m512 value) noexcept {
        acc[T % 8] = _mm512_fmadd_ps(value, _mm512_loadu_ps(x + 16 * T), acc[T % 8]);
    }
};
/// Two rows against the same x: one x load feeds both rows' FMAs.
struct dot16x2 {
    const float* x;
    __m512 acc0[4], acc1[4];
};
template <int Bits, int... T>
SQLLM_TARGET_AVX512 SQLLM_FORCE_INLINE void walk16x2(const __m512i* v0, const __m512i* v1, __m512 table0,
                                                     __m512 table1, const float* wide0, const float* wide1,
                                                     dot16x2& d, std::integer_sequence<int, T...>) noexcept {
    ((d.acc0[T % 4] = _mm512_fmadd_ps(lookup16<Bits, T>(v0, table0, wide0), _mm512_loadu_ps(d.x + 16 * T),
                                      d.acc0[T % 4]),
      d.acc1[T % 4] = _mm512_fmadd_ps(lookup16<Bits, T>(v1, table1, wide1), _mm512_loadu_ps(d.x + 16 * T),
                                      d.acc1[T % 4])),
     ...);
}
struct store16 {
    float* out;
    template <int T>
    SQLLM_TARGET_AVX512 SQLLM_FORCE_INLINE void put(__m512 value) noexcept {
        _mm512_storeu_ps(out + 16 * T, value);
    }
};

template <int Bits, class Sink, int... T>
SQLLM_TARGET_AVX512 SQLLM_FORCE_INLINE void walk16(const __m512i* v, __m512 table, const float* wide, Sink& sink,
                                                   std::integer_sequence<int, T...>) noexcept {
    (sink.template put<T>(lookup16<Bits, T>(v, table, wide)), ...);
}

/// The 32 slots of a 16-lane block at `words`.
template <int Bits, class Sink>
SQLLM_TARGET_AVX512 SQLLM_FORCE_INLINE void lanes16(const std::uint32_t* words, __m512 table, const float* wide,
                                                    Sink& sink) noexcept {
    __m512i v[Bits];
    for (int m = 0; m < Bits; ++m) v[m] = _mm512_loadu_si512(words + 16 * m);
    walk16<Bits>(v, table, wide, sink, std::make_integer_sequence<int, 32>{});
}

// ---- rows -------------------------------------------------------------------

/// The x a row walk reads for columns [c0, c0 + n): x itself where the whole
/// block is inside the row, else `tail`, a zero-padded copy of the last
/// block's x (padding codes then add LUT · 0 = 0, and x is never overread).
struct x_source {
    const float* x;
    const float* tail;     ///< x[tail_begin ..] then zeros, one block long
    std::size_t tail_begin;  ///< first column of the last block if partial, else past the row
    const float* at(std::size_t c0) const noexcept { return c0 >= tail_begin ? tail + (c0 - tail_begin) : x + c0; }
};

/// Fills `tail` (512 floats) for a row of `cols` and returns the x_source.
inline x_source make_x_source(const float* x, std::size_t cols, float* tail) noexcept {
    using L = striped_layout<2>;  // the block geometry does not depend on Bits
    const std::size_t padded = L::padded_cols(cols);
    const std::size_t last = L::has_narrow_block(cols) ? padded - L::narrow_cols : padded - L::wide_cols;
    if (padded == cols) return {x, tail, padded};
    for (std::size_t i = 0; i < L::wide_cols; ++i) tail[i] = last + i < cols ? x[last + i] : 0.0f;
    return {x, tail, last};
}

/// Σ_c LUT[code(c)]·x[c] over one striped row, AVX2 + FMA; `lut` is the
/// row's 2^Bits entries.
template <int Bits, class Lut>
SQLLM_TARGET_AVX2 float striped_dot_avx2(const std::uint32_t* row, std::size_t cols, const Lut* lut,
                                         const x_source& xs) noexcept {
    using L = striped_layout<Bits>;
    alignas(64) float table[table_size<Bits>::value];
    load_table<Bits>(lut, table);
    const tables8 tb = make_tables8(table);
    dot8 sink{nullptr, 16, {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}};
    const std::size_t wide = L::wide_blocks(cols);
    for (std::size_t k = 0; k < wide; ++k) {
        const std::uint32_t* w = row + k * 16 * Bits;
        prefetch_block(w, Bits);
        const float* x = xs.at(k * L::wide_cols);
        sink.x = x;
        lanes8<Bits>(w, 16, tb, sink);  // lanes 0-7: columns 16t + j
        sink.x = x + 8;
        lanes8<Bits>(w + 8, 16, tb, sink);  // lanes 8-15
    }
    if (L::has_narrow_block(cols)) {
        sink.x = xs.at(wide * L::wide_cols);
        sink.stride = 8;
        lanes8<Bits>(row + wide * 16 * Bits, 8, tb, sink);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(sink.acc[0], sink.acc[1]), _mm256_add_ps(sink.acc[2], sink.acc[3])));
}

/// As striped_dot_avx2 with 16-lane steps (the 8-lane last block, if any, in AVX2).
template <int Bits, class Lut>
SQLLM_TARGET_AVX512 float striped_dot_avx512(const std::uint32_t* row, std::size_t cols, const Lut* lut,
                                             const x_source& xs) noexcept {
    using L = striped_layout<Bits>;
    alignas(64) float table[table_size<Bits>::value];
    load_table<Bits>(lut, table);
    const __m512 t16 = _mm512_loadu_ps(table);
    dot16 sink;
    for (auto& a : sink.acc) a = _mm512_setzero_ps();
    const std::size_t wide = L::wide_blocks(cols);
    for (std::size_t k = 0; k < wide; ++k) {
        const std::uint32_t* w = row + k * 16 * Bits;
        prefetch_block(w, Bits);
        sink.x = xs.at(k * L::wide_cols);
        lanes16<Bits>(w, t16, table, sink);
    }
    // Horizontal sum through memory: no unmasked extract (PR 105593).
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(sink.acc[0], sink.acc[1]), _mm512_add_ps(sink.acc[2], sink.acc[3])), _mm512_add_ps(_mm512_add_ps(sink.acc[4], sink.acc[5]), _mm512_add_ps(sink.acc[6], sink.acc[7]))));
    __m256 acc = _mm256_add_ps(_mm256_load_ps(lanes), _mm256_load_ps(lanes + 8));
    if (L::has_narrow_block(cols)) {
        dot8 tail{xs.at(wide * L::wide_cols), 8, {acc, _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}};
        lanes8<Bits>(row + wide * 16 * Bits, 8, make_tables8(table), tail);
        acc = _mm256_add_ps(_mm256_add_ps(tail.acc[0], tail.acc[1]), _mm256_add_ps(tail.acc[2], tail.acc[3]));
    }
    return hsum(acc);
}

/// striped_dot_avx512 of two rows (`row1` = `row0` + `row_words`) at once:
/// each x vector is loaded once for both, which matters when x outgrows L1.
template <int Bits, class Lut>
SQLLM_TARGET_AVX512 void striped_dot2_avx512(const std::uint32_t* row0, std::size_t row_words, std::size_t cols,
                                             const Lut* lut0, const x_source& xs, float* out) noexcept {
    using L = striped_layout<Bits>;
    constexpr int K = bit_width<Bits>::levels;
    const std::uint32_t* row1 = row0 + row_words;
    alignas(64) float table0[table_size<Bits>::value], table1[table_size<Bits>::value];
    load_table<Bits>(lut0, table0);
    load_table<Bits>(lut0 + K, table1);
    const __m512 t0 = _mm512_loadu_ps(table0), t1 = _mm512_loadu_ps(table1);
    dot16x2 d;
    for (int i = 0; i < 4; ++i) d.acc0[i] = d.acc1[i] = _mm512_setzero_ps();
    const std::size_t wide = L::wide_blocks(cols);
    for (std::size_t k = 0; k < wide; ++k) {
        const std::uint32_t* w0 = row0 + k * 16 * Bits;
        const std::uint32_t* w1 = row1 + k * 16 * Bits;
        // The same block of the rows PAIRS_AHEAD pairs ahead (rows are contiguous).
        // Rows are contiguous. Measured on a Sapphire Rapids VM (2 threads,
        // DRAM): 3-bit rows run best prefetching both rows 8 KiB ahead,
        // 4-bit rows prefetching one row of the pair after next (the
        // hardware streamer fetches its neighbour): 10-30% over the other.
        if constexpr (Bits == 3) {
            prefetch_block(w0, Bits);
            prefetch_block(w1, Bits);
        } else {
            prefetch_at(reinterpret_cast<std::uintptr_t>(w0) + 4 * row_words * sizeof(std::uint32_t), Bits);
        }
        d.x = xs.at(k * L::wide_cols);
        __m512i v0[Bits], v1[Bits];
        for (int m = 0; m < Bits; ++m) {
            v0[m] = _mm512_loadu_si512(w0 + 16 * m);
            v1[m] = _mm512_loadu_si512(w1 + 16 * m);
        }
        walk16x2<Bits>(v0, v1, t0, t1, table0, table1, d, std::make_integer_sequence<int, 32>{});
    }
    alignas(64) float lanes[16];
    const __m512* accs[2] = {d.acc0, d.acc1};
    const float* tables[2] = {table0, table1};
    const std::uint32_t* rows[2] = {row0, row1};
    for (int r = 0; r < 2; ++r) {
        const __m512* a = accs[r];
        _mm512_store_ps(lanes, _mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3])));
        __m256 acc = _mm256_add_ps(_mm256_load_ps(lanes), _mm256_load_ps(lanes + 8));
        if (L::has_narrow_block(cols)) {
            dot8 tail{xs.at(wide * L::wide_cols), 8, {acc, _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}};
            lanes8<Bits>(rows[r] + wide * 16 * Bits, 8, make_tables8(tables[r]), tail);
            acc = _mm256_add_ps(_mm256_add_ps(tail.acc[0], tail.acc[1]), _mm256_add_ps(tail.acc[2], tail.acc[3]));
        }
        out[r] = hsum(acc);
    }
}

/// Decodes blocks [block_begin, block_end) of a striped row (block index as
/// in striped_layout: wide blocks, then the narrow one) to fp32 at `out`, in
/// column order: out[i] = LUT[code(c0 + i)], padding columns included.
template <int Bits, class Lut>
SQLLM_TARGET_AVX2 void striped_decode_avx2(const std::uint32_t* row, std::size_t cols, const Lut* lut,
                                           std::size_t block_begin, std::size_t block_end, float* out) noexcept {
    using L = striped_layout<Bits>;
    alignas(64) float table[table_size<Bits>::value];
    load_table<Bits>(lut, table);
    const tables8 tb = make_tables8(table);
    const std::size_t wide = L::wide_blocks(cols);
    for (std::size_t k = block_begin; k < block_end; ++k) {
        const std::uint32_t* w = row + k * 16 * Bits;
        if (k < wide) {
            store8 lo{out, 16}, hi{out + 8, 16};
            lanes8<Bits>(w, 16, tb, lo);
            lanes8<Bits>(w + 8, 16, tb, hi);
            out += L::wide_cols;
        } else {
            store8 s{out, 8};
            lanes8<Bits>(w, 8, tb, s);
            out += L::narrow_cols;
        }
    }
}

/// As striped_decode_avx2 with 16-lane steps.
template <int Bits, class Lut>
SQLLM_TARGET_AVX512 void striped_decode_avx512(const std::uint32_t* row, std::size_t cols, const Lut* lut,
                                               std::size_t block_begin, std::size_t block_end, float* out) noexcept {
    using L = striped_layout<Bits>;
    alignas(64) float table[table_size<Bits>::value];
    load_table<Bits>(lut, table);
    const __m512 t16 = _mm512_loadu_ps(table);
    const std::size_t wide = L::wide_blocks(cols);
    for (std::size_t k = block_begin; k < block_end; ++k) {
        const std::uint32_t* w = row + k * 16 * Bits;
        if (k < wide) {
            store16 s{out};
            lanes16<Bits>(w, t16, table, s);
            out += L::wide_cols;
        } else {
            store8 s{out, 8};
            lanes8<Bits>(w, 8, make_tables8(table), s);
            out += L::narrow_cols;
        }
    }
}

#endif  // SQLLM_X86_DISPATCH

}  // namespace x86
}  // namespace sqllm
