// sqllm/layout/gpu.hpp — the GPU kernel layout: each row's codes striped
// across the 32 lanes of a warp, in runs of 4 columns, so that one warp-wide
// load of a word plane is 128 contiguous bytes and each lane's activations
// are 4 consecutive values (one 16-byte load per 4 weights).
//
// A row is cut into blocks of 1024 columns (32 lanes × 32 slots); rows are
// padded with code 0 to a multiple of 256 columns, so the last block may have
// L = 8, 16 or 24 lanes instead of 32. In a block starting at column c0, with
// L lanes and starting at word c0/32·Bits of the row,
//   slot t (0..31) of lane l is column c0 + (t / 4)·4L + 4l + t mod 4,
// i.e. run q = t / 4 of all lanes covers the 4L consecutive columns
// c0 + 4Lq .. , lane l holding 4 of them. Lane l's 32 codes form one
// least-significant-bit-first stream of 32·Bits bits (as in the reference
// layout): slot t is stream bits [Bits·t, Bits·t + Bits), stream bit b is bit
// b mod 32 of word plane b / 32, and word plane m of lane l is the row's word
// c0/32·Bits + m·L + l. A warp therefore reads a block as Bits coalesced
// loads (lane l loads its plane-m word), and every shift that extracts a slot
// is a compile-time constant once the slot loop is unrolled.
//
// Costs: exactly Bits bits per weight, plus the padding to 256 columns
// (LLaMA-family widths need none). Converting from and to the other layouts
// is lossless (layout/pack.hpp: pack_codes, repack). No CPU kernel reads it
// (the scalar oracle does, which is how the CPU tests check it); the CUDA
// kernels (sqllm/cuda/, nvcc only) do. The decoding functions below are
// SQLLM_HOST_DEVICE: the same code runs in the kernels and in the CPU tests.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../config.hpp"
#include "../core/bits.hpp"
#include "../core/checked.hpp"

SQLLM_NAMESPACE_BEGIN

/// The block geometry of the GPU layout (the same for every Bits).
struct gpu_geometry {
    static constexpr std::size_t lanes = 32, slots = 32, run = 4;
    static constexpr std::size_t block_cols = lanes * slots;  ///< 1024
    static constexpr std::size_t pad_cols = 256;              ///< rows are padded to a multiple of this

    /// Columns a row holds, padding included; throws sqllm::error(out_of_range) if that overflows.
    static constexpr std::size_t padded_cols(std::size_t cols) {
        return cols % pad_cols == 0 ? cols : checked_add(cols - cols % pad_cols, pad_cols, "GPU layout row padding");
    }
    /// Blocks of a row of `padded` columns (the last may be narrow).
    SQLLM_HOST_DEVICE static constexpr std::size_t blocks(std::size_t padded) {
        return padded / block_cols + (padded % block_cols != 0 ? 1 : 0);
    }
    /// Lanes of the block starting at column c0 of a row of `padded` columns: 32, or 8/16/24 for the last.
    SQLLM_HOST_DEVICE static constexpr std::size_t block_lanes(std::size_t padded, std::size_t c0) {
        return padded - c0 >= block_cols ? lanes : (padded - c0) / slots;
    }
    /// The column of slot t of lane l in the block at c0 with L lanes.
    SQLLM_HOST_DEVICE static constexpr std::size_t slot_column(std::size_t c0, std::size_t L, std::size_t l,
                                                               std::size_t t) {
        return c0 + (t / run) * run * L + run * l + t % run;
    }
};

template <int Bits>
struct gpu_layout : gpu_geometry {
    static_assert(Bits >= 1 && Bits <= 8, "code width must be 1..8 bits");
    static constexpr int bits = Bits;
    static constexpr const char* name = "gpu";
    using word_type = std::uint32_t;

    /// Words of a row of `padded` columns.
    SQLLM_HOST_DEVICE static constexpr std::size_t row_words(std::size_t padded) { return padded / 32 * Bits; }
    /// Words of one row of `cols` columns.
    static constexpr std::size_t words_per_row(std::size_t cols) { return row_words(padded_cols(cols)); }
    /// Words of the whole matrix; throws sqllm::error(out_of_range) if that overflows.
    static std::size_t word_count(std::size_t rows, std::size_t cols) {
        return checked_mul(rows, words_per_row(cols), "packed code words (rows × words per row)");
    }
    /// Offset within a row of word plane m of lane l, in the block at c0 with L lanes.
    SQLLM_HOST_DEVICE static constexpr std::size_t word_offset(std::size_t c0, std::size_t L, std::size_t l, int m) {
        return c0 / 32 * Bits + static_cast<std::size_t>(m) * L + l;
    }

    /// Slot t of a lane whose Bits words (planes 0..Bits-1) are w: with t a
    /// constant (an unrolled loop), the shifts and the straddle test fold.
    SQLLM_HOST_DEVICE static std::uint32_t slot_code(const std::uint32_t* w, int t) {
        const int b = t * Bits, m = b / 32, off = b % 32;
        std::uint32_t v = w[m] >> off;
        if (off + Bits > 32) v |= w[m + 1] << (32 - off);  // straddles two planes (3, 5, 6, 7 bits)
        return v & bit_width<Bits>::mask;
    }

    /// Where code (r, c) lives: its first word, the bit in it, and the stride
    /// to the word holding its high bits if it straddles.
    struct place {
        std::size_t word;
        unsigned bit;
        std::size_t lanes;
    };
    static constexpr place locate(std::size_t cols, std::size_t r, std::size_t c) {
        const std::size_t padded = padded_cols(cols);
        const std::size_t c0 = c / block_cols * block_cols, L = block_lanes(padded, c0);
        const std::size_t d = c - c0, q = d / (run * L), e = d % (run * L);
        const std::size_t l = e / run, t = q * run + e % run;
        const std::size_t b = t * Bits;
        return {r * row_words(padded) + word_offset(c0, L, l, static_cast<int>(b / 32)), static_cast<unsigned>(b % 32),
                L};
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
        for (std::size_t k = 0; k < codes_per_group; ++k) set(words, rows, cols, r, g * codes_per_group + k, in[k]);
    }
};

SQLLM_NAMESPACE_END
