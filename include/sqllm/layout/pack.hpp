// sqllm/layout/pack.hpp — packing unpacked codes into a layout, unpacking, and
// lossless repacking between layouts.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
#include "gpu.hpp"
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
template <int Bits>
struct rows_own_words<gpu_layout<Bits>> : std::true_type {};

/// Groups of 8 codes of Bits bits as one 64-bit word, SWAR: spread() moves
/// bits [0, 8·Bits) of x (codes 0..7, least significant first; higher bits
/// ignored) to one code per byte (code k in bits [8k, 8k + Bits)); gather()
/// undoes it (each byte must be < 2^Bits). Three shift-and-mask steps each.
template <int Bits>
struct code_octets {
    /// `width` low bits of every `period`-bit field of a 64-bit word.
    static constexpr std::uint64_t fields(unsigned period, unsigned width) {
        std::uint64_t m = 0;
        for (unsigned p = 0; p < 64; p += period)
            m |= (width >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << width) - 1) << p;
        return m;
    }
    static constexpr unsigned b = static_cast<unsigned>(Bits);
    static constexpr std::uint64_t m32 = fields(64, 4 * b), m16 = fields(32, 2 * b), m8 = fields(16, b);

    static constexpr std::uint64_t spread(std::uint64_t x) {
        x = (x & m32) | ((x << (32 - 4 * b)) & (m32 << 32));  // 4 codes per 32-bit half
        x = (x & m16) | ((x << (16 - 2 * b)) & (m16 << 16));  // 2 per 16 bits
        return (x & m8) | ((x << (8 - b)) & (m8 << 8));       // 1 per byte
    }
    static constexpr std::uint64_t gather(std::uint64_t x) {
        x = (x & m8) | ((x >> (8 - b)) & (m8 << b));
        x = (x & m16) | ((x >> (16 - 2 * b)) & (m16 << 2 * b));
        return (x & m32) | ((x >> (32 - 4 * b)) & (m32 << 4 * b));
    }
};

/// 8 bytes, byte k = bits [8k, 8k + 8) of x: one store where the byte order
/// allows (compilers do not always merge the byte stores).
inline void store_octet(code_t* p, std::uint64_t x) {
#if (defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) || defined(_MSC_VER)
    std::memcpy(p, &x, sizeof x);
#else
    for (unsigned k = 0; k < 8; ++k) p[k] = static_cast<code_t>(x >> (8 * k));
#endif
}
/// The inverse of store_octet.
inline std::uint64_t load_octet(const code_t* p) {
    std::uint64_t x = 0;
#if (defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) || defined(_MSC_VER)
    std::memcpy(&x, p, sizeof x);
#else
    for (unsigned k = 0; k < 8; ++k) x |= static_cast<std::uint64_t>(p[k]) << (8 * k);
#endif
    return x;
}

/// Asks for the cache line holding *p ahead of use (a hint; nothing on
/// compilers without __builtin_prefetch).
inline void prefetch_line(const void* p, bool for_write) {
#if defined(__GNUC__) || defined(__clang__)
    if (for_write)
        __builtin_prefetch(p, 1);
    else
        __builtin_prefetch(p, 0);
#else
    (void)p;
    (void)for_write;
#endif
}

/// Repacking between the reference and striped layouts a tile of rows at a
/// time. The reference layout keeps a row's words `rows` words apart, so a
/// row-at-a-time walk touches one word per cache line (and, for big
/// matrices, per page); a tile of tile_rows = 16 rows uses each 64-byte line
/// of qweight whole, and the next tile-block's lines are prefetched. Per
/// row, a striped block's L groups go through a byte per code: a group's
/// 32-code stream is 4 × 8 codes, spread to bytes (or gathered back) with
/// shifts and masks (code_octets), and the L lanes' words are built (or
/// split) slot by slot, constant shifts, all lanes at once (vectorised).
/// ~5× faster than the row-at-a-time path for 2..4 bits (4096 × 4096).
template <int Bits>
struct reference_striped {
    static constexpr std::size_t tile_rows = 16;
    using oct = code_octets<Bits>;
    using S = striped_layout<Bits>;
    using G = striped_geometry;
    static constexpr unsigned b = static_cast<unsigned>(Bits);

