// sqllm/format/reference_checkpoint.hpp — import from and export to the
// SqueezeLLM reference checkpoint arrays of one linear layer.
//
// The arrays and their names (docs/DESIGN.md §3):
//   qweight       int32  [group_count(cols)·Bits][rows]   codes, reference layout
//   lookup_table  float32 (or fp16 in some ports) [rows][2^Bits]
//   rows          int32  [rows + 1]   CSR row pointers   (all three empty when
//   cols          int32  [nnz]        CSR column indices   the layer is dense-only)
//   vals          float32 [nnz]       residuals
// The reference has no shape fields; `cols` must be supplied on import since
// qweight only fixes it up to a multiple of 32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../core/executor.hpp"
#include "../layout/pack.hpp"
#include "../layout/reference.hpp"
#include "../matrix/quantized_matrix.hpp"
#include "../sparse/format.hpp"

SQLLM_NAMESPACE_BEGIN

/// The reference arrays of one layer, owned.
struct reference_checkpoint {
    std::size_t rows = 0;
    std::size_t cols = 0;
    int bits = 0;
    std::vector<std::int32_t> qweight;
    std::vector<float> lookup_table;
    std::vector<std::int32_t> sparse_rows;  ///< `rows` in the checkpoint; empty when dense-only
    std::vector<std::int32_t> sparse_cols;  ///< `cols` in the checkpoint
    std::vector<float> sparse_vals;         ///< `vals` in the checkpoint
};

/// The reference arrays of one layer, viewed (e.g. from a memory-mapped file).
/// LutIn is float (the reference) or sqllm::half (fp16 ports).
template <class LutIn = float>
struct reference_arrays {
    span<const std::int32_t> qweight;
    span<const LutIn> lookup_table;
    span<const std::int32_t> sparse_rows;  ///< may be empty: no sparse part
    span<const std::int32_t> sparse_cols;
    span<const float> sparse_vals;
};

/// Exports any quantized matrix to the reference arrays: codes repacked to the
/// reference layout, LUT widened to float32 (exact), sparse part as int32/float32 CSR.
template <int Bits, class Lut, class Sparse, class Layout>
reference_checkpoint export_reference(const quantized_view<Bits, Lut, Sparse, Layout>& m) {
    reference_checkpoint out;
    out.rows = m.rows();
    out.cols = m.cols();
    out.bits = Bits;
    const auto words = repack<reference_layout<Bits>, Layout>(span<const std::uint32_t>(m.words(), m.word_count()),
                                                              m.rows(), m.cols());
    out.qweight.resize(words.size());
    for (std::size_t i = 0; i < words.size(); ++i)
        out.qweight[i] = static_cast<std::int32_t>(words[i]);
    out.lookup_table.resize(m.rows() * m.levels);
    for (std::size_t i = 0; i < out.lookup_table.size(); ++i)
        out.lookup_table[i] = lut_value_traits<Lut>::to_float(m.lut()[i]);
    reference_csr_arrays sparse;
    sparse_format_traits<Sparse>::to_reference(m.sparse(), m.rows(), sparse);
    out.sparse_rows = std::move(sparse.rows);
    out.sparse_cols = std::move(sparse.cols);
    out.sparse_vals = std::move(sparse.vals);
    return out;
}

namespace detail {

/// The LUT must hold rows·2^Bits values (a checked product: a wrapped one would let a short LUT pass).
template <int Bits>
void check_lut_size(std::size_t rows, std::size_t cols, std::size_t size, const char* who) {
    if (!(rows > 0 && cols > 0)) detail::fail(errc::invalid_argument, std::string(who) + " needs rows > 0 and cols > 0");
    const std::size_t expect = checked_mul(rows, bit_width<Bits>::levels, "lookup_table size (rows × 2^Bits)");
    if (size != expect) {
        std::string msg = "lookup_table has " + detail::to_string(size) + " values, expected rows × 2^" +
                          detail::to_string(Bits) + " = " + detail::to_string(expect);
        if (size % rows == 0) msg += " (it has " + detail::to_string(size / rows) + " entries per row)";
        detail::fail(errc::shape_mismatch, msg);
    }
}

}  // namespace detail

