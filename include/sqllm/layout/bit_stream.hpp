// sqllm/layout/bit_stream.hpp — layouts that store each row's codes as one
// least-significant-bit-first bit stream of 32-bit words.
//
// Code c of a row occupies stream bits [c·Bits, c·Bits + Bits); stream bit b
// is bit (b mod 32) of the row's word b/32. A row has group_count(cols)·Bits
// words: every 32 codes fill exactly Bits words, and the last group is
// zero-padded. Layouts differ only in where a row's w-th word lives, which
// the Derived class says through word_index(rows, cols, r, w).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../config.hpp"
#include "../core/bits.hpp"
#include "../core/checked.hpp"

SQLLM_NAMESPACE_BEGIN

template <class Derived, int Bits>
struct bit_stream_layout {
    static constexpr int bits = Bits;
    using word_type = std::uint32_t;

    /// Words of one row's stream (cannot overflow: group_count(cols) < 2^59).
    static constexpr std::size_t words_per_row(std::size_t cols) { return group_count(cols) * Bits; }
    /// Words of the whole matrix; throws sqllm::error(out_of_range) if that overflows.
    static std::size_t word_count(std::size_t rows, std::size_t cols) {
        return checked_mul(rows, words_per_row(cols), "packed code words (rows × words per row)");
    }

    /// Code (r, c); no bounds checks.
    static std::uint32_t get(const word_type* words, std::size_t rows, std::size_t cols, std::size_t r, std::size_t c) {
        const std::size_t bit = c * Bits;
        const std::size_t w = bit / 32;
        const unsigned off = static_cast<unsigned>(bit % 32);
        std::uint64_t v = words[Derived::word_index(rows, cols, r, w)] >> off;
        if (off + Bits > 32)  // the code straddles two words
            v |= static_cast<std::uint64_t>(words[Derived::word_index(rows, cols, r, w + 1)]) << (32 - off);
        return static_cast<std::uint32_t>(v) & bit_width<Bits>::mask;
    }

    /// Decodes the 32 codes of group g of row r (padding codes included).
    static void unpack_group(const word_type* words, std::size_t rows, std::size_t cols, std::size_t r, std::size_t g,
                             code_t* out) {
        // The group's Bits words form a 32·Bits-bit stream; walk it with a
        // 64-bit window so a straddling code needs no special case.
        std::uint64_t window = 0;
        unsigned have = 0;
        std::size_t next = g * Bits;
        for (int k = 0; k < 32; ++k) {
            if (have < static_cast<unsigned>(Bits)) {
                window |= static_cast<std::uint64_t>(words[Derived::word_index(rows, cols, r, next++)]) << have;
                have += 32;
            }
            out[k] = static_cast<code_t>(window & bit_width<Bits>::mask);
            window >>= Bits;
            have -= Bits;
        }
    }

    /// Encodes the 32 codes of group g of row r (each code must be < 2^Bits).
    static void pack_group(word_type* words, std::size_t rows, std::size_t cols, std::size_t r, std::size_t g,
                           const code_t* in) {
        std::uint64_t window = 0;
        unsigned have = 0;
        std::size_t next = g * Bits;
        for (int k = 0; k < 32; ++k) {
            window |= static_cast<std::uint64_t>(in[k] & bit_width<Bits>::mask) << have;
            have += Bits;
            if (have >= 32) {
                words[Derived::word_index(rows, cols, r, next++)] = static_cast<word_type>(window);
                window >>= 32;
                have -= 32;
            }
        }
    }
};

SQLLM_NAMESPACE_END
