// sqllm/sparse/format.hpp — the sparse-format concept: what a quantized
// matrix's sparse part must provide. Everything is in one place, the traits
// specialisation; nothing else in sqllm knows a format by name.
//
// A format is a tag type F with a specialisation of sparse_format_traits<F>:
//
//   using storage = ...;      owning arrays, with  view_type view() const
//   using view = ...;         non-owning, cheap to copy
//   using value_type = ...;   the stored value type (residuals are rounded to it)
//   static constexpr const char* name;
//   static constexpr bool stores_entries;  false for a format that can hold nothing (no_sparse)
//   static constexpr bool row_fused;   how the kernels schedule its multiply:
//       true   gemv_rows/gemm_rows, once per row block of the executor's
//              tasks, right after that block's dense rows: one pass over y.
//       false  after all dense rows, gemv_split/gemm_split once; the format
//              divides its own work through the executor (e.g. by nonzeros).
//   static void validate(const view&, size_t rows, size_t cols);   throws sqllm::error
//   static size_t nonzeros(const view&) noexcept;
//   static size_t storage_bytes(const view&) noexcept;
//   template <class T> static void add_to_dense(const view&, matrix_view<T> W) noexcept;   W += sparse
//   static void gemv_rows(const view&, const float* x, float* y, size_t b, size_t e) noexcept;
//   static void gemm_rows(const view&, matrix_view<const float> X, matrix_view<float> Y, size_t b, size_t e) noexcept;
//   template <class Executor> static void gemv_split(const view&, const float* x, float* y, const Executor&);
//   template <class Executor> static void gemm_split(const view&, matrix_view<const float> X,
//                                                    matrix_view<float> Y, const Executor&);
//       (y, Y are accumulated into: y[r] += Σ v·x[c]; both pairs must exist,
//        row_fused picks which the kernels call)
//   optional: static void gemm_rows_packed(const view&, const packed_batch& X, matrix_view<float> Y,
//                                          size_t b, size_t e) noexcept;
//       gemm_rows from X packed by column (packed_batch below): a format
//       whose entries each read one column of X for every vector provides it
//       (csr), and gemm then packs X once per call
//   static storage build(const std::vector<sparse_row_entries>& rows, size_t cols);
//       from quantize(): per row, the (column, value) pairs kept exactly
//   static storage from_reference(const reference_csr& s, size_t rows, size_t cols);
//       from a checkpoint's rows/cols/vals arrays, already validated
//   static void to_reference(const view&, size_t rows, reference_csr_arrays& out);
//       to a checkpoint's arrays (all empty when there is nothing to store)
//
// docs/EXTENDING.md is the checklist for adding one (files and tests).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/abi_std.hpp"
#include "csr_arrays.hpp"
#include "packed_batch.hpp"

SQLLM_NAMESPACE_BEGIN

template <class Format>
struct sparse_format_traits;  // undefined: not a sparse format

/// True if sparse_format_traits<F> has gemm_rows_packed.
template <class F, class = void>
struct has_packed_gemm : std::false_type {};
template <class F>
struct has_packed_gemm<F, decltype(void(&sparse_format_traits<F>::gemm_rows_packed))> : std::true_type {};

/// The entries of one row kept exactly: (column, value), columns increasing.
using sparse_row_entries = detail::vector<std::pair<std::uint32_t, float>>;

/// The SqueezeLLM reference's sparse arrays (rows, cols, vals), viewed.
using reference_csr = csr_view<float, std::int32_t>;

/// The same arrays, owned.
struct reference_csr_arrays {
    std::vector<std::int32_t> rows;
    std::vector<std::int32_t> cols;
    std::vector<float> vals;
};

namespace detail {
template <class F, class = void>
struct has_sparse_traits : std::false_type {};
template <class F>
struct has_sparse_traits<
    F, std::void_t<typename sparse_format_traits<F>::storage, typename sparse_format_traits<F>::view,
                   typename sparse_format_traits<F>::value_type, decltype(sparse_format_traits<F>::row_fused),
                   decltype(sparse_format_traits<F>::name), decltype(sparse_format_traits<F>::stores_entries)>>
    : std::true_type {};
}  // namespace detail

/// True for tag types with a complete sparse_format_traits specialisation.
template <class F>
struct is_sparse_format : detail::has_sparse_traits<F> {};

SQLLM_NAMESPACE_END
