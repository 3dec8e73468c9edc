// sqllm/quantize/outliers.hpp — which weights the dense-and-sparse split keeps exactly.
//
// The reference rules (SqueezeLLM outliers.py), applied to the whole matrix in
// this order:
//  1. sensitive values: k = ⌊numel·p_s⌋, threshold = k-th largest
//     sensitivity, keep s > threshold (strictly: ties at the threshold stay dense);
//  2. outliers among the rest, either by the IQR rule, T = max(|q1 − r·IQR|,
//     |q3 + r·IQR|) over all weights, keep |w| ≥ T, or (sqllm's target mode)
//     exactly ⌊numel·p_o⌋ weights of largest magnitude.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <vector>

#include "../core/span.hpp"
#include "../error.hpp"

namespace sqllm {

struct sparse_options {
    double sensitive_fraction = 0.0;  ///< p_s: fraction kept by sensitivity (paper: 0.0005)
    double outlier_iqr_ratio = 0.0;   ///< r of the IQR rule (about 1.5–2); 0 disables it
    double outlier_fraction = 0.0;    ///< p_o: keep exactly this fraction by |w| (paper: 0.004); 0 disables it

    bool enabled() const noexcept { return sensitive_fraction > 0 || outlier_iqr_ratio > 0 || outlier_fraction > 0; }
};

/// How many weights each rule kept, and the thresholds it used.
struct sparse_report {
    std::size_t sensitive_kept = 0;
    std::size_t outliers_kept = 0;
    double sensitivity_threshold = 0;  ///< keep s > this (when the rule ran)
    double outlier_threshold = 0;      ///< keep |w| >= this (when a rule ran)
};

namespace detail {
/// Linear-interpolation quantile (numpy's default) of v, which it reorders.
inline double quantile_inplace(std::vector<float>& v, double q) {
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(lo), v.end());
    const double a = v[lo];
    if (lo + 1 >= v.size()) return a;
    const double b = *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(lo) + 1, v.end());
    return a + (pos - static_cast<double>(lo)) * (b - a);
}
}  // namespace detail

/// Marks the positions to keep exactly: mask[r·cols + c] is 0 for dense,
/// 1 for a sensitive value, 2 for an outlier. `S` may be empty
/// (no sensitivity; then sensitive_fraction must be 0). Inputs must already
/// be validated (finite, S >= 0, same shape).
inline sparse_report select_sparse(matrix_view<const float> W, matrix_view<const float> S, const sparse_options& opt,
                                   std::vector<unsigned char>& mask) {
    const std::size_t rows = W.rows(), cols = W.cols(), numel = rows * cols;
    auto bad_fraction = [](double f) { return !(f >= 0 && f < 1); };
    if (bad_fraction(opt.sensitive_fraction) || bad_fraction(opt.outlier_fraction))
        detail::fail(errc::invalid_argument, "sparse fractions must be in [0, 1)");
    if (!(opt.outlier_iqr_ratio >= 0) || !std::isfinite(opt.outlier_iqr_ratio))
        detail::fail(errc::invalid_argument, "the IQR ratio must be finite and >= 0");
    detail::require(!(opt.outlier_iqr_ratio > 0 && opt.outlier_fraction > 0), errc::invalid_argument,
                    "choose either the IQR outlier rule or a target outlier fraction, not both");
    detail::require(opt.sensitive_fraction == 0 || !S.empty(), errc::invalid_argument,
                    "keeping sensitive values needs a sensitivity matrix");
    mask.assign(numel, 0);
    sparse_report rep;
    std::vector<float> tmp;

    const auto k = static_cast<std::size_t>(std::floor(static_cast<double>(numel) * opt.sensitive_fraction));
    if (k > 0) {
        tmp.resize(numel);
        for (std::size_t r = 0; r < rows; ++r)
            std::copy(S.row(r), S.row(r) + cols, tmp.data() + r * cols);
        std::nth_element(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(k - 1), tmp.end(),
                         std::greater<float>());
        const float thr = tmp[k - 1];
        rep.sensitivity_threshold = thr;
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols; ++c)
                if (S(r, c) > thr) {
                    mask[r * cols + c] = 1;
                    ++rep.sensitive_kept;
                }
    }

    if (opt.outlier_iqr_ratio > 0) {
        tmp.resize(numel);
        for (std::size_t r = 0; r < rows; ++r)
            std::copy(W.row(r), W.row(r) + cols, tmp.data() + r * cols);
        const double q1 = detail::quantile_inplace(tmp, 0.25);
        const double q3 = detail::quantile_inplace(tmp, 0.75);
        const double iqr = q3 - q1, ratio = opt.outlier_iqr_ratio;
        const double T = std::max(std::fabs(q1 - ratio * iqr), std::fabs(q3 + ratio * iqr));
        rep.outlier_threshold = T;
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols; ++c)
                if (!mask[r * cols + c] && std::fabs(static_cast<double>(W(r, c))) >= T) {
                    mask[r * cols + c] = 2;
                    ++rep.outliers_kept;
                }
    } else if (opt.outlier_fraction > 0) {
        const auto m = static_cast<std::size_t>(std::floor(static_cast<double>(numel) * opt.outlier_fraction));
        tmp.clear();
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols; ++c)
                if (!mask[r * cols + c]) tmp.push_back(std::fabs(W(r, c)));
        const std::size_t take = std::min(m, tmp.size());
        if (take > 0) {
            std::nth_element(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(take - 1), tmp.end(),
                             std::greater<float>());
            const float thr = tmp[take - 1];
            rep.outlier_threshold = thr;
            // Everything above the threshold, then ties at it in index order, up to exactly `take`.
            std::size_t above = 0;
            for (std::size_t i = 0; i < numel; ++i)
                if (!mask[i] && std::fabs(W(i / cols, i % cols)) > thr) ++above;
            std::size_t ties_left = take - above;
            for (std::size_t i = 0; i < numel; ++i) {
                if (mask[i]) continue;
                const float a = std::fabs(W(i / cols, i % cols));
                if (a > thr || (a == thr && ties_left > 0)) {
                    if (a == thr) --ties_left;
                    mask[i] = 2;
                    ++rep.outliers_kept;
                }
            }
        }
    }
    return rep;
}

}  // namespace sqllm
