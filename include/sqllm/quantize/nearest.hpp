// sqllm/quantize/nearest.hpp — code assignment: the nearest LUT entry.
//
// Given the centroids, the best code of a weight is the nearest centroid,
// whatever its sensitivity; ties go to the lower index.
#pragma once

#include <cmath>
#include <cstddef>

#include "../config.hpp"
#include "../core/bits.hpp"

SQLLM_NAMESPACE_BEGIN

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

/// nearest_code_sorted for a whole row: out[c] = nearest_code_sorted(lut, K, w[c]).
/// The code is the number of midpoint tests w - lut[q] > lut[q+1] - w that
/// pass (q < K-1); for an ascending LUT they pass for a prefix of q (float
/// subtraction is monotone), so the count equals the binary search's answer,
/// ties included. Counting has no data-dependent branch and vectorises, where
/// the binary search mispredicts on about every other step.
template <int K>
void nearest_codes_sorted(const float* lut, const float* w, std::size_t n, code_t* out) noexcept {
    static_assert(K >= 1 && K <= 256, "K = 2^Bits");
    float lo[K], hi[K];
    for (int q = 0; q + 1 < K; ++q) {
        lo[q] = lut[q];
        hi[q] = lut[q + 1];
    }
    for (std::size_t c = 0; c < n; ++c) {
        const float x = w[c];
        unsigned code = 0;
        for (int q = 0; q + 1 < K; ++q)
            code += (x - lo[q] > hi[q] - x) ? 1u : 0u;
        out[c] = static_cast<code_t>(code);
    }
}

SQLLM_NAMESPACE_END
