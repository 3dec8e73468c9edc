// sqllm/layout/pack.hpp — packing unpacked codes into a layout, unpacking, and
// lossless repacking between layouts.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/bits.hpp"
#include "../core/checked.hpp"
#include "../core/executor.hpp"
#include "../core/span.hpp"
#include "../error.hpp"
#include "concept.hpp"
#include "reference.hpp"
#include "striped.hpp"

SQLLM_NAMESPACE_BEGIN

/// Packs a rows × cols matrix of codes (one per byte) into Layout. Every code
/// must be < 2^Layout::bits, else sqllm::error(out_of_range). Padding codes
/// of the last group are zero.
template <class Layout>
std::vector<std::uint32_t> pack_codes(matrix_view<const code_t> codes) {
    static_assert(is_layout<Layout>::value, "sqllm: pack_codes<Layout>: Layout is not a layout (layout/concept.hpp)");
    constexpr int levels = 1 << Layout::bits;
    const std::size_t rows = codes.rows(), cols = codes.cols();
    std::vector<std::uint32_t> words(Layout::word_count(rows, cols));
    code_t group[codes_per_group];
    for (std::size_t r = 0; r < rows; ++r) {
        const code_t* src = codes.row(r);
        for (std::size_t g = 0; g * codes_per_group < cols; ++g) {
            for (std::size_t k = 0; k < codes_per_group; ++k) {
                const std::size_t c = g * codes_per_group + k;
                group[k] = c < cols ? src[c] : code_t{0};
                if (!(group[k] < levels))
                    detail::fail(errc::out_of_range, "code " + detail::to_string(group[k]) + " at (" +
                                                         detail::to_string(r) + ", " + detail::to_string(c) +
                                                         ") does not fit in " + detail::to_string(Layout::bits) +
                                                         " bits");
            }
            Layout::pack_group(words.data(), rows, cols, r, g, group);
        }
    }
    return words;
}

/// Unpacks codes from Layout into `out` (rows × cols). `words` must hold
/// Layout::word_count(rows, cols) words.
template <class Layout>
void unpack_codes(span<const std::uint32_t> words, std::size_t rows, std::size_t cols, matrix_view<code_t> out) {
    static_assert(is_layout<Layout>::value, "sqllm: unpack_codes<Layout>: Layout is not a layout (layout/concept.hpp)");
    if (!(words.size() == Layout::word_count(rows, cols)))
        detail::fail(errc::shape_mismatch, "packed codes have " + detail::to_string(words.size()) +
                                               " words, expected " + detail::to_string(Layout::word_count(rows, cols)));
    detail::require(out.rows() == rows && out.cols() == cols, errc::shape_mismatch,
                    "output code matrix must be rows × cols");
    code_t group[codes_per_group];
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t g = 0; g * codes_per_group < cols; ++g) {
            Layout::unpack_group(words.data(), rows, cols, r, g, group);
            for (std::size_t k = 0; k < codes_per_group && g * codes_per_group + k < cols; ++k)
                out(r, g * codes_per_group + k) = group[k];
        }
}

/// Unpacks codes from Layout into a new rows × cols row-major vector.
template <class Layout>
std::vector<code_t> unpack_codes(span<const std::uint32_t> words, std::size_t rows, std::size_t cols) {
    std::vector<code_t> out(checked_mul(rows, cols, "unpack_codes: rows × cols"));
    unpack_codes<Layout>(words, rows, cols, matrix_view<code_t>(out.data(), rows, cols));
    return out;
}

