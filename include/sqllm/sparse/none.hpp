// sqllm/sparse/none.hpp — the "no sparse part" format: dense-only matrices.
#pragma once

#include <cstddef>

#include "../core/span.hpp"
#include "format.hpp"

namespace sqllm {

/// Format tag: the matrix has no sparse part; all its operations are no-ops.
struct no_sparse {};

struct no_sparse_view {
    using value_type = float;
};
struct no_sparse_storage {
    no_sparse_view view() const noexcept { return {}; }
};

template <>
struct sparse_format_traits<no_sparse> {
    using storage = no_sparse_storage;
    using view = no_sparse_view;
    static constexpr const char* name = "none";
    static constexpr bool row_fused = true;
};

inline void validate(no_sparse_view, std::size_t, std::size_t) noexcept {}
inline std::size_t storage_bytes(no_sparse_view) noexcept { return 0; }
inline std::size_t nonzeros(no_sparse_view) noexcept { return 0; }
template <class X, class Y>
void accumulate_gemv(no_sparse_view, X, Y, std::size_t, std::size_t) noexcept {}
template <class X, class Y>
void accumulate_gemm(no_sparse_view, X, Y, std::size_t, std::size_t) noexcept {}
template <class X, class Y, class Executor>
void accumulate_gemv_split(no_sparse_view, X, Y, const Executor&) noexcept {}
template <class X, class Y, class Executor>
void accumulate_gemm_split(no_sparse_view, X, Y, const Executor&) noexcept {}
template <class W>
void add_to_dense(no_sparse_view, W) noexcept {}

}  // namespace sqllm
