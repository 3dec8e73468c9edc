// sqllm/quantize/nearest.hpp — code assignment: the nearest LUT entry.
//
// Given the centroids, the best code of a weight is the nearest centroid,
// whatever its sensitivity; ties go to the lower index.
#pragma once

#include <cmath>
#include <cstddef>

#include "../core/bits.hpp"

namespace sqllm {

/// Index of the entry of `lut` (k values, any order) nearest to w.
inline code_t nearest_code(const float* lut, int k, float w) noexcept {
    int best = 0;
    float best_d = std::fabs(w - lut[0]);
    for (int i = 1; i < k; ++i) {
        const float d = std::fabs(w - lut[i]);
        if (d < best_d) {
            best_d = d;
            best = i;
        }
    }
    return static_cast<code_t>(best);
}

/// Nearest entry of an ascending LUT by binary search on the midpoints
/// (O(Bits) per weight); same answer as nearest_code except on exact ties,
/// where it also picks the lower index.
inline code_t nearest_code_sorted(const float* lut, int k, float w) noexcept {
    int lo = 0, hi = k - 1;  // answer in [lo, hi]
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        // w - lut[mid] <= lut[mid+1] - w (no overflow-prone midpoint sum): mid or below
        if (w - lut[mid] <= lut[mid + 1] - w)
            hi = mid;
        else
            lo = mid + 1;
    }
    return static_cast<code_t>(lo);
}

}  // namespace sqllm