namespace detail {

/// A whole row's codes at once: the codes of columns [0, row_code_count)
/// (padding included), through the layout's groups. Specialised below where
/// a row-at-a-time loop is much faster than group_count × pack_group.
template <class L>
struct row_codes {
    /// Codes unpack() writes and pack() reads (≤ padded row length of any layout).
    static std::size_t count(std::size_t cols) { return group_count(cols) * codes_per_group; }
    static void unpack(const std::uint32_t* words, std::size_t rows, std::size_t cols, std::size_t r, code_t* out) {
        for (std::size_t g = 0; g * codes_per_group < cols; ++g)
            L::unpack_group(words, rows, cols, r, g, out + g * codes_per_group);
    }
    static void pack(std::uint32_t* words, std::size_t rows, std::size_t cols, std::size_t r, const code_t* in) {
        for (std::size_t g = 0; g * codes_per_group < cols; ++g)
            L::pack_group(words, rows, cols, r, g, in + g * codes_per_group);
    }
};

/// The striped layout block by block: each lane's 32 codes form one
/// Bits-word bit stream (layout/striped.hpp), walked with a 64-bit window
/// instead of locating every code (striped_layout::set: ~10× slower).
template <int Bits>
struct row_codes<striped_layout<Bits>> {
    using G = striped_geometry;
    static std::size_t count(std::size_t cols) { return G::padded_cols(cols); }
    static void unpack(const std::uint32_t* words, std::size_t /*rows*/, std::size_t cols, std::size_t r,
                       code_t* out) {
        const std::uint32_t* row = words + r * striped_layout<Bits>::words_per_row(cols);
        for_blocks(cols, [&](std::size_t c0, std::size_t w0, std::size_t L) {
            for (std::size_t j = 0; j < L; ++j) {
                std::uint64_t window = 0;
                unsigned have = 0;
                std::size_t m = 0;
                for (std::size_t t = 0; t < codes_per_group; ++t) {
                    if (have < static_cast<unsigned>(Bits)) {
                        window |= static_cast<std::uint64_t>(row[w0 + m++ * L + j]) << have;
                        have += 32;
                    }
                    out[c0 + L * t + j] = static_cast<code_t>(window & bit_width<Bits>::mask);
                    window >>= Bits;
                    have -= Bits;
                }
            }
        });
    }
    static void pack(std::uint32_t* words, std::size_t /*rows*/, std::size_t cols, std::size_t r, const code_t* in) {
        std::uint32_t* row = words + r * striped_layout<Bits>::words_per_row(cols);
        for_blocks(cols, [&](std::size_t c0, std::size_t w0, std::size_t L) {
            for (std::size_t j = 0; j < L; ++j) {
                std::uint64_t window = 0;
                unsigned have = 0;
                std::size_t m = 0;
                for (std::size_t t = 0; t < codes_per_group; ++t) {
                    window |= static_cast<std::uint64_t>(in[c0 + L * t + j] & bit_width<Bits>::mask) << have;
                    have += Bits;
                    if (have >= 32) {
                        row[w0 + m++ * L + j] = static_cast<std::uint32_t>(window);
                        window >>= 32;
                        have -= 32;
                    }
                }
            }
        });
    }

private:
    /// f(first column, first word in the row, lanes) for each block of a row.
    template <class F>
    static void for_blocks(std::size_t cols, F&& f) {
        const std::size_t wide = G::wide_blocks(cols);
        for (std::size_t k = 0; k < wide; ++k)
            f(k * G::wide_cols, k * G::wide_lanes * Bits, G::wide_lanes);
        if (G::has_narrow_block(cols)) f(wide * G::wide_cols, wide * G::wide_lanes * Bits, G::narrow_lanes);
    }
};

/// True for layouts in which every word holds codes of one row only, so
/// that tasks packing different rows never write the same word: sqllm's
/// layouts. A layout not listed is repacked on one thread.
template <class L>
struct rows_own_words : std::false_type {};
template <int Bits>
struct rows_own_words<striped_layout<Bits>> : std::true_type {};
template <int Bits>
struct rows_own_words<reference_layout<Bits>> : std::true_type {};

}  // namespace detail

/// Converts packed codes from layout From to layout To, row by row, with no
/// intermediate code matrix. Lossless (padding codes are carried along as
/// far as both layouts have them; To's other padding codes are 0).
/// The rows are split into blocks run through `exec` (core/executor.hpp)
/// when both layouts keep rows in separate words (sqllm's do); the words
/// are the same for every executor. Throws before any task runs.
template <class To, class From, class Executor>
std::vector<std::uint32_t> repack(span<const std::uint32_t> words, std::size_t rows, std::size_t cols,
                                  const Executor& exec) {
    static_assert(is_layout<To>::value && is_layout<From>::value,
                  "sqllm: repack<To, From>: not a layout (layout/concept.hpp)");
    static_assert(To::bits == From::bits, "sqllm: repacking cannot change the code width");
    if (!(words.size() == From::word_count(rows, cols)))
        detail::fail(errc::shape_mismatch, "packed codes have " + detail::to_string(words.size()) +
                                               " words, expected " + detail::to_string(From::word_count(rows, cols)));
    // The same layout: the words are the answer (exporting a matrix quantized
    // straight into the reference layout spent ~2 % of a CLI run here).
    if (std::is_same<To, From>::value) return std::vector<std::uint32_t>(words.begin(), words.end());
    std::vector<std::uint32_t> out(To::word_count(rows, cols));
    if (rows == 0 || cols == 0) return out;
    // The row buffer must hold what either side reads or writes; codes one
    // side leaves alone stay 0 (the buffer is zeroed once, per task).
    const std::size_t n = std::max(detail::row_codes<From>::count(cols), detail::row_codes<To>::count(cols));
    auto body = [&](std::size_t b, std::size_t e) {
        std::vector<code_t> row(n);
        for (std::size_t r = b; r < e; ++r) {
            detail::row_codes<From>::unpack(words.data(), rows, cols, r, row.data());
            detail::row_codes<To>::pack(out.data(), rows, cols, r, row.data());
        }
    };
    constexpr bool parallel = detail::rows_own_words<To>::value && detail::rows_own_words<From>::value;
    if (parallel && exec.concurrency() > 1)
        parallel_blocks(exec, rows, exec.concurrency() * 4, body);  // a few blocks per thread: uneven cores
    else
        body(0, rows);
    return out;
}

/// Converts packed codes from layout From to layout To on the calling thread
/// (see the executor overload).
template <class To, class From>
std::vector<std::uint32_t> repack(span<const std::uint32_t> words, std::size_t rows, std::size_t cols) {
    return repack<To, From>(words, rows, cols, sequential_executor{});
}

SQLLM_NAMESPACE_END
