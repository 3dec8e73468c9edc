// sqllm/sparse/packed_batch.hpp — a batch of activation vectors packed by
// column, for sparse terms in a batched multiply (kernels/gemm.hpp packs X
// once per call for formats with gemm_rows_packed, sparse/format.hpp).
#pragma once

#include <cstddef>

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN

/// Vectors packed by column in groups of `group`:
/// data[(g·cols + c)·group + j] = X(group·g + j, c), zeros past the last
/// vector. A sparse term v·X(:, c) then reads one contiguous run of `group`
/// floats (one cache line), where X's rows would be `group` lines apart.
struct packed_batch {
    static constexpr std::size_t group = 8;
    const float* data = nullptr;
    std::size_t cols = 0, vectors = 0;
    std::size_t groups() const noexcept { return (vectors + group - 1) / group; }
    const float* column(std::size_t g, std::size_t c) const noexcept { return data + (g * cols + c) * group; }
};

SQLLM_NAMESPACE_END
