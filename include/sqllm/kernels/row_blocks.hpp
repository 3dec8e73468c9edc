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

/// Rows per slice where a task interleaves its dense and row-fused sparse
/// rows (gemv_on, gemm_on): small enough that the sparse terms' loads and
/// dependency chains overlap the dense stream, which the kernels keep
/// prefetched ahead, rather than running as a phase of their own after it
/// (with the hardware prefetchers idle); a multiple of every layout's
/// row_align and of the kernels' row pairs and tiles.
constexpr std::size_t sparse_slice_rows = 16;

/// Rows of the striped batched kernels' register tile (striped_gemm_rows),
/// and so the striped layout's task alignment: a row's arithmetic may depend
/// on its place in a tile (compilers that contract a·b + c, GCC on AArch64,
/// fuse some of a tile's rows and not others), so tasks start where the
/// single-threaded tiles do and every thread count gives the same bits.
constexpr std::size_t striped_tile_rows = 4;
static_assert(sparse_slice_rows % striped_tile_rows == 0, "slices keep the tiles aligned");

/// f(b', e') over [b, e) in slices of `slice` rows (all of it at once when
/// `whole`): slice boundaries fall on multiples of `slice` from b.
template <class F>
void for_each_slice(std::size_t b, std::size_t e, std::size_t slice, bool whole, F&& f) {
    if (whole) return f(b, e);
    for (std::size_t r = b; r < e; r += slice) f(r, std::min(e, r + slice));
}

}  // namespace detail
SQLLM_NAMESPACE_END