/// Imports a rows × cols layer whose codes are packed in layout From (e.g. a
/// striped checkpoint's), with the reference's LUT and CSR arrays, into a
/// quantized matrix of the chosen types: codes repacked into Layout in row
/// blocks run through `exec` (core/executor.hpp; a plain copy when From is
/// Layout), LUT values rounded to Lut (exact when Lut can hold them), CSR
/// values rounded to the format's value type. Validates everything first and
/// throws sqllm::error naming the first problem: array sizes against the
/// shape, NaN/Inf, inconsistent CSR arrays, and a sparse part given to a
/// no_sparse matrix. The result is the same for every executor, bit for bit.
template <int Bits, class Lut, class Sparse, class Layout, class From, class LutIn, class Executor>
quantized_matrix<Bits, Lut, Sparse, Layout> import_packed(std::size_t rows, std::size_t cols,
                                                          span<const std::uint32_t> words,
                                                          span<const LutIn> lookup_table, const reference_csr& in_sparse,
                                                          const Executor& exec) {
    static_assert(detail::check_matrix_types<Bits, Lut, Sparse, Layout>::value, "");
    static_assert(is_layout<From>::value && From::bits == Bits, "sqllm: import_packed: From packs another width");
    constexpr std::size_t levels = bit_width<Bits>::levels;
    detail::check_lut_size<Bits>(rows, cols, lookup_table.size(), "import_packed");
    // Every size below is a checked product (core/checked.hpp): wrapped, a
    // huge `rows` would pass with short arrays and the repack would write
    // out of bounds.
    const std::size_t expect_words = From::word_count(rows, cols);
    if (words.size() != expect_words)
        detail::fail(errc::shape_mismatch, "packed codes have " + detail::to_string(words.size()) + " words, the " +
                                               std::string(From::name) + " layout of " + detail::to_string(rows) +
                                               " × " + detail::to_string(cols) + " needs " +
                                               detail::to_string(expect_words));
    // Validate the CSR in the checkpoint's own types before converting.
    detail::csr_validate(in_sparse, rows, cols);

    std::vector<Lut> lut(lookup_table.size());
    for (std::size_t i = 0; i < lut.size(); ++i) {
        const float v = lut_value_traits<LutIn>::to_float(lookup_table[i]);
        if (!std::isfinite(v))
            detail::fail(errc::non_finite,
                         "lookup_table value of row " + detail::to_string(i / levels) + " is NaN or Inf");
        lut[i] = lut_value_traits<Lut>::from_float(v);
        if (!std::isfinite(lut_value_traits<Lut>::to_float(lut[i])))
            detail::fail(errc::out_of_range, "lookup_table value of row " + detail::to_string(i / levels) +
                                                 " overflows the LUT type " + lut_value_traits<Lut>::name);
    }
    auto sparse = sparse_format_traits<Sparse>::from_reference(in_sparse, rows, cols);  // may throw: before the repack
    auto out_words = repack<Layout, From>(words, rows, cols, exec);
    return quantized_matrix<Bits, Lut, Sparse, Layout>(rows, cols, std::move(lut), std::move(out_words),
                                                       std::move(sparse));
}

/// Imports the reference arrays of a rows × cols layer into a quantized
/// matrix of the chosen types: codes repacked into Layout, LUT values rounded
/// to Lut (exact when Lut can hold them), CSR values rounded to the format's
/// value type. Validates everything first and throws sqllm::error naming the
/// first problem: array sizes against the shape, a LUT size that is not
/// rows·2^Bits, NaN/Inf, inconsistent CSR arrays, and a sparse part given
/// to a no_sparse matrix (it would be dropped silently otherwise).
/// The codes are repacked in row blocks run through `exec`
/// (core/executor.hpp), after every check: the result is the same for every
/// executor, bit for bit.
template <int Bits, class Lut = float, class Sparse = default_sparse, class Layout = default_layout<Bits>, class LutIn,
          class Executor>
quantized_matrix<Bits, Lut, Sparse, Layout> import_reference(std::size_t rows, std::size_t cols,
                                                             const reference_arrays<LutIn>& in, const Executor& exec) {
    static_assert(detail::check_matrix_types<Bits, Lut, Sparse, Layout>::value, "");
    detail::check_lut_size<Bits>(rows, cols, in.lookup_table.size(), "import_reference");
    const std::size_t expect_words = reference_layout<Bits>::word_count(rows, cols);
    if (in.qweight.size() != expect_words)
        detail::fail(errc::shape_mismatch,
                     "qweight has " + detail::to_string(in.qweight.size()) +
                         " words, expected ceil(cols/32)·Bits·rows = " + detail::to_string(expect_words) + " for " +
                         detail::to_string(rows) + " × " + detail::to_string(cols) + " at " + detail::to_string(Bits) +
                         " bits");
    const auto* ref_words = reinterpret_cast<const std::uint32_t*>(in.qweight.data());  // int32/uint32 may alias
    return import_packed<Bits, Lut, Sparse, Layout, reference_layout<Bits>>(
        rows, cols, span<const std::uint32_t>(ref_words, in.qweight.size()), in.lookup_table,
        reference_csr{in.sparse_rows, in.sparse_cols, in.sparse_vals}, exec);
}

/// import_reference on the calling thread.
template <int Bits, class Lut = float, class Sparse = default_sparse, class Layout = default_layout<Bits>, class LutIn>
quantized_matrix<Bits, Lut, Sparse, Layout> import_reference(std::size_t rows, std::size_t cols,
                                                             const reference_arrays<LutIn>& in) {
    return import_reference<Bits, Lut, Sparse, Layout>(rows, cols, in, sequential_executor{});
}

SQLLM_NAMESPACE_END
