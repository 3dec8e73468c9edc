// sqllm/kernels/driver/x_source.hpp — where a striped row walk reads x.
//
// A striped row is walked in blocks of 512 (or, last, 256) columns. Where
// the matrix has fewer columns than the padded row, the last block reads a
// zero-padded copy of its part of x: padding codes then add LUT·0 = 0 and x
// is never read past its end.
#pragma once

#include <cstddef>

#include "../../config.hpp"
#include "../../layout/striped.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {

struct x_source {
    const float* x;
    const float* tail;       ///< x[tail_begin ..] then zeros, one wide block long
    std::size_t tail_begin;  ///< first column of the last block if it is partial, else the padded width
    const float* at(std::size_t c0) const noexcept { return c0 >= tail_begin ? tail + (c0 - tail_begin) : x + c0; }
};

/// Fills `tail` (striped_geometry::wide_cols floats) for a row of `cols` and returns the source.
inline x_source make_x_source(const float* x, std::size_t cols, float* tail) noexcept {
    using G = striped_geometry;
    const std::size_t padded = G::padded_cols(cols);
    if (padded == cols) return {x, tail, padded};
    const std::size_t last = G::has_narrow_block(cols) ? padded - G::narrow_cols : padded - G::wide_cols;
    for (std::size_t i = 0; i < G::wide_cols; ++i) tail[i] = last + i < cols ? x[last + i] : 0.0f;
    return {x, tail, last};
}

}  // namespace detail
SQLLM_NAMESPACE_END