    /// Prefetches the qweight words of groups [g0, g1) for rows [r0, r1): their
    /// first and last lines (a tile's 16 rows span at most two).
    static void prefetch_groups(const std::uint32_t* qweight, std::size_t rows, std::size_t groups, std::size_t r0,
                                std::size_t r1, std::size_t g0, std::size_t g1, bool write) {
        for (std::size_t w = g0 * b; w < std::min(g1, groups) * b; ++w) {
            prefetch_line(qweight + w * rows + r0, write);
            prefetch_line(qweight + w * rows + r1 - 1, write);
        }
    }

    /// Reference rows [first, last) of `ref` into `out` (striped).
    static void to_striped(const std::uint32_t* ref, std::uint32_t* out, std::size_t rows, std::size_t cols,
                           std::size_t first, std::size_t last) {
        const std::size_t groups = group_count(cols), wpr = S::words_per_row(cols);
        const auto prefetch = [&](std::size_t r0, std::size_t r1, std::size_t g0, std::size_t g1) {
            prefetch_groups(ref, rows, groups, r0, r1, g0, g1, false);
        };
        for_tiles(cols, first, last, prefetch, [&](std::size_t r0, std::size_t r1, std::size_t c0, std::size_t w0,
                                                   auto lanes) {
            constexpr std::size_t L = decltype(lanes)::value;
            const std::size_t g0 = c0 / codes_per_group, n = r1 - r0;
            const std::size_t live = std::min(L, groups - g0);  // groups of the block the reference has
            // The tile's words of the block, qweight's rows copied whole:
            // tile[w·tile_rows + i] = word g0·Bits + w of row r0 + i.
            alignas(64) std::uint32_t tile[L * Bits * tile_rows];
            for (std::size_t w = 0; w < live * b; ++w) {
                const std::uint32_t* src = ref + (g0 * b + w) * rows + r0;
                for (std::size_t i = 0; i < n; ++i) tile[w * tile_rows + i] = src[i];
            }
            alignas(64) code_t codes[L * codes_per_group];
            for (std::size_t s = live; s < L; ++s)  // padding past the reference's last group: code 0
                for (std::size_t k = 0; k < codes_per_group; ++k) codes[s * codes_per_group + k] = 0;
            for (std::size_t i = 0; i < n; ++i) {
                for (std::size_t s = 0; s < live; ++s) {
                    std::uint32_t w[Bits + 2] = {};
                    for (unsigned k = 0; k < b; ++k) w[k] = tile[(s * b + k) * tile_rows + i];
                    for (unsigned q = 0; q < 4; ++q) {  // codes 8q..8q+7: stream bits [8·Bits·q, +8·Bits)
                        const unsigned o = 8 * b * q, x0 = o / 32, sh = o % 32;
                        std::uint64_t x = (w[x0] | static_cast<std::uint64_t>(w[x0 + 1]) << 32) >> sh;
                        if (sh + 8 * b > 64) x |= static_cast<std::uint64_t>(w[x0 + 2]) << (64 - sh);
                        store_octet(codes + s * codes_per_group + 8 * q, oct::spread(x));
                    }
                }
                pack_lanes<L>(codes, out + (r0 + i) * wpr + w0, std::make_index_sequence<Bits>{});
            }
        });
    }

