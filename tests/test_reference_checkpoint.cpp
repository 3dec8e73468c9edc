// Import from / export to the SqueezeLLM reference arrays: lossless round
// trips for every Bits × LUT type, and a clear error for each inconsistency.
#include <sqllm/format/reference_checkpoint.hpp>

#include "catch.hpp"
#include "test_util.hpp"

using namespace sqllm;
using sqllm_test::rng_t;
using sqllm_test::throws_code;

namespace {

template <class T>
std::vector<std::uint16_t> bit_patterns(const std::vector<T>& v) {
    std::vector<std::uint16_t> out;
    for (const auto& x : v)
        out.push_back(x.bits);
    return out;
}
const std::vector<float>& bit_patterns(const std::vector<float>& v) { return v; }

template <int Bits, class Lut>
quantized_matrix<Bits, Lut> random_matrix(rng_t& rng, std::size_t rows, std::size_t cols, double density) {
    const auto codes = sqllm_test::random_codes(rng, rows * cols, Bits);
    return quantized_matrix<Bits, Lut>(rows, cols, sqllm_test::random_lut<Lut>(rng, rows, 1 << Bits),
                                       pack_codes<default_layout<Bits>>({codes.data(), rows, cols}),
                                       sqllm_test::random_csr<float, std::int32_t>(rng, rows, cols, density));
}

template <class LutIn>
reference_arrays<LutIn> arrays_of(const reference_checkpoint& ck, const std::vector<LutIn>& lut) {
    return {ck.qweight, lut, ck.sparse_rows, ck.sparse_cols, ck.sparse_vals};
}

}  // namespace

TEMPLATE_TEST_CASE_SIG("every Bits × LUT type round-trips through the reference arrays", "[reference]",
                       ((int Bits, class Lut), Bits, Lut), (2, float), (3, float), (4, float), (8, float), (2, half),
                       (3, half), (4, half), (8, half), (2, bfloat16), (3, bfloat16), (4, bfloat16), (8, bfloat16),
                       (1, float), (5, half), (6, bfloat16), (7, float)) {
    rng_t rng(7 * Bits);
    for (auto shape : {std::pair<std::size_t, std::size_t>{37, 100}, {1, 33}, {129, 257}, {5, 32}}) {
        const auto q = random_matrix<Bits, Lut>(rng, shape.first, shape.second, 0.02);
        const auto ck = export_reference(q.view());
        REQUIRE(ck.bits == Bits);
        REQUIRE(ck.qweight.size() == group_count(shape.second) * Bits * shape.first);
        REQUIRE(ck.lookup_table.size() == shape.first * (1u << Bits));
        REQUIRE(ck.sparse_rows.size() == shape.first + 1);
        const auto back = import_reference<Bits, Lut>(shape.first, shape.second, arrays_of(ck, ck.lookup_table));
        REQUIRE(back.words() == q.words());
        REQUIRE(bit_patterns(back.lut()) == bit_patterns(q.lut()));
        REQUIRE(back.sparse().row_ptr == q.sparse().row_ptr);
        REQUIRE(back.sparse().col_idx == q.sparse().col_idx);
        REQUIRE(back.sparse().values == q.sparse().values);
        // Into the reference layout itself (a view over the checkpoint is then possible) and back.
        const auto as_ref = import_reference<Bits, Lut, csr<>, reference_layout<Bits>>(shape.first, shape.second,
                                                                                       arrays_of(ck, ck.lookup_table));
        REQUIRE(export_reference(as_ref.view()).qweight == ck.qweight);
    }
}

TEST_CASE("an fp16 lookup_table imports", "[reference]") {
    rng_t rng(3);
    const auto q = random_matrix<3, half>(rng, 9, 40, 0.05);
    const auto ck = export_reference(q.view());
    std::vector<half> lut16;
    for (float v : ck.lookup_table)
        lut16.push_back(half(v));
    const auto back = import_reference<3, half>(9, 40, arrays_of(ck, lut16));
    REQUIRE(bit_patterns(back.lut()) == bit_patterns(q.lut()));
}

TEST_CASE("a dense-only checkpoint (no CSR arrays) imports, into either sparse format", "[reference]") {
    rng_t rng(4);
    auto ck = export_reference(random_matrix<4, float>(rng, 6, 64, 0.0).view());
    ck.sparse_rows.clear();
    const auto a = import_reference<4, float, no_sparse>(6, 64, arrays_of(ck, ck.lookup_table));
    const auto b = import_reference<4, float, csr<>>(6, 64, arrays_of(ck, ck.lookup_table));
    REQUIRE(a.storage_bytes() == b.storage_bytes());
    // Codes in the default (striped) layout, padded to 256 columns, and the LUT.
    REQUIRE(a.storage_bytes() == default_layout<4>::word_count(6, 64) * 4 + 6 * 16 * 4);
    REQUIRE(default_layout<4>::word_count(6, 64) == 6 * 256 / 32 * 4);
}

