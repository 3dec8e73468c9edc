// fuzz/fuzz_import_reference.cpp — sqllm::import_reference on arbitrary
// declared shapes and arrays, then gemv and gemm on what imports.
//
// Input (fuzz_common.hpp's reader, front to back):
//   u8 config   which instantiation (below)
//   u8 flags    bit 0: LUT given as fp16; bit 1: array lengths explicit (else
//               computed from the declared shape, with wrapping arithmetic);
//               bit 2: sparse part; bit 3: CSR raw from the input (else built
//               valid, then one entry overwritten when bit 4 is set)
//   size rows, size cols   (reader::size: small, raw 64-bit, or near 2^56..2^64)
//   explicit lengths (u16 each): qweight, lookup_table, rows, cols, vals
//   u32 seed    qweight words past the input's end come from a PRNG seeded by it
//   then the arrays' contents.
// The declared shape goes to the library unchanged, however large: its size
// checks must reject what does not fit. Only the arrays the harness
// allocates are capped (max_array elements each; larger inputs are skipped).
#include <sqllm/sqllm.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <typeinfo>
#include <vector>

#include "check_kernels.hpp"
#include "fuzz_common.hpp"

using namespace sqllm;
using sqllm_fuzz::finding;

namespace {

constexpr std::uint64_t max_array = std::uint64_t(1) << 20;  // elements per harness-made array

struct inputs {
    std::uint64_t rows = 0, cols = 0;
    std::vector<std::int32_t> qweight;
    std::vector<float> lut_f;
    std::vector<half> lut_h;
    bool half_lut = false;
    std::vector<std::int32_t> sp_rows, sp_cols;
    std::vector<float> sp_vals;
};

std::uint32_t xorshift(std::uint32_t& s) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
}

/// Decodes the arrays for a Bits-bit layer; false if the harness would allocate too much.
bool decode(int bits, sqllm_fuzz::reader& in, inputs& d) {
    const std::uint8_t flags = in.u8();
    d.half_lut = flags & 1;
    d.rows = in.size(40);
    d.cols = in.size(300);
    const std::uint64_t levels = std::uint64_t(1) << bits;
    std::uint64_t n_q, n_lut, n_rp = 0, n_nnz = 0, n_vals = 0;
    const bool sparse = flags & 4;
    if (flags & 2) {
        n_q = in.u16();
        n_lut = in.u16();
        n_rp = in.u16();
        n_nnz = in.u16();
        n_vals = in.u16();
        if (!sparse) n_rp = n_nnz = n_vals = 0;
    } else {  // what a naive check computes, wrapping on purpose: the library must not
        n_q = (d.cols + 31) / 32 * static_cast<std::uint64_t>(bits) * d.rows;
        n_lut = d.rows * levels;
        if (sparse) {
            n_rp = d.rows + 1;
            n_nnz = n_vals = in.u8() % 64;
        }
    }
    if (n_q > max_array || n_lut > max_array || n_rp > max_array || n_nnz > max_array || n_vals > max_array)
        return false;
    std::uint32_t seed = in.u32() | 1;
    d.qweight.resize(n_q);
    for (auto& w : d.qweight)
        w = static_cast<std::int32_t>(in.left() >= 4 ? in.u32() : xorshift(seed));
    if (d.half_lut) {
        d.lut_h.resize(n_lut);
        for (auto& v : d.lut_h)
            v = half::from_bits(in.left() >= 2 ? in.u16() : static_cast<std::uint16_t>(xorshift(seed) & 0x3fff));
    } else {
        d.lut_f.resize(n_lut);
        for (auto& v : d.lut_f)
            v = in.left() >= 4 ? in.f32() : static_cast<float>(static_cast<int>(xorshift(seed) % 201) - 100) / 64.0f;
    }
    if (!sparse) return true;
    if (flags & 8) {  // raw
        d.sp_rows.resize(n_rp);
        for (auto& v : d.sp_rows)
            v = static_cast<std::int32_t>(in.u32());
        d.sp_cols.resize(n_nnz);
        for (auto& v : d.sp_cols)
            v = static_cast<std::int32_t>(in.u32());
        d.sp_vals.resize(n_vals);
        for (auto& v : d.sp_vals)
            v = in.f32();
        return true;
    }
    // Built valid (as far as the declared shape allows): per row a few increasing columns.
    d.sp_rows.assign(n_rp, 0);
    std::int64_t nnz = 0;
    for (std::size_t r = 1; r < n_rp; ++r) {
        std::int64_t c = -1;
        const int k = in.u8() % 4;
        for (int j = 0; j < k && nnz < static_cast<std::int64_t>(max_array); ++j) {
            c += 1 + in.u8() % 8;
            if (static_cast<std::uint64_t>(c) >= d.cols) break;
            d.sp_cols.push_back(static_cast<std::int32_t>(c));
            d.sp_vals.push_back(static_cast<float>(static_cast<std::int8_t>(in.u8())) / 8.0f);
            ++nnz;
        }
        d.sp_rows[r] = static_cast<std::int32_t>(nnz);
    }
    if (flags & 16) {  // one entry overwritten with a raw value
        const std::uint8_t which = in.u8() % 3;
        std::vector<std::int32_t>& a = which == 0 ? d.sp_rows : d.sp_cols;
        if (which < 2 && !a.empty())
            a[in.u16() % a.size()] = static_cast<std::int32_t>(in.u32());
        else if (!d.sp_vals.empty())
            d.sp_vals[in.u16() % d.sp_vals.size()] = in.f32();
    }
    return true;
}

