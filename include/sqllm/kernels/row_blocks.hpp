// sqllm/kernels/row_blocks.hpp — what every multiply does before its kernel:
// check the shapes, and split the rows into tasks for the executor.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include "../config.hpp"
#include "../error.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {

inline void check_gemv_shapes(std::size_t rows, std::size_t cols, std::size_t x_size, std::size_t y_size) {
    if (x_size != cols)
        fail(errc::shape_mismatch,
             "x has " + detail::to_string(x_size) + " values, the matrix has " + detail::to_string(cols) + " columns");
    if (y_size != rows)
        fail(errc::shape_mismatch,
             "y has " + detail::to_string(y_size) + " values, the matrix has " + detail::to_string(rows) + " rows");
}

inline void check_gemm_shapes(std::size_t rows, std::size_t cols, std::size_t x_rows, std::size_t x_cols,
                              std::size_t y_rows, std::size_t y_cols) {
    if (x_cols != cols)
        fail(errc::shape_mismatch, "X rows have " + detail::to_string(x_cols) + " values, the matrix has " +
                                       detail::to_string(cols) + " columns");
    if (y_cols != rows)
        fail(errc::shape_mismatch, "Y rows have " + detail::to_string(y_cols) + " values, the matrix has " +
                                       detail::to_string(rows) + " rows");
    if (x_rows != y_rows)
        fail(errc::shape_mismatch,
             "X holds " + detail::to_string(x_rows) + " vectors but Y has room for " + detail::to_string(y_rows));
}

/// Rows per task: enough work per task to amortise scheduling, and a few
/// tasks per worker so uneven rows balance out.
inline std::size_t row_tasks(std::size_t rows, std::size_t cols, std::size_t concurrency) noexcept {
    if (concurrency <= 1) return 1;
    const std::size_t min_rows = std::max<std::size_t>(1, (std::size_t{1} << 16) / std::max<std::size_t>(cols, 1));
    return std::max<std::size_t>(1, std::min(concurrency * 4, rows / min_rows));
}

}  // namespace detail
SQLLM_NAMESPACE_END
