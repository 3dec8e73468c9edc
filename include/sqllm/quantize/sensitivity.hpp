// sqllm/quantize/sensitivity.hpp — where per-weight sensitivities come from.
//
// quantize() takes a sensitivity matrix S of W's shape. Three sources:
//  - caller-supplied, e.g. the diagonal Fisher information (SqueezeLLM's
//    choice): pass it as a matrix_view;
//  - uniform: pass an empty matrix_view (every weight counts the same);
//  - activation second moments, S[r][c] = Σ_t x_{t,c}², from a calibration
//    batch of the layer's inputs (forward-only, no gradients): the same for
//    every row, so it is a single vector broadcast with row stride 0.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../core/rounded_product.hpp"
#include "../core/span.hpp"
#include "../error.hpp"

SQLLM_NAMESPACE_BEGIN

/// Σ_t X(t, c)² for each column c of a T × cols calibration activation matrix
/// (one token's input vector per row), accumulated in double. Throws on
/// NaN/Inf activations or an empty X.
inline std::vector<float> activation_second_moments(matrix_view<const float> X) {
    detail::require(X.rows() > 0 && X.cols() > 0, errc::invalid_argument, "calibration activations are empty");
    detail::vector<double> acc(X.cols(), 0.0);
    for (std::size_t t = 0; t < X.rows(); ++t)
        for (std::size_t c = 0; c < X.cols(); ++c) {
            const double x = X(t, c);
            if (!std::isfinite(x))
                detail::fail(errc::non_finite, "calibration activation (" + detail::to_string(t) + ", " +
                                                   detail::to_string(c) + ") is NaN or Inf");
            acc[c] += detail::product(x, x);
        }
    std::vector<float> out(X.cols());
    for (std::size_t c = 0; c < X.cols(); ++c)
        out[c] = static_cast<float>(acc[c]);
    return out;
}

/// A rows × cols sensitivity view whose every row is `per_column` (stride 0):
/// no rows × cols copy is made.
inline matrix_view<const float> broadcast_rows(const std::vector<float>& per_column, std::size_t rows) {
    return matrix_view<const float>(per_column.data(), rows, per_column.size(), 0);
}

SQLLM_NAMESPACE_END