template <int Bits, class Lut, class Sparse, class Layout, class LutIn>
void run(const inputs& d, span<const LutIn> lut, sqllm_fuzz::reader& in) {
    const std::size_t rows = d.rows, cols = d.cols;
    const reference_arrays<LutIn> arrays{d.qweight, lut, d.sp_rows, d.sp_cols, d.sp_vals};
    quantized_matrix<Bits, Lut, Sparse, Layout> m;
    try {
        m = import_reference<Bits, Lut, Sparse, Layout>(rows, cols, arrays);
    } catch (const error&) {
        return;  // rejected: the only acceptable exception
    }
    // It imported: the arrays really fit the declared shape (exact arithmetic).
    using u128 = unsigned __int128;
    const u128 levels = u128(1) << Bits;
    if (u128(rows) * levels != lut.size())
        finding("import_reference accepted a " + std::to_string(lut.size()) + "-value LUT for " +
                std::to_string(rows) + " rows at " + std::to_string(Bits) + " bits");
    if ((u128(cols) + 31) / 32 * Bits * rows != d.qweight.size())
        finding("import_reference accepted " + std::to_string(d.qweight.size()) + " qweight words for " +
                std::to_string(rows) + " x " + std::to_string(cols) + " at " + std::to_string(Bits) + " bits");
    SQLLM_FUZZ_CHECK(m.rows() == rows && m.cols() == cols, "imported shape differs from the declared one");
    const auto v = m.view();
    // Codes: every (r, c) is the checkpoint's code.
    const auto* words = reinterpret_cast<const std::uint32_t*>(d.qweight.data());
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c)
            if (v.code(r, c) != reference_layout<Bits>::get(words, rows, cols, r, c))
                finding("imported code (" + std::to_string(r) + ", " + std::to_string(c) + ") differs from qweight's");
    // Export and import again: the same matrix.
    const reference_checkpoint ck = export_reference(v);
    SQLLM_FUZZ_CHECK(ck.rows == rows && ck.cols == cols && ck.bits == Bits, "export_reference changed the shape");
    for (std::size_t i = 0; i < ck.lookup_table.size(); ++i)
        SQLLM_FUZZ_CHECK(sqllm_fuzz::same_bits(ck.lookup_table[i], lut_value_traits<Lut>::to_float(m.lut()[i])),
                         "export_reference changed LUT value " + std::to_string(i));
    const auto m2 = import_reference<Bits, Lut, Sparse, Layout>(
        rows, cols,
        reference_arrays<float>{ck.qweight, ck.lookup_table, ck.sparse_rows, ck.sparse_cols, ck.sparse_vals});
    SQLLM_FUZZ_CHECK(m2.words() == m.words(), "export + import changed the packed codes");
    SQLLM_FUZZ_CHECK(m2.lut() == m.lut(), "export + import changed the LUT");
    const reference_checkpoint ck2 = export_reference(m2.view());
    SQLLM_FUZZ_CHECK(ck2.qweight == ck.qweight && ck2.sparse_rows == ck.sparse_rows &&
                         ck2.sparse_cols == ck.sparse_cols && ck2.sparse_vals == ck.sparse_vals,
                     "export + import changed the sparse part");
    sqllm_fuzz::check_kernels(v, in, typeid(m).name());
}

template <int Bits, class Lut, class Sparse, class Layout>
void run_config(sqllm_fuzz::reader& in) {
    inputs d;
    if (!decode(Bits, in, d)) return;
    if (d.half_lut)
        run<Bits, Lut, Sparse, Layout, half>(d, span<const half>(d.lut_h), in);
    else
        run<Bits, Lut, Sparse, Layout, float>(d, span<const float>(d.lut_f), in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sqllm_fuzz::reader in(data, size);
    try {
        switch (in.u8() % 4) {
            case 0:  // the defaults, 3 bits
                run_config<3, float, csr<>, striped_layout<3>>(in);
                break;
            case 1:  // fp16 LUT and CSR values, int16 CSR indices, the checkpoint's own layout
                run_config<4, half, csr<half, std::int16_t>, reference_layout<4>>(in);
                break;
            case 2:  // dense only: a sparse part must be refused
                run_config<4, float, no_sparse, striped_layout<4>>(in);
                break;
            default:  // 6 bits (codes straddle words), bf16 LUT, nonzero-split CSR
                run_config<6, bfloat16, balanced_csr<>, striped_layout<6>>(in);
                break;
        }
    } catch (const sqllm::error& e) {
        finding(std::string("sqllm::error escaped where the harness expected none: ") + e.what());
    } catch (const std::exception& e) {
        finding(std::string("non-sqllm exception ") + typeid(e).name() + ": " + e.what());
    }
    return 0;
}
