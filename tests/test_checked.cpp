// Size arithmetic on external numbers (core/checked.hpp) and every place that
// uses it: shapes whose products wrap at 2^31, 2^32, 2^63 or SIZE_MAX, and
// narrowing of sparse indices, give sqllm::error instead of a short
// allocation, an out-of-bounds write or a truncated index.
#include <sqllm/core/checked.hpp>
#include <sqllm/format/reference_checkpoint.hpp>
#include <sqllm/sqllm.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

using namespace sqllm;
using sqllm_test::throws_code;

namespace {
constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();
constexpr std::size_t p31 = std::size_t(1) << 31, p32 = std::size_t(1) << 32, p62 = std::size_t(1) << 62,
                      p63 = std::size_t(1) << 63;

template <class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const sqllm::error& e) {
        return e.what();
    }
    return "(no error)";
}
}  // namespace

TEST_CASE("checked_mul and checked_add: exact up to the boundary, an error past it", "[checked]") {
    static_assert(sizeof(std::size_t) == 8, "these boundaries are for 64-bit size_t");
    CHECK(checked_mul(p31, p32, "x") == p63);
    CHECK(checked_mul(p32 - 1, p32 + 1, "x") == size_max);  // (2^32 − 1)(2^32 + 1) = 2^64 − 1
    CHECK(checked_mul(0, size_max, "x") == 0);
    CHECK(checked_mul(size_max, 1, "x") == size_max);
    CHECK(throws_code([] { (void)checked_mul(p32, p32, "x"); }, errc::out_of_range));
    CHECK(throws_code([] { (void)checked_mul(p63, 2, "x"); }, errc::out_of_range));
    CHECK(throws_code([] { (void)checked_mul(size_max, 2, "x"); }, errc::out_of_range));
    CHECK(throws_code([] { (void)checked_mul(p31, p31, 4, "x"); }, errc::out_of_range));
    CHECK(checked_add(size_max - 1, 1, "x") == size_max);
    CHECK(throws_code([] { (void)checked_add(size_max, 1, "x"); }, errc::out_of_range));
    CHECK(throws_code([] { (void)checked_add(p63, p63, "x"); }, errc::out_of_range));
    CHECK(message_of([] { (void)checked_mul(p32, p32, "LUT size"); }).find("LUT size") != std::string::npos);
}

TEST_CASE("checked_narrow: every integer conversion keeps the value or throws with it", "[checked]") {
    CHECK(checked_narrow<std::int16_t>(32767, "c") == 32767);
    CHECK(checked_narrow<std::int16_t>(-32768, "c") == -32768);
    CHECK(throws_code([] { (void)checked_narrow<std::int16_t>(65546, "c"); }, errc::out_of_range));
    CHECK(throws_code([] { (void)checked_narrow<std::int32_t>(p31, "c"); }, errc::out_of_range));
    CHECK(throws_code([] { (void)checked_narrow<std::int32_t>(std::int64_t(p32) + 5, "c"); }, errc::out_of_range));
    CHECK(throws_code([] { (void)checked_narrow<std::size_t>(-1, "c"); }, errc::out_of_range));
    CHECK(throws_code([] { (void)checked_narrow<std::int64_t>(size_max, "c"); }, errc::out_of_range));
    CHECK(checked_narrow<std::int64_t>(p63 - 1, "c") == std::numeric_limits<std::int64_t>::max());
    // The message shows the value as it was, not as it would have wrapped (39999 → −25537).
    const std::string m = message_of([] { (void)checked_narrow<std::int16_t>(std::size_t(39999), "CSR column"); });
    CHECK(m.find("39999") != std::string::npos);
    CHECK(m.find("-25537") == std::string::npos);
}

TEST_CASE("layout sizes cannot wrap", "[checked]") {
    // (cols + 31) / 32 was 0 for cols near SIZE_MAX.
    CHECK(group_count(size_max) == size_max / 32 + 1);
    CHECK(group_count(size_max - 31) == size_max / 32);  // 2^64 − 32: whole groups
    CHECK(group_count(p63) == p63 / 32);
    CHECK(reference_layout<3>::word_count(1, size_max) == (size_max / 32 + 1) * 3);
    CHECK(throws_code([] { (void)reference_layout<2>::word_count(p62 + 1, 64); }, errc::out_of_range));
    CHECK(throws_code([] { (void)reference_layout<8>::word_count(p32, p63); }, errc::out_of_range));
    CHECK(throws_code([] { (void)striped_layout<4>::word_count(p32, p63); }, errc::out_of_range));
    CHECK(throws_code([] { (void)striped_layout<4>::padded_cols(size_max); }, errc::out_of_range));
    CHECK(throws_code([] { (void)striped_layout<4>::word_count(1, size_max - 100); }, errc::out_of_range));
    CHECK(striped_layout<4>::padded_cols(size_max - 255) == size_max - 255);  // a multiple of 256 already
}

