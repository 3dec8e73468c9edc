// sqllm/sparse/csr_arrays.hpp — compressed sparse rows: the three arrays, as a
// view over caller memory and as owning storage, and what can be done with
// them one row range at a time. The format tag that puts them in a quantized
// matrix, with its multiply schedule, is sparse/csr.hpp.
//
// The reference stores `rows` int32 [rows+1], `cols` int32 [nnz] and `vals`
// float32 [nnz]; csr_view<float, std::int32_t> views exactly that.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../core/span.hpp"
#include "packed_batch.hpp"
#include "../error.hpp"
#include "../types/lut_value.hpp"

SQLLM_NAMESPACE_BEGIN

/// Non-owning CSR over caller memory (e.g. a memory-mapped checkpoint).
template <class Value = float, class Index = std::int32_t>
struct csr_view {
    using value_type = Value;
    using index_type = Index;
    span<const Index> row_ptr;  ///< rows + 1 offsets, row_ptr[0] == 0, non-decreasing; or all arrays empty
    span<const Index> col_idx;  ///< nnz column indices, each in [0, cols)
    span<const Value> values;   ///< nnz values
};

/// Owning CSR. Build it row by row with push_back/end_row, or fill the vectors.
template <class Value = float, class Index = std::int32_t>
struct csr_storage {
    std::vector<Index> row_ptr;  ///< empty (with the others) means no entries; else rows + 1 offsets
    std::vector<Index> col_idx;
    std::vector<Value> values;

    /// Appends an entry to the current row. Throws sqllm::error(out_of_range)
    /// if the column or the entry count does not fit Index.
    void push_back(std::size_t col, Value v) {
        const Index c = checked_narrow<Index>(col, "CSR column");
        (void)checked_narrow<Index>(col_idx.size() + 1, "CSR entry count");  // end_row stores it
        col_idx.push_back(c);
        values.push_back(v);
    }
    /// Closes the current row (call once per row, in order, empty rows included).
    void end_row() {
        if (row_ptr.empty()) row_ptr.push_back(0);
        row_ptr.push_back(static_cast<Index>(col_idx.size()));
    }

    csr_view<Value, Index> view() const noexcept { return {row_ptr, col_idx, values}; }
};

