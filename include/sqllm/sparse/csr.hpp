// sqllm/sparse/csr.hpp — the CSR sparse format, with two multiply schedules.
//
// csr<Value, Index> stores its arrays as sparse/csr_arrays.hpp (the
// reference's format is csr<float, std::int32_t>). Its Schedule says how the
// kernels split the sparse multiply across an executor's tasks:
//   csr_schedule::rows      each task adds the nonzeros of its own row block,
//                           right after the block's dense rows (one pass over y)
//   csr_schedule::nonzeros  after all dense rows, [0, nnz) is split evenly
//                           (sparse/nonzero_split.hpp): for skewed rows, where
//                           a few rows hold most of the kept weights.
// balanced_csr<Value, Index> names the second. Both store, validate, load,
// import and export alike; only the multiply's schedule differs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../error.hpp"
#include "../types/lut_value.hpp"
#include "csr_arrays.hpp"
#include "format.hpp"
#include "nonzero_split.hpp"

SQLLM_NAMESPACE_BEGIN

/// How a CSR's multiply is split across tasks.
enum class csr_schedule {
    rows,      ///< with the dense row blocks
    nonzeros,  ///< evenly by nonzeros, after the dense rows
};

/// Format tag: CSR with values of type Value (float, half or bfloat16) and
/// indices of signed integer type Index.
template <class Value = float, class Index = std::int32_t, csr_schedule Schedule = csr_schedule::rows>
struct csr {
    static_assert(is_lut_value<Value>::value, "CSR values must be float, sqllm::half or sqllm::bfloat16");
    static_assert(std::is_integral<Index>::value && std::is_signed<Index>::value,
                  "CSR indices must be a signed integer type (the reference uses int32)");
};

/// CSR whose multiply is split by nonzeros.
template <class Value = float, class Index = std::int32_t>
using balanced_csr = csr<Value, Index, csr_schedule::nonzeros>;

template <class Value, class Index, csr_schedule Schedule>
struct sparse_format_traits<csr<Value, Index, Schedule>> {
    using storage = csr_storage<Value, Index>;
    using view = csr_view<Value, Index>;
    using value_type = Value;
    static constexpr const char* name = Schedule == csr_schedule::rows ? "csr" : "balanced_csr";
    static constexpr bool stores_entries = true;
    static constexpr bool row_fused = Schedule == csr_schedule::rows;

    static void validate(const view& s, std::size_t rows, std::size_t cols) { detail::csr_validate(s, rows, cols); }
    static std::size_t nonzeros(const view& s) noexcept { return s.col_idx.size(); }
    static std::size_t storage_bytes(const view& s) noexcept { return detail::csr_storage_bytes(s); }
    template <class T>
    static void add_to_dense(const view& s, matrix_view<T> W) noexcept {
        detail::csr_add_to_dense(s, W);
    }

    static void gemv_rows(const view& s, const float* x, float* y, std::size_t b, std::size_t e) noexcept {
        detail::csr_gemv_rows(s, x, y, b, e);
    }
    static void gemm_rows(const view& s, matrix_view<const float> X, matrix_view<float> Y, std::size_t b,
                          std::size_t e) noexcept {
        detail::csr_gemm_rows(s, X, Y, b, e);
    }
    static void gemm_rows_packed(const view& s, const packed_batch& X, matrix_view<float> Y, std::size_t b,
                                 std::size_t e) noexcept {
        detail::csr_gemm_rows_packed(s, X, Y, b, e);
    }
    template <class Executor>
    static void gemv_split(const view& s, const float* x, float* y, const Executor& exec) {
        detail::csr_gemv_split(s, x, y, exec);
    }
    template <class Executor>
    static void gemm_split(const view& s, matrix_view<const float> X, matrix_view<float> Y, const Executor& exec) {
        detail::csr_gemm_split(s, X, Y, exec);
    }

    /// Throws sqllm::error(out_of_range) if a column or the entry count does not fit Index.
    static storage build(const std::vector<sparse_row_entries>& rows, std::size_t /*cols*/) {
        storage out;
        std::size_t nnz = 0;
        for (const auto& r : rows)
            nnz += r.size();
        if (nnz == 0) return out;
        // Sized once and filled by index: no std::vector growth (core/abi_std.hpp).
        (void)checked_narrow<Index>(nnz, "CSR entry count");
        out.row_ptr = std::vector<Index>(rows.size() + 1);
        out.col_idx = std::vector<Index>(nnz);
        out.values = std::vector<Value>(nnz);
        std::size_t i = 0;
        for (std::size_t r = 0; r < rows.size(); ++r) {
            for (const auto& e : rows[r]) {
                out.col_idx[i] = checked_narrow<Index>(e.first, "CSR column");
                out.values[i] = lut_value_traits<Value>::from_float(e.second);
                ++i;
            }
            out.row_ptr[r + 1] = static_cast<Index>(i);
        }
        return out;
    }

    /// `s` must be valid for rows × cols. Values are rounded to Value; throws
    /// sqllm::error(out_of_range) if an index does not fit Index.
    static storage from_reference(const reference_csr& s, std::size_t rows, std::size_t /*cols*/) {
        storage out;
        if (s.row_ptr.empty()) return out;
        (void)checked_narrow<Index>(s.col_idx.size(), "CSR entry count");
        out.row_ptr.resize(rows + 1);
        for (std::size_t r = 0; r <= rows; ++r)
            out.row_ptr[r] = checked_narrow<Index>(s.row_ptr[r], "CSR row pointer");
        out.col_idx.resize(s.col_idx.size());
        out.values.resize(s.values.size());
        for (std::size_t i = 0; i < s.col_idx.size(); ++i) {
            out.col_idx[i] = checked_narrow<Index>(s.col_idx[i], "CSR column");
            out.values[i] = lut_value_traits<Value>::from_float(s.values[i]);
        }
        return out;
    }

    /// Throws sqllm::error(out_of_range) if the CSR exceeds the reference's int32 indices.
    static void to_reference(const view& s, std::size_t rows, reference_csr_arrays& out) {
        out = {};
        if (s.row_ptr.empty()) return;
        (void)checked_narrow<std::int32_t>(s.col_idx.size(), "the reference's int32 CSR: entry count");
        out.rows.resize(rows + 1);
        for (std::size_t r = 0; r <= rows; ++r)
            out.rows[r] = checked_narrow<std::int32_t>(s.row_ptr[r], "the reference's int32 CSR: row pointer");
        out.cols.resize(s.col_idx.size());
        out.vals.resize(s.values.size());
        for (std::size_t i = 0; i < s.col_idx.size(); ++i) {
            out.cols[i] = checked_narrow<std::int32_t>(s.col_idx[i], "the reference's int32 CSR: column");
            out.vals[i] = lut_value_traits<Value>::to_float(s.values[i]);
        }
    }
};

SQLLM_NAMESPACE_END
