// sqllm/quantize/uniform.hpp — uniform (scale / zero-point) quantization as an
// evenly spaced LUT, so every LUT kernel also serves round-to-nearest.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "../config.hpp"
#include "../core/rounded_product.hpp"
#include "../error.hpp"
#include "kmeans_lloyd.hpp"

SQLLM_NAMESPACE_BEGIN

/// How a row's range [lo, hi] is chosen before it is split evenly.
enum class uniform_range {
    minmax,      ///< the row's extremes
    percentile,  ///< clip to the `percentile` quantile (of w, or of |w| when symmetric)
    mse,         ///< shrink the min–max range by the ratio in [min_ratio, 1] that minimises the weighted error
};

struct uniform_options {
    uniform_range range = uniform_range::minmax;
    /// Symmetric: levels scale·(i − K/2), i = 0..K−1, with 0 exactly representable
    /// and scale = absmax / (K/2 − 1) (K = 2: ±absmax). Asymmetric: lo + i·(hi − lo)/(K − 1).
    bool symmetric = false;
    double percentile = 0.999;  ///< for uniform_range::percentile, in (0.5, 1]
    int grid = 100;             ///< for uniform_range::mse: candidate ratios
    double min_ratio = 0.5;     ///< for uniform_range::mse: smallest ratio tried
};

namespace detail {

/// Evenly spaced LUT of k levels for range [lo, hi] (asymmetric) or absmax m = hi (symmetric).
inline void uniform_levels(double lo, double hi, int k, bool symmetric, float* lut) {
    if (symmetric) {
        const double m = hi;
        if (k == 2) {
            lut[0] = static_cast<float>(-m);
            lut[1] = static_cast<float>(m);
            return;
        }
        const double scale = m / (k / 2 - 1);
        for (int i = 0; i < k; ++i)
            lut[i] = static_cast<float>(scale * (i - k / 2));
        return;
    }
    const double step = k > 1 ? (hi - lo) / (k - 1) : 0.0;
    for (int i = 0; i < k; ++i)
        lut[i] = static_cast<float>(lo + product(step, static_cast<double>(i)));
    if (k > 1) lut[k - 1] = static_cast<float>(hi);  // exact end point despite rounding of the step
}

/// Weighted squared error of rounding w to an evenly spaced LUT (nearest level, O(1) per weight).
inline double uniform_error(const float* w, const float* s, const unsigned char* keep, std::size_t n, const float* lut,
                            int k) {
    const double lo = lut[0], step = k > 1 ? (static_cast<double>(lut[k - 1]) - lo) / (k - 1) : 0.0;
    double err = 0;
    for (std::size_t j = 0; j < n; ++j) {
        if (keep && !keep[j]) continue;
        double i = step > 0 ? std::nearbyint((w[j] - lo) / step) : 0.0;
        i = std::min(std::max(i, 0.0), static_cast<double>(k - 1));
        const double d = w[j] - (lo + product(step, i));
        err += product((s ? s[j] : 1.0) * d, d);
    }
    return err;
}

}  // namespace detail

/// Uniform LUT for the values w[j] with keep[j] != 0 (keep == nullptr: all),
/// ascending. s (nullptr: ones) weights the error for uniform_range::mse.
/// A constant row gets k copies of its value. Throws on NaN/Inf or bad options.
inline void uniform_lut(const float* w, const float* s, const unsigned char* keep, std::size_t n, int k, float* lut,
                        const uniform_options& opt = {}) {
    detail::require(n >= 1, errc::invalid_argument, "uniform quantization needs at least one value");
    detail::require(k >= 1 && k <= 256, errc::invalid_argument, "uniform quantization needs 1 <= k <= 256");
    detail::require(opt.range != uniform_range::percentile || (opt.percentile > 0.5 && opt.percentile <= 1),
                    errc::invalid_argument, "the clipping percentile must be in (0.5, 1]");
    detail::require(opt.range != uniform_range::mse || (opt.grid >= 1 && opt.min_ratio > 0 && opt.min_ratio <= 1),
                    errc::invalid_argument, "MSE clipping needs grid >= 1 and min_ratio in (0, 1]");
    detail::check_row(w, s, n);
    detail::vector<float> v;
    v.reserve(n);
    for (std::size_t j = 0; j < n; ++j)
        if (!keep || keep[j]) v.push_back(opt.symmetric ? std::fabs(w[j]) : w[j]);
    if (v.empty()) v.push_back(0.0f);

    double lo, hi;
    if (opt.range == uniform_range::percentile) {
        auto quantile = [&](double q) {  // nearest rank: clipping never exceeds the data
            const auto i = static_cast<std::size_t>(std::llround(q * static_cast<double>(v.size() - 1)));
            std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end(), detail::less{});
            return static_cast<double>(v[i]);
        };
        hi = quantile(opt.percentile);
        lo = opt.symmetric ? -hi : quantile(1 - opt.percentile);
    } else {
        const auto mm = std::minmax_element(v.begin(), v.end(), detail::less{});
        lo = opt.symmetric ? -static_cast<double>(*mm.second) : *mm.first;
        hi = *mm.second;
    }
    detail::uniform_levels(lo, hi, k, opt.symmetric, lut);
    if (opt.range == uniform_range::mse && hi > lo) {
        detail::vector<float> cand(static_cast<std::size_t>(k));
        double best = detail::uniform_error(w, s, keep, n, lut, k);
        for (int g = 1; g < opt.grid; ++g) {
            const double ratio = 1.0 - (1.0 - opt.min_ratio) * g / std::max(1, opt.grid - 1);
            detail::uniform_levels(lo * ratio, hi * ratio, k, opt.symmetric, cand.data());
            const double e = detail::uniform_error(w, s, keep, n, cand.data(), k);
            if (e < best) {
                best = e;
                std::copy(cand.begin(), cand.end(), lut);
            }
        }
    }
}

/// Asymmetric min–max LUT (round-to-nearest uniform quantization).
inline void uniform_lut_minmax(const float* w, const unsigned char* keep, std::size_t n, int k, float* lut) {
    uniform_lut(w, nullptr, keep, n, k, lut);
}

SQLLM_NAMESPACE_END
