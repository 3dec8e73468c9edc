// sqllm/kernels/x86/row_blocks.hpp — the dense part of gemv and gemm for a
// block of rows, at a chosen isa: which layouts and types have SIMD kernels,
// and the loops that call them (tiling, tails, prefetch).
//
// The loops are plain C++; the per-row and per-tile functions they call carry
// the target attributes (a call, not an inline, crosses the isa boundary), so
// one loop serves both isas through a small policy struct.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../../arch/cpu.hpp"
#include "../../core/span.hpp"
#include "../../layout/row_stream.hpp"
#include "../../layout/striped.hpp"
#include "../../types/lut_value.hpp"
#include "dot_tile.hpp"
#include "lut_gemv.hpp"
#include "striped_lut.hpp"

namespace sqllm {
namespace x86 {

template <class Lut>
struct is_kernel_lut : std::integral_constant<bool, std::is_same<Lut, float>::value || std::is_same<Lut, half>::value ||
                                                        std::is_same<Lut, bfloat16>::value> {};

/// True if gemv has AVX2 / AVX-512 kernels for these types (else it runs the reference).
template <int Bits, class Lut, class Layout>
struct has_gemv : std::false_type {};
template <int Bits, class Lut>
struct has_gemv<Bits, Lut, row_stream_layout<Bits>>
    : std::integral_constant<bool, SQLLM_X86_DISPATCH && has_simd_rows<Bits>::value && is_kernel_lut<Lut>::value> {};
template <int Bits, class Lut>
struct has_gemv<Bits, Lut, striped_layout<Bits>>
    : std::integral_constant<bool, SQLLM_X86_DISPATCH && has_striped_kernels<Bits>::value && is_kernel_lut<Lut>::value> {
};

/// True if gemm has AVX2 / AVX-512 kernels for these types (striped layout only).
template <int Bits, class Lut, class Layout>
struct has_gemm : std::false_type {};
template <int Bits, class Lut>
struct has_gemm<Bits, Lut, striped_layout<Bits>> : has_gemv<Bits, Lut, striped_layout<Bits>> {};

#if SQLLM_X86_DISPATCH

/// The isa-specific functions the row loops call.
template <int Bits, class Lut, isa Level>
struct striped_ops;
template <int Bits, class Lut>
struct striped_ops<Bits, Lut, isa::avx512> {
    static float dot(const std::uint32_t* row, std::size_t cols, const Lut* lut, const x_source& xs) noexcept {
        return striped_dot_avx512<Bits, Lut>(row, cols, lut, xs);
    }
    static void decode(const std::uint32_t* row, std::size_t cols, const Lut* lut, std::size_t kb, std::size_t ke,
                       float* out) noexcept {
        striped_decode_avx512<Bits, Lut>(row, cols, lut, kb, ke, out);
    }
    template <int R, int NB>
    static void tile(const float* const* w, const float* const* x, std::size_t n, float* out) noexcept {
        dot_tile_avx512<R, NB, false>(w, x, n, out);
    }
};
template <int Bits, class Lut>
struct striped_ops<Bits, Lut, isa::avx2> {
    static float dot(const std::uint32_t* row, std::size_t cols, const Lut* lut, const x_source& xs) noexcept {
        return striped_dot_avx2<Bits, Lut>(row, cols, lut, xs);
    }
    static void decode(const std::uint32_t* row, std::size_t cols, const Lut* lut, std::size_t kb, std::size_t ke,
                       float* out) noexcept {
        striped_decode_avx2<Bits, Lut>(row, cols, lut, kb, ke, out);
    }
    template <int R, int NB>
    static void tile(const float* const* w, const float* const* x, std::size_t n, float* out) noexcept {
        dot_tile_avx2<R, NB, false>(w, x, n, out);
    }
};

/// y[r] = dense row r · x for r in [b, e), striped layout.
template <int Bits, class Lut, isa Level>
void striped_gemv_rows(const std::uint32_t* words, const Lut* lut, std::size_t cols, const float* x, float* y,
                       std::size_t b, std::size_t e) noexcept {
    using ops = striped_ops<Bits, Lut, Level>;
    alignas(64) float tail[striped_layout<Bits>::wide_cols];
    const x_source xs = make_x_source(x, cols, tail);
    const std::size_t wpr = striped_layout<Bits>::words_per_row(cols);
    constexpr int K = bit_width<Bits>::levels;
    std::size_t r = b;
    if constexpr (Level == isa::avx512)
        for (; r + 2 <= e; r += 2) striped_dot2_avx512<Bits, Lut>(words + r * wpr, wpr, cols, lut + r * K, xs, y + r);
    for (; r < e; ++r) y[r] = ops::dot(words + r * wpr, cols, lut + r * K, xs);
}

/// Y(n, r) = dense row r · X(n, :) for r in [b, e) and every batch vector n,
/// striped layout. Loop order: column chunks of 1024 (the chunk of X, at
/// most 64 × 4 KiB, stays in L2 for the whole row block), then tiles of 4
/// rows decoded to fp32 once (16 KiB, L1), then groups of up to 4 batch
/// vectors through the register tile.
template <int Bits, class Lut, isa Level>
void striped_gemm_rows(const std::uint32_t* words, const Lut* lut, std::size_t cols, matrix_view<const float> X,
                       matrix_view<float> Y, std::size_t b, std::size_t e) noexcept {
    using L = striped_layout<Bits>;
    using ops = striped_ops<Bits, Lut, Level>;
    constexpr std::size_t R = 4, NB = 4, chunk_blocks = 2;
    constexpr int K = bit_width<Bits>::levels;
    alignas(64) float buf[R][chunk_blocks * L::wide_cols];
    const std::size_t wpr = L::words_per_row(cols), padded = L::padded_cols(cols);
    const std::size_t blocks = L::wide_blocks(cols) + (L::has_narrow_block(cols) ? 1 : 0);
    const std::size_t batch = X.rows();
    for (std::size_t kb = 0; kb < blocks; kb += chunk_blocks) {
        const std::size_t ke = std::min(blocks, kb + chunk_blocks);
        const std::size_t c0 = kb * L::wide_cols;  // the narrow block, if any, is last: it starts there too
        const std::size_t n = std::min(cols, std::min(padded, ke * L::wide_cols)) - c0;
        for (std::size_t r0 = b; r0 < e; r0 += R) {
            const std::size_t nr = std::min(R, e - r0);
            for (std::size_t i = 0; i < nr; ++i) {
                // The next tile's codes for this chunk: rows are far apart
                // in memory here, so the hardware prefetcher misses them.
                if (r0 + R + i < e) {
                    const char* next = reinterpret_cast<const char*>(words + (r0 + R + i) * wpr + kb * 16 * Bits);
                    for (std::size_t l = 0; l < (ke - kb) * Bits; ++l) _mm_prefetch(next + 64 * l, _MM_HINT_T0);
                }
                ops::decode(words + (r0 + i) * wpr, cols, lut + (r0 + i) * K, kb, ke, buf[i]);
            }
            const float* wp[R];
            for (std::size_t i = 0; i < R; ++i) wp[i] = buf[std::min(i, nr - 1)];  // short tile: repeat a row
            float part[R * NB];
            for (std::size_t b0 = 0; b0 < batch; b0 += NB) {
                const std::size_t nb = std::min(NB, batch - b0);
                const float* xp[NB];
                for (std::size_t j = 0; j < nb; ++j) xp[j] = X.row(b0 + j) + c0;
                switch (nb) {
                    case 1: ops::template tile<R, 1>(wp, xp, n, part); break;
                    case 2: ops::template tile<R, 2>(wp, xp, n, part); break;
                    case 3: ops::template tile<R, 3>(wp, xp, n, part); break;
                    default: ops::template tile<R, 4>(wp, xp, n, part); break;
                }
                for (std::size_t i = 0; i < nr; ++i)
                    for (std::size_t j = 0; j < nb; ++j) {
                        float& out = Y.row(b0 + j)[r0 + i];
                        out = kb == 0 ? part[i * nb + j] : out + part[i * nb + j];
                    }
            }
        }
    }
}

/// y[r] = dense row r · x for r in [b, e), row-stream layout.
template <int Bits, class Lut, isa Level>
void row_stream_gemv_rows(const std::uint32_t* words, const Lut* lut, std::size_t cols, const float* x, float* y,
                          std::size_t b, std::size_t e) noexcept {
    const auto dot = Level == isa::avx512 ? &row_dot_avx512<Bits, Lut> : &row_dot_avx2<Bits, Lut>;
    const std::size_t row_bytes = row_stream_layout<Bits>::words_per_row(cols) * sizeof(std::uint32_t);
    const auto* base = reinterpret_cast<const unsigned char*>(words);
    for (std::size_t r = b; r < e; ++r)
        y[r] = dot(base + r * row_bytes, row_bytes, cols, lut + r * bit_width<Bits>::levels, x);
}

/// Dense gemv rows [b, e) for a layout with has_gemv, at avx2 or avx512.
template <int Bits, class Lut, class Layout>
void gemv_rows(isa level, const std::uint32_t* words, const Lut* lut, std::size_t cols, const float* x, float* y,
               std::size_t b, std::size_t e) noexcept {
    if constexpr (std::is_same<Layout, striped_layout<Bits>>::value) {
        if (level == isa::avx512)
            striped_gemv_rows<Bits, Lut, isa::avx512>(words, lut, cols, x, y, b, e);
        else
            striped_gemv_rows<Bits, Lut, isa::avx2>(words, lut, cols, x, y, b, e);
    } else {
        if (level == isa::avx512)
            row_stream_gemv_rows<Bits, Lut, isa::avx512>(words, lut, cols, x, y, b, e);
        else
            row_stream_gemv_rows<Bits, Lut, isa::avx2>(words, lut, cols, x, y, b, e);
    }
}

/// Dense gemm rows [b, e) (striped layout), at avx2 or avx512.
template <int Bits, class Lut>
void gemm_rows(isa level, const std::uint32_t* words, const Lut* lut, std::size_t cols, matrix_view<const float> X,
               matrix_view<float> Y, std::size_t b, std::size_t e) noexcept {
    if (level == isa::avx512)
        striped_gemm_rows<Bits, Lut, isa::avx512>(words, lut, cols, X, Y, b, e);
    else
        striped_gemm_rows<Bits, Lut, isa::avx2>(words, lut, cols, X, Y, b, e);
}

#endif  // SQLLM_X86_DISPATCH

}  // namespace x86
}  // namespace sqllm