TEST_CASE("import_reference and quantized_view: wrapped shapes are errors, not short arrays", "[checked]") {
    // The probe's case: rows = 2^62 + 1 at 2 bits and 64 columns "needs" 4 LUT
    // values and 4 words once the products wrap; it then packed out of bounds.
    const std::vector<float> lut(4, 0.5f);
    const std::vector<std::int32_t> qweight(4, 0x1234);
    const reference_arrays<float> in{qweight, lut, {}, {}, {}};
    for (std::size_t rows : {p62 + 1, p63 + 1, p32 * p31, size_max, size_max / 2 + 1}) {
        CAPTURE(rows);
        CHECK(throws_code([&] { (void)import_reference<2>(rows, 64, in); }, errc::out_of_range));
        CHECK(throws_code([&] { (void)import_reference<2, float, csr<>, reference_layout<2>>(rows, 64, in); },
                          errc::out_of_range));
        CHECK(throws_code(
            [&] {
                (void)quantized_view<2, float, no_sparse, reference_layout<2>>(
                    rows, 64, lut, span<const std::uint32_t>(reinterpret_cast<const std::uint32_t*>(qweight.data()), 4));
            },
            errc::out_of_range));
    }
    // Columns near SIZE_MAX: the word count no longer wraps to 0.
    for (std::size_t cols : {size_max, size_max - 31, p63 + 7}) {
        CAPTURE(cols);
        const std::vector<float> lut1(4, 0.5f);
        CHECK_THROWS_AS(import_reference<2>(1, cols, reference_arrays<float>{{}, lut1, {}, {}, {}}), sqllm::error);
        CHECK_THROWS_AS((quantized_view<2, float, no_sparse>(1, cols, lut1, {})), sqllm::error);
    }
    // A CSR row pointer count of rows + 1 wrapped to 0 for rows = SIZE_MAX.
    const std::vector<std::int32_t> cols_idx{0};
    const std::vector<float> vals{1.0f};
    CHECK_THROWS_AS(import_reference<2>(size_max, 64, reference_arrays<float>{qweight, lut, {}, cols_idx, vals}),
                    sqllm::error);
}

TEST_CASE("quantize, unpack and dequantize check rows × cols before touching memory", "[checked]") {
    const float w = 1.0f;
    for (auto shape : {std::make_pair(p32, p32), std::make_pair(p63, std::size_t(2)), std::make_pair(size_max, size_max)}) {
        const matrix_view<const float> W(&w, shape.first, shape.second);
        CHECK(throws_code([&] { (void)quantize<3>(W, {}); }, errc::out_of_range));
        std::vector<unsigned char> mask;
        sparse_options o;
        o.outlier_fraction = 0.01;
        CHECK(throws_code([&] { (void)select_sparse(W, {}, o, mask); }, errc::out_of_range));
    }
    const std::uint32_t word = 0;
    CHECK_THROWS_AS(unpack_codes<reference_layout<3>>(span<const std::uint32_t>(&word, 1), p32, p32), sqllm::error);
}

TEST_CASE("narrow CSR index types: no silent truncation on import, quantize or export", "[checked]") {
    // csr<float, int16_t>: column 65546 used to become 10 on import and quantize.
    const std::size_t rows = 2, cols = 65547;
    std::vector<float> W(rows * cols);
    for (std::size_t i = 0; i < W.size(); ++i)
        W[i] = 0.001f * static_cast<float>(i % 7);
    W[65546] = 100.0f;
    W[cols + 39999] = -50.0f;
    quantize_options opt;
    opt.sparse.outlier_fraction = 2e-5;  // the two largest |w|
    const matrix_view<const float> Wv(W.data(), rows, cols);
    const std::string m = message_of([&] { (void)quantize<3, float, csr<float, std::int16_t>>(Wv, {}, opt); });
    CHECK(m.find("out of range") != std::string::npos);
    CHECK(m.find("65546") != std::string::npos);

    const auto q32 = quantize<3>(Wv, {}, opt);
    REQUIRE(q32.view().nonzeros() == 2);
    const auto ref = export_reference(q32.view());
    const reference_arrays<float> in{ref.qweight, ref.lookup_table, ref.sparse_rows, ref.sparse_cols, ref.sparse_vals};
    const std::string mi = message_of([&] { (void)import_reference<3, float, csr<float, std::int16_t>>(rows, cols, in); });
    CHECK(mi.find("out of range") != std::string::npos);
    CHECK(mi.find("65546") != std::string::npos);
    CHECK_THROWS_AS((import_reference<3, float, balanced_csr<float, std::int16_t>>(rows, cols, in)), sqllm::error);
    // int32 is wide enough: the same arrays import, and gemv agrees with the int32 original.
    const auto back = import_reference<3>(rows, cols, in);
    CHECK(back.view().sparse().col_idx[0] == 65546);

    // Export of a 64-bit-index CSR to the reference's int32 arrays.
    using wide = csr<float, std::int64_t>;
    const std::vector<std::int64_t> rp{0, 1}, ci{std::int64_t(p31) + 5};
    const std::vector<float> va{2.0f};
    const csr_view<float, std::int64_t> big{rp, ci, va};
    reference_csr_arrays out;
    const std::string me = message_of([&] { sparse_format_traits<wide>::to_reference(big, 1, out); });
    CHECK(me.find(std::to_string(p31 + 5)) != std::string::npos);
}

TEST_CASE("quantize with a sparse part: columns past 2^32 are refused, not truncated", "[checked]") {
    const float w = 1.0f;
    quantize_options o;
    o.sparse.outlier_fraction = 0.01;
    const std::string m = message_of([&] { (void)quantize<3>(matrix_view<const float>(&w, 1, p32 + 2), {}, o); });
    CHECK(m.find("out of range") != std::string::npos);
    CHECK(m.find(std::to_string(p32 + 1)) != std::string::npos);
}
