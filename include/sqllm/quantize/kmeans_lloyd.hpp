// sqllm/quantize/kmeans_lloyd.hpp — the reference's fitting method: weighted
// Lloyd k-means with k-means++ initialisation, reproducible from a seed.
//
// It mirrors scikit-learn's KMeans as SqueezeLLM calls it (greedy k-means++
// with 2 + ln k local trials, at most 50 iterations, tolerance 1e-4 relative
// to the data's variance), with sqllm's own deterministic random generator,
// so results match the method, not sklearn's bits. Lloyd finds a local
// optimum only; kmeans_exact.hpp computes the global one.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../core/rounded_product.hpp"
#include "../error.hpp"
#include "nearest.hpp"

SQLLM_NAMESPACE_BEGIN

struct lloyd_options {
    int max_iterations = 50;  ///< the reference's max_iter
    double tolerance = 1e-4;  ///< stop when the centroids' squared shift ≤ tolerance · variance
    std::uint64_t seed = 0;   ///< with the row index, fixes the k-means++ draws
};

namespace detail {

/// splitmix64: tiny, fast and good enough for seeding k-means++ draws.
struct splitmix64 {
    std::uint64_t state;
    std::uint64_t next() noexcept {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

/// Checks a row's weights and sensitivities (finite, s >= 0).
inline void check_row(const float* w, const float* s, std::size_t n) {
    for (std::size_t j = 0; j < n; ++j) {
        if (!std::isfinite(w[j])) fail(errc::non_finite, "weight " + detail::to_string(j) + " is NaN or Inf");
        if (s) {
            if (!std::isfinite(s[j])) fail(errc::non_finite, "sensitivity " + detail::to_string(j) + " is NaN or Inf");
            if (s[j] < 0) fail(errc::negative_value, "sensitivity " + detail::to_string(j) + " is negative");
        }
    }
}

/// Index i with cum[i-1] <= u < cum[i] (cum ascending, u < cum.back()).
inline std::size_t sample_index(const detail::vector<double>& cum, double u) {
    const auto it = std::upper_bound(cum.begin(), cum.end(), u, detail::less{});
    return std::min<std::size_t>(static_cast<std::size_t>(it - cum.begin()), cum.size() - 1);
}

}  // namespace detail

/// Weighted k-means of n values w with weights s (nullptr: all ones) into k
/// centroids, written ascending to `centroids`. Zero-weight points do not
/// move centroids; if every weight is zero, all-ones weights are used (as
/// the reference does). With fewer distinct weighted values than k the
/// centroids are those values, the rest copies of the largest. Empty
/// clusters keep their previous centroid. Returns the weighted objective
/// Σ s_j (w_j − nearest centroid)² of the returned centroids, in double.
/// Throws sqllm::error on NaN/Inf, negative weights, k outside [1, 256].
inline double kmeans_lloyd_1d(const float* w, const float* s, std::size_t n, int k, float* centroids,
                              const lloyd_options& opt = {}, std::uint64_t stream = 0) {
    detail::require(n >= 1, errc::invalid_argument, "k-means needs at least one value");
    detail::require(k >= 1 && k <= 256, errc::invalid_argument, "k-means needs 1 <= k <= 256");
    detail::require(opt.max_iterations >= 1, errc::invalid_argument, "Lloyd needs max_iterations >= 1");
    detail::check_row(w, s, n);

    // Keep the points that carry weight; fall back to uniform weights.
    detail::vector<double> x, wt;
    x.reserve(n);
    wt.reserve(n);
    for (std::size_t j = 0; j < n; ++j)
        if (!s || s[j] > 0) {
            x.push_back(w[j]);
            wt.push_back(s ? s[j] : 1.0);
        }
    if (x.empty()) {
        x.assign(w, w + n);
        wt.assign(n, 1.0);
    }
    const std::size_t m = x.size();

    detail::vector<double> distinct(x);
    std::sort(distinct.begin(), distinct.end(), detail::less{});
    distinct.erase(std::unique(distinct.begin(), distinct.end(), detail::equal_to{}), distinct.end());
    detail::vector<double> c;
    if (distinct.size() <= static_cast<std::size_t>(k)) {
        c = distinct;  // every value its own centroid: objective 0
        c.resize(static_cast<std::size_t>(k), distinct.back());
    } else {
        // Greedy weighted k-means++ (sklearn's variant): draw the first centre
        // by weight, then 2 + ln k candidates by weight·D², keep the best.
        detail::splitmix64 rng{opt.seed * 0x9e3779b97f4a7c15ull + stream};
        detail::vector<double> cum(m), d2(m), cand_d2(m);
        double acc = 0;
        for (std::size_t j = 0; j < m; ++j)
            cum[j] = acc += wt[j];
        c.push_back(x[detail::sample_index(cum, rng.uniform() * acc)]);
        for (std::size_t j = 0; j < m; ++j)
            d2[j] = (x[j] - c[0]) * (x[j] - c[0]);
        const int trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
        detail::vector<double> best_d2(m);
        while (c.size() < static_cast<std::size_t>(k)) {
            acc = 0;
            for (std::size_t j = 0; j < m; ++j)
                cum[j] = acc += detail::product(wt[j], d2[j]);
            double best_pot = -1, best_c = 0;
            for (int t = 0; t < trials; ++t) {
                const double cand = x[detail::sample_index(cum, rng.uniform() * acc)];
                double p = 0;
                for (std::size_t j = 0; j < m; ++j) {
                    cand_d2[j] = std::min(d2[j], (x[j] - cand) * (x[j] - cand));
                    p += detail::product(wt[j], cand_d2[j]);
                }
                if (best_pot < 0 || p < best_pot) {
                    best_pot = p;
                    best_c = cand;
                    best_d2.swap(cand_d2);
                }
            }
            c.push_back(best_c);
            d2.swap(best_d2);
        }

        // Lloyd iterations on sorted centroids (assignment by binary search).
        double mean = 0, var = 0;
        for (double v : x)
            mean += v;
        mean /= static_cast<double>(m);
        for (double v : x)
            var += detail::product(v - mean, v - mean);
        const double tol = opt.tolerance * var / static_cast<double>(m);
        detail::vector<double> sw(static_cast<std::size_t>(k)), swx(static_cast<std::size_t>(k));
        detail::vector<float> cf(static_cast<std::size_t>(k));
        detail::vector<code_t> label(m, 0), prev(m, 255);
        for (int it = 0; it < opt.max_iterations; ++it) {
            std::sort(c.begin(), c.end(), detail::less{});
            for (std::size_t i = 0; i < c.size(); ++i)
                cf[i] = static_cast<float>(c[i]);
            std::fill(sw.begin(), sw.end(), 0.0);
            std::fill(swx.begin(), swx.end(), 0.0);
            for (std::size_t j = 0; j < m; ++j) {
                label[j] = nearest_code_sorted(cf.data(), k, static_cast<float>(x[j]));
                sw[label[j]] += wt[j];
                swx[label[j]] += detail::product(wt[j], x[j]);
            }
            double shift = 0;
            for (std::size_t i = 0; i < c.size(); ++i) {
                if (sw[i] <= 0) continue;  // empty cluster: keep the centroid
                const double nc = swx[i] / sw[i];
                shift += detail::product(nc - c[i], nc - c[i]);
                c[i] = nc;
            }
            if (label == prev || shift <= tol) break;
            prev.swap(label);
        }
    }
    std::sort(c.begin(), c.end(), detail::less{});
    for (int i = 0; i < k; ++i)
        centroids[i] = static_cast<float>(c[static_cast<std::size_t>(i)]);
    double obj = 0;
    for (std::size_t j = 0; j < m; ++j) {
        const double d = x[j] - centroids[nearest_code_sorted(centroids, k, static_cast<float>(x[j]))];
        obj += detail::product(wt[j] * d, d);
    }
    return obj;
}

SQLLM_NAMESPACE_END
