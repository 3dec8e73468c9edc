// Packed layouts: the reference layout's fixed vectors, and lossless
// pack / unpack / repack for every code width and awkward column counts.
#include <sqllm/layout/pack.hpp>
#include <sqllm/layout/reference.hpp>

#include "catch.hpp"
#include "test_util.hpp"

using namespace sqllm;
using sqllm_test::rng_t;

TEST_CASE("reference layout: docs/DESIGN.md §3 test vectors", "[pack]") {
    SECTION("3-bit codes 0..7 repeated four times") {
        std::vector<code_t> codes(32);
        for (int k = 0; k < 32; ++k)
            codes[k] = static_cast<code_t>(k % 8);
        const auto words = pack_codes<reference_layout<3>>(matrix_view<const code_t>(codes.data(), 1, 32));
        REQUIRE(words == std::vector<std::uint32_t>{0x88fac688u, 0xc688fac6u, 0xfac688fau});
        REQUIRE(unpack_codes<reference_layout<3>>(words, 1, 32) == codes);
    }
    SECTION("4-bit codes 0..7") {
        std::vector<code_t> codes(32, 0);
        for (int k = 0; k < 8; ++k)
            codes[k] = static_cast<code_t>(k);
        const auto words = pack_codes<reference_layout<4>>(matrix_view<const code_t>(codes.data(), 1, 32));
        REQUIRE(words[0] == 0x76543210u);
    }
    SECTION("3-bit codes 10 and 21 straddle words") {
        std::vector<code_t> codes(32, 0);
        codes[10] = 7;  // stream bits 30..32: words 0 and 1
        codes[21] = 5;  // stream bits 63..65: words 1 and 2
        const auto words = pack_codes<reference_layout<3>>(matrix_view<const code_t>(codes.data(), 1, 32));
        REQUIRE(words == std::vector<std::uint32_t>{0xc0000000u, 0x80000001u, 0x00000002u});
    }
    SECTION("word w of row r is qweight[w][r]") {
        // Two rows: row 1 all code 1 (4-bit) -> its word 0 is 0x11111111 at index 0*rows + 1.
        std::vector<code_t> codes(2 * 32, 0);
        std::fill(codes.begin() + 32, codes.end(), 1);
        const auto words = pack_codes<reference_layout<4>>(matrix_view<const code_t>(codes.data(), 2, 32));
        REQUIRE(words.size() == 8);
        for (std::size_t w = 0; w < 4; ++w) {
            REQUIRE(words[w * 2 + 0] == 0u);
            REQUIRE(words[w * 2 + 1] == 0x11111111u);
        }
    }
}

TEMPLATE_TEST_CASE_SIG("pack/unpack/repack round-trip on random codes", "[pack]", ((int Bits), Bits), 1, 2, 3, 4, 5, 6,
                       7, 8) {
    rng_t rng(100 + Bits);
    for (std::size_t cols : {1u, 31u, 32u, 33u, 100u, 257u}) {
        for (std::size_t rows : {1u, 3u, 17u}) {
            const auto codes = sqllm_test::random_codes(rng, rows * cols, Bits);
            const matrix_view<const code_t> cv(codes.data(), rows, cols);
            const auto ref = pack_codes<reference_layout<Bits>>(cv);
            REQUIRE(ref.size() == group_count(cols) * Bits * rows);
            REQUIRE(unpack_codes<reference_layout<Bits>>(ref, rows, cols) == codes);
            // Row r's stream is qweight[w][r]: each row, read as one LSB-first
            // bit stream over its words, holds its codes in column order.
            const std::size_t wpr = group_count(cols) * Bits;
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t c = 0; c < cols; ++c) {
                    unsigned code = 0;
                    for (int k = 0; k < Bits; ++k) {
                        const std::size_t b = c * Bits + static_cast<std::size_t>(k);
                        code |= ((ref[(b / 32) * rows + r] >> (b % 32)) & 1u) << k;
                    }
                    REQUIRE(code == codes[r * cols + c]);
                }
            REQUIRE(wpr * rows == ref.size());
            // Random access agrees with group decoding.
            for (std::size_t i = 0; i < codes.size(); i += 7)
                REQUIRE(reference_layout<Bits>::get(ref.data(), rows, cols, i / cols, i % cols) == codes[i]);
            // Repacking into the same layout is a copy (its shortcut), size-checked like any other.
            REQUIRE(repack<reference_layout<Bits>, reference_layout<Bits>>(ref, rows, cols) == ref);
            REQUIRE_THROWS_AS((repack<reference_layout<Bits>, reference_layout<Bits>>(
                                  span<const std::uint32_t>(ref.data(), ref.size() - 1), rows, cols)),
                              sqllm::error);
        }
    }
}