TEST_CASE("a viewed reference checkpoint multiplies like the imported one", "[reference]") {
    rng_t rng(5);
    const auto q = random_matrix<3, float>(rng, 21, 70, 0.03);
    const auto ck = export_reference(q.view());
    const quantized_view<3, float, csr<>, reference_layout<3>> v(
        21, 70, ck.lookup_table,
        span<const std::uint32_t>(reinterpret_cast<const std::uint32_t*>(ck.qweight.data()), ck.qweight.size()),
        csr_view<float, std::int32_t>{ck.sparse_rows, ck.sparse_cols, ck.sparse_vals});
    const auto x = sqllm_test::random_normal(rng, 70);
    std::vector<float> y1(21), y2(21);
    reference::gemv(q.view(), x, y1);  // the oracle on both layouts:
    reference::gemv(v, x, y2);
    REQUIRE(y1 == y2);  // same arithmetic in the same order
    // The view holds exactly the checkpoint's arrays; the imported copy pads rows to 256 columns.
    REQUIRE(v.storage_bytes() ==
            (ck.qweight.size() + ck.lookup_table.size() + ck.sparse_vals.size()) * 4 +
                (ck.sparse_rows.size() + ck.sparse_cols.size()) * 4);
    REQUIRE(q.storage_bytes() - v.storage_bytes() ==
            (default_layout<3>::word_count(21, 70) - reference_layout<3>::word_count(21, 70)) * 4);
    // And every target's kernels agree with the oracle on the view.
    for (target_id t : all_targets) {
        if (!target_supported(t)) continue;
        std::vector<float> y3(21);
        gemv(t, v, x, y3);
        for (std::size_t r = 0; r < 21; ++r) REQUIRE(std::fabs(y3[r] - y1[r]) <= 1e-4f * (1.0f + std::fabs(y1[r])));
    }
}

TEST_CASE("bad reference arrays give a clear error", "[reference][errors]") {
    rng_t rng(6);
    const auto ck = export_reference(random_matrix<3, float>(rng, 8, 64, 0.1).view());
    REQUIRE(!ck.sparse_cols.empty());
    auto imp = [&](const reference_checkpoint& c, std::size_t rows = 8, std::size_t cols = 64) {
        return import_reference<3, float>(rows, cols, arrays_of(c, c.lookup_table));
    };
    REQUIRE_NOTHROW(imp(ck));

    SECTION("LUT with 16 entries per row for 3 bits") {
        auto c = ck;
        c.lookup_table.resize(8 * 16);
        REQUIRE(throws_code([&] { imp(c); }, errc::shape_mismatch));
        try {
            imp(c);
        } catch (const error& e) {
            REQUIRE(std::string(e.what()).find("lookup_table") != std::string::npos);
        }
    }
    SECTION("qweight of the wrong size") {
        auto c = ck;
        c.qweight.pop_back();
        REQUIRE(throws_code([&] { imp(c); }, errc::shape_mismatch));
        REQUIRE(throws_code([&] { imp(ck, 8, 100); }, errc::shape_mismatch));  // cols disagree with qweight
    }
    SECTION("NaN or Inf in the LUT") {
        auto c = ck;
        c.lookup_table[5] = std::numeric_limits<float>::quiet_NaN();
        REQUIRE(throws_code([&] { imp(c); }, errc::non_finite));
        c.lookup_table[5] = std::numeric_limits<float>::infinity();
        REQUIRE(throws_code([&] { imp(c); }, errc::non_finite));
    }
    SECTION("a LUT value that overflows fp16") {
        auto c = ck;
        c.lookup_table[0] = 1e6f;
        REQUIRE(
            throws_code([&] { import_reference<3, half>(8, 64, arrays_of(c, c.lookup_table)); }, errc::out_of_range));
    }
    SECTION("row pointers not monotone") {
        auto c = ck;
        c.sparse_rows[2] = c.sparse_rows[3] + 1;  // row 2 would end before it starts
        REQUIRE(throws_code([&] { imp(c); }, errc::corrupt_data));
    }
    SECTION("row pointers of the wrong length or not starting at zero") {
        auto c = ck;
        c.sparse_rows.pop_back();
        REQUIRE(throws_code([&] { imp(c); }, errc::corrupt_data));
        c = ck;
        c.sparse_rows[0] = 1;
        REQUIRE(throws_code([&] { imp(c); }, errc::corrupt_data));
    }
    SECTION("a middle row pointer beyond nnz") {
        auto c = ck;
        c.sparse_rows[1] = static_cast<std::int32_t>(c.sparse_cols.size() + 100);
        REQUIRE(throws_code([&] { imp(c); }, errc::corrupt_data));
    }
    SECTION("column index out of range") {
        auto c = ck;
        c.sparse_cols.back() = 64;
        REQUIRE(throws_code([&] { imp(c); }, errc::out_of_range));
        c.sparse_cols.back() = -1;
        REQUIRE(throws_code([&] { imp(c); }, errc::out_of_range));
    }
    SECTION("nnz mismatch") {
        auto c = ck;
        c.sparse_vals.pop_back();
        REQUIRE(throws_code([&] { imp(c); }, errc::corrupt_data));
        c = ck;
        c.sparse_rows.back() -= 1;
        REQUIRE(throws_code([&] { imp(c); }, errc::corrupt_data));
    }
    SECTION("duplicate columns in a row") {
        auto c = ck;
        std::size_t r = 0;
        while (c.sparse_rows[r + 1] - c.sparse_rows[r] < 2)
            ++r;
        c.sparse_cols[static_cast<std::size_t>(c.sparse_rows[r]) + 1] =
            c.sparse_cols[static_cast<std::size_t>(c.sparse_rows[r])];
        REQUIRE(throws_code([&] { imp(c); }, errc::corrupt_data));
    }
    SECTION("NaN sparse value") {
        auto c = ck;
        c.sparse_vals[0] = std::numeric_limits<float>::quiet_NaN();
        REQUIRE(throws_code([&] { imp(c); }, errc::non_finite));
    }
    SECTION("sparse values into a dense-only matrix type") {
        REQUIRE(throws_code([&] { import_reference<3, float, no_sparse>(8, 64, arrays_of(ck, ck.lookup_table)); },
                            errc::invalid_argument));
    }
    SECTION("empty shape") {
        REQUIRE(throws_code([&] { imp(ck, 0, 64); }, errc::invalid_argument));
    }
}
