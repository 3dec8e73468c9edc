// sqllm/sparse/none.hpp — the "no sparse part" format: dense-only matrices.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../core/span.hpp"
#include "../error.hpp"
#include "format.hpp"

SQLLM_NAMESPACE_BEGIN

/// Format tag: the matrix has no sparse part; its operations do nothing.
struct no_sparse {};

struct no_sparse_view {};
struct no_sparse_storage {
    no_sparse_view view() const noexcept { return {}; }
};

template <>
struct sparse_format_traits<no_sparse> {
    using storage = no_sparse_storage;
    using view = no_sparse_view;
    using value_type = float;
    static constexpr const char* name = "none";
    static constexpr bool stores_entries = false;
    static constexpr bool row_fused = true;

    static void validate(const view&, std::size_t, std::size_t) noexcept {}
    static std::size_t nonzeros(const view&) noexcept { return 0; }
    static std::size_t storage_bytes(const view&) noexcept { return 0; }
    template <class T>
    static void add_to_dense(const view&, matrix_view<T>) noexcept {}
    static void gemv_rows(const view&, const float*, float*, std::size_t, std::size_t) noexcept {}
    static void gemm_rows(const view&, matrix_view<const float>, matrix_view<float>, std::size_t,
                          std::size_t) noexcept {}
    template <class Executor>
    static void gemv_split(const view&, const float*, float*, const Executor&) noexcept {}
    template <class Executor>
    static void gemm_split(const view&, matrix_view<const float>, matrix_view<float>, const Executor&) noexcept {}

    /// Throws sqllm::error(invalid_argument) if any row kept a weight: it would be lost.
    static storage build(const std::vector<sparse_row_entries>& rows, std::size_t) {
        for (const auto& r : rows)
            if (!r.empty())
                detail::fail(errc::invalid_argument,
                             "weights were kept exactly but the matrix type has no sparse part");
        return {};
    }
    /// Throws sqllm::error(invalid_argument) if the checkpoint has sparse values (they would be dropped).
    static storage from_reference(const reference_csr& s, std::size_t, std::size_t) {
        if (!s.col_idx.empty())
            detail::fail(errc::invalid_argument, "the checkpoint has " + detail::to_string(s.col_idx.size()) +
                                                     " sparse values but the matrix type has no sparse part");
        return {};
    }
    static void to_reference(const view&, std::size_t, reference_csr_arrays& out) { out = {}; }
};

SQLLM_NAMESPACE_END