namespace detail {

/// Checks a CSR against a rows × cols matrix: array lengths, monotone row
/// pointers that start at 0 and end at nnz, columns in range and strictly
/// increasing within a row (no duplicates), finite values. Three empty
/// arrays are a valid CSR without entries.
template <class Value, class Index>
void csr_validate(const csr_view<Value, Index>& s, std::size_t rows, std::size_t cols) {
    const std::size_t nnz = s.col_idx.size();
    if (s.row_ptr.empty() && nnz == 0 && s.values.empty()) return;
    if (nnz > static_cast<std::size_t>(std::numeric_limits<Index>::max()))
        fail(errc::out_of_range, "CSR has more nonzeros than its index type can address");
    if (!(s.row_ptr.size() == checked_add(rows, 1, "CSR row pointer count (rows + 1)")))
        fail(errc::corrupt_data, "CSR row pointer array has " + detail::to_string(s.row_ptr.size()) +
                                     " entries, expected rows + 1 = " + detail::to_string(rows + 1));
    if (!(s.values.size() == nnz))
        fail(errc::corrupt_data, "CSR has " + detail::to_string(nnz) + " column indices but " +
                                     detail::to_string(s.values.size()) + " values");
    require(s.row_ptr[0] == 0, errc::corrupt_data, "CSR row pointers must start at 0");
    if (!(static_cast<std::size_t>(s.row_ptr[rows]) == nnz && s.row_ptr[rows] >= 0))
        fail(errc::corrupt_data, "CSR last row pointer is " +
                                     detail::to_string(static_cast<long long>(s.row_ptr[rows])) +
                                     ", expected nnz = " + detail::to_string(nnz));
    for (std::size_t r = 0; r < rows; ++r) {
        const Index b = s.row_ptr[r], e = s.row_ptr[r + 1];
        if (!(b <= e)) fail(errc::corrupt_data, "CSR row pointers decrease at row " + detail::to_string(r));
        if (!(static_cast<std::size_t>(e) <= nnz))
            fail(errc::corrupt_data, "CSR row pointer of row " + detail::to_string(r + 1) + " exceeds nnz");
        for (Index i = b; i < e; ++i) {
            const Index c = s.col_idx[static_cast<std::size_t>(i)];
            if (!(c >= 0 && static_cast<std::size_t>(c) < cols))
                fail(errc::out_of_range, "CSR column index " + detail::to_string(static_cast<long long>(c)) +
                                             " in row " + detail::to_string(r) + " is outside [0, " +
                                             detail::to_string(cols) + ")");
            if (!(i == b || s.col_idx[static_cast<std::size_t>(i) - 1] < c))
                fail(errc::corrupt_data, "CSR columns of row " + detail::to_string(r) + " are not strictly increasing");
            if (!(std::isfinite(lut_value_traits<Value>::to_float(s.values[static_cast<std::size_t>(i)]))))
                fail(errc::non_finite, "CSR value in row " + detail::to_string(r) + " is NaN or Inf");
        }
    }
}

template <class Value, class Index>
std::size_t csr_storage_bytes(const csr_view<Value, Index>& s) noexcept {
    return s.row_ptr.size() * sizeof(Index) + s.col_idx.size() * (sizeof(Index) + sizeof(Value));  // 0 when empty
}

/// Prefetches the entries (columns and values) of rows [row_begin, row_end):
/// the multiplies call it for the slice of rows after theirs
/// (kernels/row_blocks.hpp: sparse_slice_rows), so that those entries arrive
/// while that slice's dense rows run instead of after.
template <class Value, class Index>
void csr_prefetch_rows(const csr_view<Value, Index>& s, std::size_t row_begin, std::size_t row_end) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    if (row_begin >= row_end || row_end >= s.row_ptr.size()) return;
    const auto i0 = static_cast<std::size_t>(s.row_ptr[row_begin]), i1 = static_cast<std::size_t>(s.row_ptr[row_end]);
    const auto* c = reinterpret_cast<const char*>(s.col_idx.data());
    const auto* v = reinterpret_cast<const char*>(s.values.data());
    for (std::size_t b = i0 * sizeof(Index); b < i1 * sizeof(Index); b += 64) __builtin_prefetch(c + b, 0, 3);
    for (std::size_t b = i0 * sizeof(Value); b < i1 * sizeof(Value); b += 64) __builtin_prefetch(v + b, 0, 3);
#else
    (void)s, (void)row_begin, (void)row_end;
#endif
}

/// y[r] += Σ_{(r,c,v)} v·x[c] for r in [row_begin, row_end), in stored order
/// (the bits balanced_csr's split multiply gives too). The next rows'
/// entries are prefetched first.
template <class Value, class Index>
void csr_gemv_rows(const csr_view<Value, Index>& s, const float* x, float* y, std::size_t row_begin,
                   std::size_t row_end) noexcept {
    if (s.row_ptr.empty()) return;
    csr_prefetch_rows(s, row_end, std::min(row_end + (row_end - row_begin), s.row_ptr.size() - 1));
    for (std::size_t r = row_begin; r < row_end; ++r) {
        float acc = y[r];
        for (Index i = s.row_ptr[r]; i < s.row_ptr[r + 1]; ++i) {
            const auto k = static_cast<std::size_t>(i);
            acc += lut_value_traits<Value>::to_float(s.values[k]) * x[static_cast<std::size_t>(s.col_idx[k])];
        }
        y[r] = acc;
    }
}