TEMPLATE_TEST_CASE_SIG("striped layout: definition, round-trip, lossless repacking", "[pack]", ((int Bits), Bits), 1, 2,
                       3, 4, 5, 6, 7, 8) {
    using S = striped_layout<Bits>;
    rng_t rng(200 + Bits);
    // Row lengths ending in a full 16-lane block, a partial one, an 8-lane
    // block, or several of each.
    for (std::size_t cols : {1u, 33u, 256u, 257u, 512u, 700u, 768u, 1025u, 1300u}) {
        for (std::size_t rows : {1u, 3u}) {
            const auto codes = sqllm_test::random_codes(rng, rows * cols, Bits);
            const matrix_view<const code_t> cv(codes.data(), rows, cols);
            const auto st = pack_codes<S>(cv);
            REQUIRE(st.size() == rows * ((cols + 255) / 256) * 8 * Bits);
            REQUIRE(unpack_codes<S>(st, rows, cols) == codes);
            const auto ref = pack_codes<reference_layout<Bits>>(cv);
            REQUIRE(repack<S, reference_layout<Bits>>(ref, rows, cols) == st);
            REQUIRE(repack<reference_layout<Bits>, S>(st, rows, cols) == ref);
            // The definition, bit by bit: column c0 + L·t + j is bits
            // [Bits·t, Bits·t + Bits) of lane j's stream, stream bit b in
            // word w0 + (b / 32)·L + j.
            const std::size_t padded = (cols + 255) / 256 * 256, wpr = padded / 32 * Bits;
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t c = 0; c < cols; ++c) {
                    const std::size_t c0 = c / 512 * 512;
                    const std::size_t L = c0 + 512 <= padded ? 16 : 8;
                    const std::size_t t = (c - c0) / L, j = (c - c0) % L, w0 = c0 / 32 * Bits;
                    unsigned code = 0;
                    for (int k = 0; k < Bits; ++k) {
                        const std::size_t b = t * Bits + static_cast<std::size_t>(k);
                        code |= ((st[r * wpr + w0 + (b / 32) * L + j] >> (b % 32)) & 1u) << k;
                    }
                    REQUIRE(code == codes[r * cols + c]);
                }
            // Padding columns hold code 0.
            for (std::size_t c = cols; c < padded; ++c) REQUIRE(S::get(st.data(), rows, cols, rows - 1, c) == 0u);
        }
    }
}

TEST_CASE("padding codes of a partial last group are zero", "[pack]") {
    std::vector<code_t> codes(33, 7);
    const auto words = pack_codes<reference_layout<3>>(matrix_view<const code_t>(codes.data(), 1, 33));
    REQUIRE(words.size() == 6);
    REQUIRE(words[3] == 7u);  // code 32 only; codes 33..63 are zero
    REQUIRE(words[4] == 0u);
    REQUIRE(words[5] == 0u);
}

TEST_CASE("bad input to packing", "[pack][errors]") {
    std::vector<code_t> codes(40, 1);
    codes[37] = 8;  // does not fit 3 bits
    REQUIRE(sqllm_test::throws_code(
        [&] { pack_codes<striped_layout<3>>(matrix_view<const code_t>(codes.data(), 1, 40)); }, errc::out_of_range));
    std::vector<std::uint32_t> words(5);  // 3-bit, 40 columns needs 6 words
    REQUIRE(sqllm_test::throws_code([&] { unpack_codes<reference_layout<3>>(words, 1, 40); }, errc::shape_mismatch));
    REQUIRE(sqllm_test::throws_code([&] { repack<striped_layout<3>, reference_layout<3>>(words, 1, 40); },
                                    errc::shape_mismatch));
}

TEMPLATE_TEST_CASE_SIG("repack reference <-> striped: odd shapes, padding codes, executors", "[pack]", ((int Bits), Bits),
                       1, 2, 3, 4, 5, 6, 7, 8) {
    using R = reference_layout<Bits>;
    using S = striped_layout<Bits>;
    rng_t rng(300 + Bits);
    std::uniform_int_distribution<std::uint32_t> word;
    const thread_executor threads(3);
    // Rows around the 16-row tiles of the fast path; columns with a partial
    // last group, partial 16-lane blocks and an 8-lane block.
    for (std::size_t rows : {1u, 15u, 16u, 17u, 33u, 50u}) {
        for (std::size_t cols : {1u, 31u, 33u, 257u, 600u, 4099u}) {
            CAPTURE(rows, cols);
            const std::size_t gcols = group_count(cols) * 32, pcols = striped_geometry::padded_cols(cols);
            // Reference words at random: the padding codes of the last group
            // are not zero, and are carried into the striped words.
            std::vector<std::uint32_t> ref(R::word_count(rows, cols));
            for (auto& w : ref) w = word(rng);
            const auto ref_codes = unpack_codes<R>(ref, rows, gcols);
            const auto st_expected = pack_codes<S>(matrix_view<const code_t>(ref_codes.data(), rows, gcols));
            REQUIRE(st_expected.size() == S::word_count(rows, cols));
            const auto st = repack<S, R>(ref, rows, cols);
            REQUIRE(st == st_expected);
            REQUIRE(repack<S, R>(ref, rows, cols, threads) == st);
            REQUIRE(repack<R, S>(st, rows, cols) == ref);
            REQUIRE(repack<R, S>(st, rows, cols, threads) == ref);
            // Striped words at random: the reference keeps the padding codes
            // of its last group, and drops those past it.
            std::vector<std::uint32_t> st2(S::word_count(rows, cols));
            for (auto& w : st2) w = word(rng);
            const auto st_codes = unpack_codes<S>(st2, rows, pcols);
            std::vector<code_t> kept(rows * gcols);
            for (std::size_t r = 0; r < rows; ++r)
                std::copy_n(st_codes.begin() + static_cast<std::ptrdiff_t>(r * pcols), gcols,
                            kept.begin() + static_cast<std::ptrdiff_t>(r * gcols));
            const auto ref_expected = pack_codes<R>(matrix_view<const code_t>(kept.data(), rows, gcols));
            REQUIRE(ref_expected.size() == R::word_count(rows, cols));
            const auto ref2 = repack<R, S>(st2, rows, cols);
            REQUIRE(ref2 == ref_expected);
            REQUIRE(repack<R, S>(st2, rows, cols, threads) == ref2);
        }
    }
}
