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
    constexpr std::size_t levels = bit_width<Bits>::levels;
    detail::require(rows > 0 && cols > 0, errc::invalid_argument, "import_reference needs rows > 0 and cols > 0");
    // Every size below is a checked product (core/checked.hpp): wrapped, a
    // huge `rows` would pass with short arrays and the repack would write
    // out of bounds.
    const std::size_t expect_lut = checked_mul(rows, levels, "lookup_table size (rows × 2^Bits)");
    if (in.lookup_table.size() != expect_lut) {
        std::string msg = "lookup_table has " + detail::to_string(in.lookup_table.size()) +
                          " values, expected rows × 2^" + detail::to_string(Bits) + " = " +
                          detail::to_string(expect_lut);
        if (in.lookup_table.size() % rows == 0)
            msg += " (it has " + detail::to_string(in.lookup_table.size() / rows) + " entries per row)";
        detail::fail(errc::shape_mismatch, msg);
    }
    const std::size_t expect_words = reference_layout<Bits>::word_count(rows, cols);
    if (in.qweight.size() != expect_words)
        detail::fail(errc::shape_mismatch,
                     "qweight has " + detail::to_string(in.qweight.size()) +
                         " words, expected ceil(cols/32)·Bits·rows = " + detail::to_string(expect_words) + " for " +
                         detail::to_string(rows) + " × " + detail::to_string(cols) + " at " + detail::to_string(Bits) +
                         " bits");
    // Validate the CSR in the checkpoint's own types before converting.
    const reference_csr ref_sparse{in.sparse_rows, in.sparse_cols, in.sparse_vals};
    detail::csr_validate(ref_sparse, rows, cols);

    std::vector<Lut> lut(expect_lut);
    for (std::size_t i = 0; i < lut.size(); ++i) {
        const float v = lut_value_traits<LutIn>::to_float(in.lookup_table[i]);
        if (!std::isfinite(v))
            detail::fail(errc::non_finite,
                         "lookup_table value of row " + detail::to_string(i / levels) + " is NaN or Inf");
        lut[i] = lut_value_traits<Lut>::from_float(v);
        if (!std::isfinite(lut_value_traits<Lut>::to_float(lut[i])))
            detail::fail(errc::out_of_range, "lookup_table value of row " + detail::to_string(i / levels) +
                                                 " overflows the LUT type " + lut_value_traits<Lut>::name);
    }
    const auto* ref_words = reinterpret_cast<const std::uint32_t*>(in.qweight.data());  // int32/uint32 may alias
    auto sparse = sparse_format_traits<Sparse>::from_reference(ref_sparse, rows, cols);  // may throw: before the repack
    auto words = repack<Layout, reference_layout<Bits>>(span<const std::uint32_t>(ref_words, in.qweight.size()), rows,
                                                        cols, exec);
    return quantized_matrix<Bits, Lut, Sparse, Layout>(rows, cols, std::move(lut), std::move(words), std::move(sparse));
}

/// import_reference on the calling thread.
template <int Bits, class Lut = float, class Sparse = default_sparse, class Layout = default_layout<Bits>, class LutIn>
quantized_matrix<Bits, Lut, Sparse, Layout> import_reference(std::size_t rows, std::size_t cols,
                                                             const reference_arrays<LutIn>& in) {
    return import_reference<Bits, Lut, Sparse, Layout>(rows, cols, in, sequential_executor{});
}

SQLLM_NAMESPACE_END