/// Rows [row_begin, row_end) of a batched multiply for a group of nb <= 8
/// vectors: per row, acc[j] = y[j][r], then add_term(c, v, acc) adding
/// v·X(j, c) into acc[j] for each entry in stored order (csr_gemv_rows's
/// bits per vector), then y[j][r] = acc[j].
template <class Value, class Index, class AddTerm>
void csr_group_rows(const csr_view<Value, Index>& s, float* const* y, std::size_t nb, std::size_t row_begin,
                    std::size_t row_end, AddTerm add_term) noexcept {
    for (std::size_t r = row_begin; r < row_end; ++r) {
        const auto i0 = static_cast<std::size_t>(s.row_ptr[r]), i1 = static_cast<std::size_t>(s.row_ptr[r + 1]);
        if (i0 == i1) continue;
        float acc[packed_batch::group] = {};
        for (std::size_t j = 0; j < nb; ++j) acc[j] = y[j][r];
        for (std::size_t i = i0; i < i1; ++i)
            add_term(static_cast<std::size_t>(s.col_idx[i]), lut_value_traits<Value>::to_float(s.values[i]), acc);
        for (std::size_t j = 0; j < nb; ++j) y[j][r] = acc[j];
    }
}

/// Y(b, r) += Σ v·X(b, c) for every batch vector b and r in [row_begin, row_end),
/// csr_gemv_rows's bits per vector, each entry read once for up to 8 vectors.
template <class Value, class Index>
void csr_gemm_rows(const csr_view<Value, Index>& s, matrix_view<const float> X, matrix_view<float> Y,
                   std::size_t row_begin, std::size_t row_end) noexcept {
    if (s.row_ptr.empty()) return;
    csr_prefetch_rows(s, row_end, std::min(row_end + (row_end - row_begin), s.row_ptr.size() - 1));
    constexpr std::size_t G = packed_batch::group;
    for (std::size_t b0 = 0; b0 < X.rows(); b0 += G) {
        const std::size_t nb = std::min(G, X.rows() - b0);
        const float* x[G] = {};
        float* y[G] = {};
        for (std::size_t j = 0; j < nb; ++j) x[j] = X.row(b0 + j), y[j] = Y.row(b0 + j);
        csr_group_rows(s, y, nb, row_begin, row_end, [&](std::size_t c, float v, float* acc) {
            for (std::size_t j = 0; j < nb; ++j) acc[j] += v * x[j][c];
        });
    }
}

/// csr_gemm_rows from X packed by column (the same sums in the same order):
/// each entry reads one line of X for 8 vectors.
template <class Value, class Index>
void csr_gemm_rows_packed(const csr_view<Value, Index>& s, const packed_batch& X, matrix_view<float> Y,
                          std::size_t row_begin, std::size_t row_end) noexcept {
    if (s.row_ptr.empty()) return;
    csr_prefetch_rows(s, row_end, std::min(row_end + (row_end - row_begin), s.row_ptr.size() - 1));
    constexpr std::size_t G = packed_batch::group;
    for (std::size_t g = 0; g < X.groups(); ++g) {
        const std::size_t nb = std::min(G, X.vectors - g * G);
        float* y[G] = {};
        for (std::size_t j = 0; j < nb; ++j) y[j] = Y.row(g * G + j);
        csr_group_rows(s, y, nb, row_begin, row_end, [&](std::size_t c, float v, float* acc) {
            const float* x = X.column(g, c);
            for (std::size_t j = 0; j < G; ++j) acc[j] += v * x[j];  // the whole group: vectorizes
        });
    }
}

/// W(r, c) += v for every stored entry (dequantization).
template <class Value, class Index, class T>
void csr_add_to_dense(const csr_view<Value, Index>& s, matrix_view<T> W) noexcept {
    for (std::size_t r = 0; r + 1 < s.row_ptr.size(); ++r)
        for (Index i = s.row_ptr[r]; i < s.row_ptr[r + 1]; ++i) {
            const auto k = static_cast<std::size_t>(i);
            W(r, static_cast<std::size_t>(s.col_idx[k])) +=
                static_cast<T>(lut_value_traits<Value>::to_float(s.values[k]));
        }
}

}  // namespace detail
SQLLM_NAMESPACE_END
