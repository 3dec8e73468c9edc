// sqllm/layout/pack.hpp — packing unpacked codes into a layout, unpacking, and
// lossless repacking between layouts.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/bits.hpp"
#include "../core/checked.hpp"
#include "../core/span.hpp"
#include "../error.hpp"
#include "concept.hpp"

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

/// Converts packed codes from layout From to layout To, group by group, with
/// no intermediate code matrix. Lossless (padding codes are carried along).
template <class To, class From>
std::vector<std::uint32_t> repack(span<const std::uint32_t> words, std::size_t rows, std::size_t cols) {
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
    code_t group[codes_per_group];
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t g = 0; g * codes_per_group < cols; ++g) {
            From::unpack_group(words.data(), rows, cols, r, g, group);
            To::pack_group(out.data(), rows, cols, r, g, group);
        }
    return out;
}

SQLLM_NAMESPACE_END
