// sqllm/layout/striped.hpp — the CPU kernel layout: each row's codes striped
// across the 32-bit lanes of a SIMD register, so decoding is shifts and a
// permute, with no byte shuffling.
//
// A row is cut into blocks of L·32 columns, L = 16 lanes (512 columns), and,
// when the padded row length is an odd multiple of 256, one last block of
// L = 8 lanes (256 columns). Rows are padded to a multiple of 256 columns
// with code 0 (LLaMA-family widths such as 4096, 11008, 14336 need none).
// In a block starting at column c0 and at word w0 of the row, column
// c0 + L·t + j (lane j, slot t = 0..31) is lane j's t-th code: bits
// [Bits·t, Bits·t + Bits) of lane j's 32·Bits-bit stream, whose stream bit b
// is bit b mod 32 of word w0 + (b / 32)·L + j. So word vector m of a block
// (L consecutive words) holds slots 32m/Bits.., one per lane: slot t of all
// lanes is one shift of one vector away, and lands on L consecutive columns.
// For 3 bits, slots 10 and 21 straddle two vectors (two shifts and an or).
//
// Costs: the same 32·Bits bits per 32 codes as the reference (exactly Bits
// bits per weight), plus the padding to 256 columns. Converting from and to
// the other layouts is lossless (layout/pack.hpp: repack). It is the default
// layout (matrix/defaults.hpp): every target has SIMD gemv and gemm for it
// (kernels/driver/striped.inl).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../config.hpp"
#include "../core/bits.hpp"
#include "../core/checked.hpp"

SQLLM_NAMESPACE_BEGIN

/// The block geometry of the striped layout (the same for every Bits).
struct striped_geometry {
    static constexpr std::size_t wide_lanes = 16, narrow_lanes = 8;
    static constexpr std::size_t wide_cols = wide_lanes * 32, narrow_cols = narrow_lanes * 32;

    /// Columns a row holds, padding included: cols rounded up to 256;
    /// throws sqllm::error(out_of_range) if that overflows.
    static constexpr std::size_t padded_cols(std::size_t cols) {
        return cols % narrow_cols == 0 ? cols
                                       : checked_add(cols - cols % narrow_cols, narrow_cols, "striped row padding");
    }
    /// Full 16-lane blocks of a row.
    static constexpr std::size_t wide_blocks(std::size_t cols) { return padded_cols(cols) / wide_cols; }
    /// True if the row ends with an 8-lane block.
    static constexpr bool has_narrow_block(std::size_t cols) { return padded_cols(cols) % wide_cols != 0; }
};

template <int Bits>
struct striped_layout : striped_geometry {
    static_assert(Bits >= 1 && Bits <= 8, "code width must be 1..8 bits");
    static constexpr int bits = Bits;
    static constexpr const char* name = "striped";
    using word_type = std::uint32_t;

    /// Words of one row.
    static constexpr std::size_t words_per_row(std::size_t cols) { return padded_cols(cols) / 32 * Bits; }
    /// Words of the whole matrix; throws sqllm::error(out_of_range) if that overflows.
    static std::size_t word_count(std::size_t rows, std::size_t cols) {
        return checked_mul(rows, words_per_row(cols), "packed code words (rows × words per row)");
    }

    /// Where code (r, c) lives: its first word, the bit in it, and the
    /// stride to the word holding its high bits if it straddles.
    struct place {
        std::size_t word;
        unsigned bit;
        std::size_t lanes;
    };
    static constexpr place locate(std::size_t cols, std::size_t r, std::size_t c) {
        const std::size_t wide = wide_blocks(cols);
        const std::size_t block = c / wide_cols;
        const bool narrow = block >= wide;
        const std::size_t lanes = narrow ? narrow_lanes : wide_lanes;
        const std::size_t c0 = narrow ? wide * wide_cols : block * wide_cols;
        const std::size_t w0 = (narrow ? wide : block) * wide_lanes * Bits;
        const std::size_t t = (c - c0) / lanes, j = (c - c0) % lanes;
        const std::size_t b = t * Bits;
        return {r * words_per_row(cols) + w0 + (b / 32) * lanes + j, static_cast<unsigned>(b % 32), lanes};
    }

    /// Code (r, c); no bounds checks.
    static std::uint32_t get(const word_type* words, std::size_t /*rows*/, std::size_t cols, std::size_t r,
                             std::size_t c) {
        const place p = locate(cols, r, c);
        std::uint64_t v = words[p.word] >> p.bit;
        if (p.bit + Bits > 32) v |= static_cast<std::uint64_t>(words[p.word + p.lanes]) << (32 - p.bit);
        return static_cast<std::uint32_t>(v) & bit_width<Bits>::mask;
    }

    /// Stores code (r, c), leaving every other code unchanged.
    static void set(word_type* words, std::size_t /*rows*/, std::size_t cols, std::size_t r, std::size_t c,
                    std::uint32_t code) {
        const place p = locate(cols, r, c);
        const std::uint64_t m = static_cast<std::uint64_t>(bit_width<Bits>::mask) << p.bit;
        const std::uint64_t v = static_cast<std::uint64_t>(code & bit_width<Bits>::mask) << p.bit;
        words[p.word] = static_cast<word_type>((words[p.word] & ~m) | v);
        if (p.bit + Bits > 32) {
            word_type& hi = words[p.word + p.lanes];
            hi = static_cast<word_type>((hi & ~(m >> 32)) | (v >> 32));
        }
    }

    /// Decodes the 32 codes of columns [32g, 32g + 32) of row r (padding codes included).
    static void unpack_group(const word_type* words, std::size_t rows, std::size_t cols, std::size_t r, std::size_t g,
                             code_t* out) {
        for (std::size_t k = 0; k < codes_per_group; ++k)
            out[k] = static_cast<code_t>(get(words, rows, cols, r, g * codes_per_group + k));
    }

    /// Encodes the 32 codes of columns [32g, 32g + 32) of row r.
    static void pack_group(word_type* words, std::size_t rows, std::size_t cols, std::size_t r, std::size_t g,
                           const code_t* in) {
        for (std::size_t k = 0; k < codes_per_group; ++k)
            set(words, rows, cols, r, g * codes_per_group + k, in[k]);
    }
};

SQLLM_NAMESPACE_END