    /// Striped rows [first, last) of `st` into `out` (reference).
    static void to_reference(const std::uint32_t* st, std::uint32_t* out, std::size_t rows, std::size_t cols,
                             std::size_t first, std::size_t last) {
        const std::size_t groups = group_count(cols), wpr = S::words_per_row(cols);
        const auto prefetch = [&](std::size_t r0, std::size_t r1, std::size_t g0, std::size_t g1) {
            prefetch_groups(out, rows, groups, r0, r1, g0, g1, true);
        };
        for_tiles(cols, first, last, prefetch, [&](std::size_t r0, std::size_t r1, std::size_t c0, std::size_t w0,
                                                   auto lanes) {
            constexpr std::size_t L = decltype(lanes)::value;
            const std::size_t g0 = c0 / codes_per_group, n = r1 - r0;
            const std::size_t live = std::min(L, groups - g0);
            // Each row's words go straight to qweight (a tile buffer, as in
            // to_striped, measured slower here).
            for (std::size_t i = 0; i < n; ++i) {
                alignas(64) code_t codes[L * codes_per_group];
                unpack_lanes<L>(st + (r0 + i) * wpr + w0, codes, std::make_index_sequence<codes_per_group>{});
                for (std::size_t s = 0; s < live; ++s) {
                    std::uint32_t w[Bits + 2] = {};
                    for (unsigned q = 0; q < 4; ++q) {
                        const std::uint64_t x = oct::gather(load_octet(codes + s * codes_per_group + 8 * q));
                        const unsigned o = 8 * b * q, x0 = o / 32, sh = o % 32;
                        const std::uint64_t y = x << sh;
                        w[x0] |= static_cast<std::uint32_t>(y);
                        w[x0 + 1] |= static_cast<std::uint32_t>(y >> 32);
                        if (sh + 8 * b > 64) w[x0 + 2] |= static_cast<std::uint32_t>(x >> (64 - sh));
                    }
                    std::uint32_t* dst = out + (g0 + s) * b * rows + r0 + i;
                    for (unsigned k = 0; k < b; ++k) dst[k * rows] = w[k];
                }
            }
        });
    }

private:
    /// Word vector M of a block of L lanes (`out`, L words) from the codes of
    /// its L·32 columns: the slots t with bits in [32M, 32M + 32), unrolled
    /// (constant shifts, no branches), all lanes at once.
    template <std::size_t L, std::size_t M, std::size_t... I>
    static void pack_word(const code_t* codes, std::uint32_t* out, std::index_sequence<I...>) {
        constexpr std::size_t first = 32 * M / b;  // the slot holding bit 32M
        std::uint32_t v[L] = {};
        const auto slot = [&](auto t) {
            constexpr int s = static_cast<int>(decltype(t)::value * b) - static_cast<int>(32 * M);
            const code_t* c = codes + L * decltype(t)::value;
            for (std::size_t j = 0; j < L; ++j)
                v[j] |= s >= 0 ? static_cast<std::uint32_t>(c[j]) << (s & 31)
                               : static_cast<std::uint32_t>(c[j]) >> (-s & 31);
        };
        (slot(std::integral_constant<std::size_t, first + I>{}), ...);
        for (std::size_t j = 0; j < L; ++j) out[j] = v[j];
    }
    template <std::size_t L, std::size_t... M>
    static void pack_lanes(const code_t* codes, std::uint32_t* out, std::index_sequence<M...>) {
        // Slots [32M/Bits, (32M + 31)/Bits] touch word M.
        (pack_word<L, M>(codes, out + M * L, std::make_index_sequence<(32 * M + 31) / b - 32 * M / b + 1>{}), ...);
    }
    /// The codes of a block of L lanes (L·32 columns) from its words, slot by
    /// slot (T = 0..31), all lanes at once.
    template <std::size_t L, std::size_t... T>
    static void unpack_lanes(const std::uint32_t* words, code_t* codes, std::index_sequence<T...>) {
        (unpack_slot<L, T>(words, codes + L * T), ...);
    }
    template <std::size_t L, std::size_t T>
    static void unpack_slot(const std::uint32_t* words, code_t* c) {
        constexpr unsigned m = T * b / 32, sh = T * b % 32;
        const std::uint32_t* lo = words + m * L;
        if (sh + b > 32) {  // the slot straddles word vectors m and m + 1
            const std::uint32_t* hi = lo + L;
            for (std::size_t j = 0; j < L; ++j)
                c[j] = static_cast<code_t>(((lo[j] >> sh) | (hi[j] << ((32 - sh) & 31))) & bit_width<Bits>::mask);
        } else {
            for (std::size_t j = 0; j < L; ++j) c[j] = static_cast<code_t>((lo[j] >> sh) & bit_width<Bits>::mask);
        }
    }

