// sqllm/quantize/uniform.hpp — uniform (scale / zero-point) quantization as an
// evenly spaced LUT, so every LUT kernel also serves round-to-nearest.
#pragma once

#include <algorithm>
#include <cstddef>

#include "../error.hpp"
#include "kmeans_lloyd.hpp"

namespace sqllm {

/// Asymmetric min–max LUT: lut[i] = lo + i·(hi − lo)/(k − 1) over the values
/// w[j] with keep[j] != 0 (keep == nullptr: all), ascending. A constant row
/// gets k copies of its value (every code then reproduces it exactly).
inline void uniform_lut_minmax(const float* w, const unsigned char* keep, std::size_t n, int k, float* lut) {
    detail::require(n >= 1, errc::invalid_argument, "uniform quantization needs at least one value");
    detail::require(k >= 1 && k <= 256, errc::invalid_argument, "uniform quantization needs 1 <= k <= 256");
    detail::check_row(w, nullptr, n);
    bool any = false;
    float lo = 0, hi = 0;
    for (std::size_t j = 0; j < n; ++j) {
        if (keep && !keep[j]) continue;
        lo = any ? std::min(lo, w[j]) : w[j];
        hi = any ? std::max(hi, w[j]) : w[j];
        any = true;
    }
    if (!any) lo = hi = 0;
    const double step = k > 1 ? (static_cast<double>(hi) - lo) / (k - 1) : 0.0;
    for (int i = 0; i < k; ++i)
        lut[i] = static_cast<float>(lo + step * i);
    if (k > 1) lut[k - 1] = hi;  // exact end points despite rounding of the step
}

}  // namespace sqllm