    /// f(r0, r1, first column, first word in the row, integral_constant
    /// lanes) for each striped block of a tile of rows [r0, r1), tile by
    /// tile over [first, last); before each, prefetch(r0, r1, first group,
    /// end group) for the next one (the reference side's lines, a page
    /// apart, which the hardware prefetchers do not foresee).
    template <class P, class F>
    static void for_tiles(std::size_t cols, std::size_t first, std::size_t last, P&& prefetch, F&& f) {
        const std::size_t wide = G::wide_blocks(cols), blocks = wide + (G::has_narrow_block(cols) ? 1 : 0);
        constexpr std::size_t gw = G::wide_lanes;  // groups of a wide block (a narrow one has half)
        for (std::size_t r0 = first; r0 < last; r0 += tile_rows) {
            const std::size_t r1 = std::min(last, r0 + tile_rows);
            for (std::size_t k = 0; k < blocks; ++k) {
                if (k + 1 < blocks)
                    prefetch(r0, r1, (k + 1) * gw, (k + 1) * gw + gw);
                else if (r1 < last)
                    prefetch(r1, std::min(last, r1 + tile_rows), 0, gw);
                if (k < wide)
                    f(r0, r1, k * G::wide_cols, k * gw * b, std::integral_constant<std::size_t, G::wide_lanes>{});
                else
                    f(r0, r1, k * G::wide_cols, k * gw * b, std::integral_constant<std::size_t, G::narrow_lanes>{});
            }
        }
    }
};

/// How repack converts rows [first, last) from From to To: through a row of
/// codes (row_codes), or a faster pair-specific path; rows in tasks start at
/// multiples of block_rows.
template <class To, class From>
struct repack_rows {
    static constexpr std::size_t block_rows = 1;
    static void run(const std::uint32_t* in, std::uint32_t* out, std::size_t rows, std::size_t cols,
                    std::size_t first, std::size_t last) {
        // The row buffer must hold what either side reads or writes; codes one
        // side leaves alone stay 0 (the buffer is zeroed once, per task).
        std::vector<code_t> row(std::max(row_codes<From>::count(cols), row_codes<To>::count(cols)));
        for (std::size_t r = first; r < last; ++r) {
            row_codes<From>::unpack(in, rows, cols, r, row.data());
            row_codes<To>::pack(out, rows, cols, r, row.data());
        }
    }
};
template <int Bits>
struct repack_rows<striped_layout<Bits>, reference_layout<Bits>> {
    static constexpr std::size_t block_rows = reference_striped<Bits>::tile_rows;
    static void run(const std::uint32_t* in, std::uint32_t* out, std::size_t rows, std::size_t cols,
                    std::size_t first, std::size_t last) {
        reference_striped<Bits>::to_striped(in, out, rows, cols, first, last);
    }
};
template <int Bits>
struct repack_rows<reference_layout<Bits>, striped_layout<Bits>> {
    static constexpr std::size_t block_rows = reference_striped<Bits>::tile_rows;
    static void run(const std::uint32_t* in, std::uint32_t* out, std::size_t rows, std::size_t cols,
                    std::size_t first, std::size_t last) {
        reference_striped<Bits>::to_reference(in, out, rows, cols, first, last);
    }
};

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
    using rows_fn = detail::repack_rows<To, From>;
    auto body = [&](std::size_t b, std::size_t e) { rows_fn::run(words.data(), out.data(), rows, cols, b, e); };
    constexpr bool parallel = detail::rows_own_words<To>::value && detail::rows_own_words<From>::value;
    if (parallel && exec.concurrency() > 1)  // a few blocks per thread: uneven cores
        parallel_blocks(exec, rows, exec.concurrency() * 4, body, rows_fn::block_rows);
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
