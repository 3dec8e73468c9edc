// sqllm/quantize/kmeans_exact.hpp — globally optimal weighted 1-D k-means (one LUT row).
//
// SqueezeLLM fits each output row's lookup table by sensitivity-weighted k-means
// (docs/DESIGN.md §2). In one dimension the optimum is computable exactly: optimal
// clusters are contiguous runs of the sorted values, so a dynamic program over
// split points finds the global minimum of
//
//     sum_j s[j] * (w[j] - c[a(j)])^2,   a(j) = nearest centroid.
//
// Pipeline of one fit:
//   1. validate + build (value key, weight) records of the positive-weight points,
//   2. LSD radix sort on the float bit pattern (faster than std::sort at these n),
//   3. merge equal values (summing weights) -> m distinct values,
//   4. prefix sums of weight and weight*x (x centred on the weighted mean), double,
//   5. layered DP over split points (layered_dp below): divide-and-conquer
//      optimisation (the cost is Monge, so the optimal split is monotone in the
//      row), plus the cross-layer bound opt[l-1][j] <= opt[l][j], plus
//      demand-driven rows (only rows that the final answer can depend on are
//      computed, about half of them), plus direct filling of row ranges whose
//      bracketing rows share their split (most rows at fine scales),
//   6. backtrack; each cluster's weighted mean by direct summation in double.
//
// Why divide-and-conquer rather than SMAWK: on realistic rows (heavy-tailed
// sensitivities) the optimal split often jumps, so brackets are wide; SMAWK's
// column reduction would still need roughly 4(R+C) comparisons for R rows and
// C ~ R candidate splits, with data-dependent branches and index lists, against
// ~10 branch-light, contiguous evaluations per row here. SMAWK was not
// implemented; this is an estimate, not a measurement.
//
// Deterministic: no randomness, no threads, no global state; and reproducible:
// the same bits on every target (the wide-bracket scan is the target's, from
// kernels/driver/argmin.inl, written to agree bit for bit) and under every
// compiler and flag set (every product feeding a sum is rounded on its own,
// core/rounded_product.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../core/float_bits.hpp"
#include "../core/rounded_product.hpp"
#include "../error.hpp"
#include "../kernels/argmin.hpp"
#include "../kernels/per_target.hpp"
#include "../target/dispatch.hpp"

SQLLM_NAMESPACE_BEGIN

namespace detail {
struct kmeans_exact_solver;
}

/// Caller-owned scratch for kmeans_exact_1d, so that repeated row fits allocate
/// nothing after the first one (buffers only grow). Holding one workspace per
/// thread is the intended use; a workspace must not be shared between threads
/// running concurrently. Size: about (48 + 12 k) bytes per value of the largest
/// row (n = 4096, k = 16: ~1 MB; k = 256, n = 14336: ~45 MB).
class kmeans_exact_workspace {
public:
    kmeans_exact_workspace() = default;

    /// Pre-sizes every buffer for rows of up to n values and k centroids, so that
    /// even the first fit does not allocate.
    void reserve(std::size_t n, int k) { grow(n, k < 1 ? 1 : static_cast<std::size_t>(k)); }

private:
    friend struct detail::kmeans_exact_solver;

    void grow(std::size_t n, std::size_t k) {
        if (rec_.size() < n) {
            rec_.resize(n);
            tmp_.resize(n);
            val_.resize(n);
            wt_.resize(n);
        }
        if (p0_.size() < n + 1) {
            p0_.resize(n + 1);
            p1_.resize(n + 1);
        }
        // DP tables: layers 0..k-1 of n+1 rows (layer 0 unused, keeps indexing plain).
        const std::size_t need = k * (n + 1);
        if (e_.size() < need) {
            e_.resize(need);
            opt_.resize(need);
        }
    }

    detail::vector<std::uint64_t> rec_, tmp_;  // (value key << 32 | weight bits) records
    detail::vector<double> val_, wt_;          // merged distinct values and summed weights
    detail::vector<double> p0_, p1_;           // prefix sums of weight and weight*(x - mean)
    detail::vector<double> e_;                 // DP layers, stored as D[l][j] - P2[j]
    detail::vector<std::uint32_t> opt_;        // argmin split per layer and row
};

/// Globally optimal weighted 1-D k-means.
///
/// Chooses k centroids minimising sum_j s[j]*(w[j]-c[a(j)])^2 with a(j) the
/// nearest centroid, and writes exactly k centroids to `centroids`, sorted
/// strictly ascending where possible (see below), all finite.
///
/// - Throws sqllm::error: errc::invalid_argument if n == 0, k outside [1, 256]
///   or a pointer is null; errc::non_finite if any w or s is NaN/Inf;
///   errc::negative_value if any s < 0. Nothing is written on error.
/// - If every s is zero, uniform weights (all ones) are used, as in the
///   SqueezeLLM reference. Otherwise zero-weight points do not influence the
///   centroids (they later just take the nearest centroid).
/// - Each centroid is the weighted mean of its cluster, computed in double and
///   rounded to float. Equal values are merged (weights summed) before fitting.
/// - Fewer than k distinct positive-weight values (m < k): one centroid sits on
///   each such value (objective 0), and the k - m others are filled by this
///   deterministic rule:
///     1. farthest-point picks among the distinct values of the zero-weight
///        points: repeatedly the value farthest from every centroid so far
///        (ties: the smaller value), while such a value is not yet a centroid;
///     2. then repeatedly the midpoint of the widest gap between consecutive
///        centroids (ties: the leftmost gap) whose float midpoint lies strictly
///        inside it;
///     3. then, only if no gap can be split (e.g. a single distinct value),
///        equally spaced values beyond the largest centroid with step
///        2^-10 * max(|lo|, |hi|) (at least 2^-116), or below the smallest one
///        if stepping up would overflow.
///   The result is strictly ascending, except that step 3 may in the extreme
///   repeat values if even that cannot stay finite (not reachable with k <= 256).
/// - Returns the objective of the *returned float centroids* with nearest-centroid
///   assignment, under the weights actually used (the given s, or all ones when
///   every s is zero). It equals kmeans_objective_1d(w, s', n, centroids, k) with
///   s' those weights, up to summation rounding, and exceeds the exact real-valued
///   optimum only by the float rounding of the centroids.
/// - Deterministic: bitwise identical output for identical input, on every
///   target, compiler and flag set.
/// - Cost: O(n) sort + O(k * n * log n) DP worst case, with small constants
///   (about 0.21 ms for n = 4096, k = 8 on one Sapphire Rapids core); see
///   bench/bench_kmeans.cpp.
double kmeans_exact_1d(const float* w, const float* s, std::size_t n, int k, float* centroids,
                       kmeans_exact_workspace& ws);

/// Convenience overload with an internal (per-call) workspace; allocates.
double kmeans_exact_1d(const float* w, const float* s, std::size_t n, int k, float* centroids);

/// The same fit with the argmin scan of target t (tests and benchmarks: the
/// result is bit-identical on every target). Throws sqllm::error if this
/// build or CPU lacks t.
double kmeans_exact_1d(target_id t, const float* w, const float* s, std::size_t n, int k, float* centroids,
                       kmeans_exact_workspace& ws);

/// Weighted objective sum_j s[j]*(w[j]-c[a(j)])^2 of the given centroids with
/// nearest-centroid assignment, accumulated in double. Centroids need not be
/// sorted. Validates like kmeans_exact_1d (plus finite centroids); all-zero s is
/// NOT replaced by ones here (the objective is then 0).
double kmeans_objective_1d(const float* w, const float* s, std::size_t n, const float* centroids, int k);

namespace detail {

/// The argmin scan (kernels/driver/argmin.inl) exists on every compiled target.
struct argmin_kernels {
    static constexpr bool has(target_id t) noexcept { return target_compiled(t); }
};

struct kmeans_exact_solver {
    static void validate_args(const float* w, const float* s, std::size_t n, int k, const void* out, const char* fn) {
        if (n < 1) fail(errc::invalid_argument, std::string(fn) + ": n must be >= 1");
        if (k < 1 || k > 256)
            fail(errc::invalid_argument, std::string(fn) + ": k must be in [1, 256], got " + detail::to_string(k));
        if (w == nullptr || s == nullptr || out == nullptr)
            fail(errc::invalid_argument, std::string(fn) + ": null pointer argument");
    }

    // Slow path, only after the fast scan saw a problem: names the first offender.
    [[noreturn]] static void report_bad_input(const float* w, const float* s, std::size_t n, const char* fn) {
        for (std::size_t i = 0; i < n; ++i) {
            if (!is_finite_bits(float_bits(w[i])))
                fail(errc::non_finite, std::string(fn) + ": w[" + detail::to_string(i) + "] is not finite");
            if (!is_finite_bits(float_bits(s[i])))
                fail(errc::non_finite, std::string(fn) + ": s[" + detail::to_string(i) + "] is not finite");
            if (s[i] < 0.0f)
                fail(errc::negative_value, std::string(fn) + ": s[" + detail::to_string(i) + "] is negative");
        }
        fail(errc::invalid_argument, std::string(fn) + ": invalid input");  // unreachable
    }

    // Fast validation: branch-free passes; the slow one only names the offender.
    static void validate_values(const float* w, const float* s, std::size_t n, const char* fn) {
        if (SQLLM_UNLIKELY(has_bad_values(w, n, false) || has_bad_values(s, n, true))) report_bad_input(w, s, n, fn);
    }

    // LSD radix sort of records by their high 32 bits (the value key), 8 bits per
    // pass; a pass whose digit is the same for every record is skipped. Returns
    // the buffer that holds the sorted records. (Measured: 11-bit digits or
    // interleaved scatter streams were not faster at n = 4096..14336.)
    static std::uint64_t* radix_sort(std::uint64_t* a, std::uint64_t* b, std::size_t cnt) {
        std::uint32_t hist[4][256];
        std::memset(hist, 0, sizeof hist);
        for (std::size_t i = 0; i < cnt; ++i) {
            const std::uint32_t key = static_cast<std::uint32_t>(a[i] >> 32);
            ++hist[0][key & 0xFFu];
            ++hist[1][(key >> 8) & 0xFFu];
            ++hist[2][(key >> 16) & 0xFFu];
            ++hist[3][key >> 24];
        }
        for (int pass = 0; pass < 4; ++pass) {
            std::uint32_t* h = hist[pass];
            const unsigned shift = 32u + 8u * static_cast<unsigned>(pass);
            if (h[(a[0] >> shift) & 0xFFu] == cnt) continue;  // every record has this digit
            std::uint32_t sum = 0;
            for (int d = 0; d < 256; ++d) {
                const std::uint32_t c = h[d];
                h[d] = sum;
                sum += c;
            }
            for (std::size_t i = 0; i < cnt; ++i) {
                const std::uint64_t r = a[i];
                b[h[(r >> shift) & 0xFFu]++] = r;
            }
            std::swap(a, b);
        }
        return a;
    }

    using argmin_result = detail::argmin_result;

    // Candidate split i of row j has the value
    //   E[i] - (p1j - P1[i])^2 / den  =  (E[i]*den - (p1j - P1[i])^2) / den,
    // den = max(p0j - P0[i], wmin) (wmin, the smallest merged weight, is a true
    // lower bound of any cluster weight; it only matters when prefix sums round
    // to equal values under extreme weight ranges, and keeps everything finite).
    // Any argmin is fine for the DP (Monge: an argmin of one row keeps a minimum
    // of every later row inside the narrowed bracket), so ties are not ordered.
    // Wide brackets go to the target's argmin scan (kernels/driver/argmin.inl).

    // Brackets of at most 4 candidates (most solved rows): evaluate 4 clamped
    // candidates, compare them as fractions by cross-multiplying and reduce with
    // selects: one division and no data-dependent branch per row.
    SQLLM_FORCE_INLINE static argmin_result scan4(const double* E, const double* P0, const double* P1, double p0j,
                                                  double p1j, double wmin, std::size_t lo, std::size_t hi) noexcept {
        const std::size_t i1 = std::min(lo + 1, hi), i2 = std::min(lo + 2, hi), i3 = std::min(lo + 3, hi);
        const double d0 = std::max(p0j - P0[lo], wmin), e0 = p1j - P1[lo];
        const double d1 = std::max(p0j - P0[i1], wmin), e1 = p1j - P1[i1];
        const double d2 = std::max(p0j - P0[i2], wmin), e2 = p1j - P1[i2];
        const double d3 = std::max(p0j - P0[i3], wmin), e3 = p1j - P1[i3];
        // Rounded products (core/rounded_product.hpp): the same bits whatever the compiler fuses.
        const double n0 = product(E[lo], d0) - product(e0, e0);
        const double n1 = product(E[i1], d1) - product(e1, e1);
        const double n2 = product(E[i2], d2) - product(e2, e2);
        const double n3 = product(E[i3], d3) - product(e3, e3);
        const bool b01 = n1 * d0 < n0 * d1;
        const double na = b01 ? n1 : n0, da = b01 ? d1 : d0;
        const std::size_t ia = b01 ? i1 : lo;
        const bool b23 = n3 * d2 < n2 * d3;
        const double nb = b23 ? n3 : n2, db = b23 ? d3 : d2;
        const std::size_t ib = b23 ? i3 : i2;
        const bool bb = nb * da < na * db;
        return {(bb ? nb : na) / (bb ? db : da), bb ? ib : ia};
    }

    /// A target's wide-bracket scan (kernels/driver/argmin.inl).
    using scan_fn = argmin_result (*)(const double*, const double*, const double*, double, double, double, std::size_t,
                                      std::size_t) noexcept;

    /// The scan of target t, which must be compiled and supported.
    static scan_fn scan_for(target_id t) noexcept {
        return with_target(t, [](auto tag) -> scan_fn { return &impl_of<decltype(tag)>::type::argmin; });
    }

    SQLLM_FORCE_INLINE static argmin_result scan(const double* E, const double* P0, const double* P1, double p0j,
                                                 double p1j, double wmin, std::size_t lo, std::size_t hi,
                                                 scan_fn wide) noexcept {
        if (hi - lo < 4) return scan4(E, P0, P1, p0j, p1j, wmin, lo, hi);
        return wide(E, P0, P1, p0j, p1j, wmin, lo, hi);
    }

    // The DP over split points. With E_l[j] = D_l[j] - P2[j], where D_l[j] is the
    // optimal cost of the first j merged values in l clusters and P2 the prefix
    // sum of weight * x^2,
    //   E_1[j] = -P1[j]^2 / P0[j],
    //   E_l[j] = min_{l-1 <= i < j} E_{l-1}[i] - (P1[j]-P1[i])^2 / (P0[j]-P0[i]),
    // so the sums of squares cancel out of the recurrence, and the answer is
    // E_k[m] + P2[m] (never needed: the objective is recomputed from centroids).
    // Row j of layer l exists for j in [l, end(l)], end(l) = m-k+l.
    //
    // Demand-driven rows: only rows that a needed row of the next layer can pick
    // are computed. Layer l holds the rows [X[l], end(l)]; ensure(l, a) extends
    // that range down to a. The split of a row j satisfies
    //   opt[l-1][j] <= opt[l][j] <= opt[l][j+1]       (Monge / Knuth bounds),
    // so the rows below opt[l-1][a] of layer l-1 are never read when layer l
    // starts at a. Starting from the single row m of layer k this skips about half
    // of all rows for k = 8..16 (measured: 12.6k instead of 28.6k rows for
    // n = 4096, k = 8). Within an extension, rows are filled by divide-and-conquer
    // (fill): the split of a row lies between the splits of its computed
    // neighbours and above the cross-layer bound.
    struct layered_dp {
        const double* P0;
        const double* P1;
        double wmin;
        double* E;           // layer l at E + l*stride, indexed by row
        std::uint32_t* opt;  // likewise
        std::size_t stride, m, k;
        std::size_t* X;  // lowest computed row of each layer (end(l)+1: none)
        scan_fn simd;    // the target's wide-bracket scan

        std::size_t end(std::size_t l) const noexcept { return m - k + l; }

        // Lower bound on opt[l][j]; needs row min(j, end(l-1)) of layer l-1 (at
        // j = end(l), row j-1 still bounds it: opt[l-1][j-1] <= opt[l][j-1] <= opt[l][j]).
        SQLLM_FORCE_INLINE std::size_t lower(std::size_t l, std::size_t j) const noexcept {
            if (l == 2) return 1;  // layer 1 always splits at 0
            const std::size_t r = std::min(j, end(l - 1));
            return std::max<std::size_t>(opt[(l - 1) * stride + r], l - 1);
        }

        SQLLM_FORCE_INLINE void solve_row(std::size_t l, std::size_t j, std::size_t lo, std::size_t hi) noexcept {
            if (lo > hi) lo = hi;  // rounding can make the bounds cross; stay in range
            const argmin_result r = scan(E + (l - 1) * stride, P0, P1, P0[j], P1[j], wmin, lo, hi, simd);
            E[l * stride + j] = r.value;
            opt[l * stride + j] = static_cast<std::uint32_t>(r.index);
        }

        // Rows strictly between the computed rows a and b of layer l. Their splits
        // lie in [opt[l][a], opt[l][b]]; when that is a single split (the common
        // case at fine scales) every row takes it and is filled directly, when it
        // is a few splits every row scans them, else the middle row is solved
        // and both halves recurse (depth <= log2(b - a)).
        void fill(std::size_t l, std::size_t a, std::size_t b) noexcept {
            std::uint32_t* ol = opt + l * stride;
            while (b - a >= 2) {
                const std::size_t oa = ol[a], ob = ol[b];
                if (oa == ob) {
                    const double* ep = E + (l - 1) * stride;
                    double* ec = E + l * stride;
                    const double e = ep[oa], p0 = P0[oa], p1 = P1[oa];
                    for (std::size_t j = a + 1; j < b; ++j) {
                        const double d0 = std::max(P0[j] - p0, wmin);
                        const double d1 = P1[j] - p1;
                        ec[j] = e - d1 * d1 / d0;
                        ol[j] = static_cast<std::uint32_t>(oa);
                    }
                    return;
                }
                if (ob - oa < 8) {
                    // Narrow bracket: scan it for every row, no recursion
                    // (measured ~9% faster per fit than recursing further).
                    // Splits must stay below the row (j - 1); the bracket's
                    // rows of layer l-1 are all computed (they are >= oa).
                    const double* ep = E + (l - 1) * stride;
                    double* ec = E + l * stride;
                    for (std::size_t j = a + 1; j < b; ++j) {
                        const argmin_result r =
                            scan(ep, P0, P1, P0[j], P1[j], wmin, oa, std::min<std::size_t>(ob, j - 1), simd);
                        ec[j] = r.value;
                        ol[j] = static_cast<std::uint32_t>(r.index);
                    }
                    return;
                }
                const std::size_t mid = a + (b - a) / 2;
                solve_row(l, mid, std::max<std::size_t>(oa, lower(l, mid)), std::min<std::size_t>(ob, mid - 1));
                fill(l, a, mid);
                a = mid;  // tail call on the upper half
            }
        }

        // Recursion depth <= k (<= 256), each frame small. A call that extends a
        // layer makes at most 4 calls on the layer below, and calls that extend
        // nothing return at once, so the number of calls is bounded by 4x the
        // number of extensions (about 30 for k = 8, 100 for k = 16).
        void ensure(std::size_t l, std::size_t a) noexcept {
            if (a >= X[l]) return;
            if (l == 1) {
                double* e = E + stride;
                std::uint32_t* o = opt + stride;
                for (std::size_t j = a; j < X[1]; ++j) {
                    e[j] = -(P1[j] * P1[j]) / std::max(P0[j], wmin);
                    o[j] = 0;
                }
                X[1] = a;
                return;
            }
            const std::uint32_t* ol = opt + l * stride;
            std::size_t b = X[l];
            if (b > end(l)) {  // empty layer: its top row first
                const std::size_t t = end(l);
                ensure(l - 1, end(l - 1));
                const std::size_t lb = lower(l, t);
                ensure(l - 1, lb);
                solve_row(l, t, lb, t - 1);
                X[l] = b = t;
                if (a == t) return;
            }
            ensure(l - 1, a);  // a < end(l), so row a exists in layer l-1
            const std::size_t lb = lower(l, a);
            ensure(l - 1, lb);
            solve_row(l, a, lb, std::min<std::size_t>(ol[b], a - 1));
            fill(l, a, b);
            X[l] = a;
        }
    };

    // Degenerate case m <= k: centroids on the m distinct values, then the fill
    // rule documented at kmeans_exact_1d. `zero_vals` holds the values of the
    // zero-weight points (may be reordered). `c` has room for k floats.
    static void fill_degenerate(const double* vals, std::size_t m, int k, float* c, double* zero_vals, std::size_t z,
                                double* zdist) {
        std::size_t have = m;
        for (std::size_t i = 0; i < m; ++i)
            c[i] = static_cast<float>(vals[i]);
        const std::size_t kk = static_cast<std::size_t>(k);
        // 1. farthest-point picks among the zero-weight values.
        if (have < kk && z > 0) {
            std::sort(zero_vals, zero_vals + z, detail::less{});
            z = static_cast<std::size_t>(std::unique(zero_vals, zero_vals + z, detail::equal_to{}) - zero_vals);
            for (std::size_t i = 0; i < z; ++i) {
                double d = std::numeric_limits<double>::infinity();
                for (std::size_t q = 0; q < have; ++q)
                    d = std::min(d, std::fabs(zero_vals[i] - static_cast<double>(c[q])));
                zdist[i] = d;
            }
            while (have < kk) {
                std::size_t best = z;
                double bestd = 0.0;
                for (std::size_t i = 0; i < z; ++i)
                    if (zdist[i] > bestd) {  // strict: ties keep the smaller value
                        bestd = zdist[i];
                        best = i;
                    }
                if (best == z) break;  // every candidate already is a centroid
                const float nc = static_cast<float>(zero_vals[best]);
                c[have++] = nc;
                for (std::size_t i = 0; i < z; ++i)
                    zdist[i] = std::min(zdist[i], std::fabs(zero_vals[i] - static_cast<double>(nc)));
            }
        }
        std::sort(c, c + have, detail::less{});
        // 2. split the widest splittable gap.
        while (have < kk) {
            std::size_t best = have;
            double bestw = -1.0;
            float mid_best = 0.0f;
            for (std::size_t q = 0; q + 1 < have; ++q) {
                const double a = c[q], b = c[q + 1];
                const float mid = static_cast<float>(product(0.5, a) + product(0.5, b));
                if (mid > c[q] && mid < c[q + 1] && b - a > bestw) {
                    bestw = b - a;
                    best = q;
                    mid_best = mid;
                }
            }
            if (best == have) break;
            std::copy_backward(c + best + 1, c + have, c + have + 1);
            c[best + 1] = mid_best;
            ++have;
        }
        // 3. step outward from the extremes.
        if (have < kk) {
            const double lo = c[0], hi = c[have - 1];
            const double step =
                std::max(std::ldexp(std::max(std::fabs(lo), std::fabs(hi)), -10), std::ldexp(1.0, -116));
            const double fmax = static_cast<double>(std::numeric_limits<float>::max());
            const std::size_t extra = kk - have;
            const bool up = hi + product(static_cast<double>(extra), step) <= fmax;
            for (std::size_t t = 1; t <= extra; ++t) {
                const double v =
                    up ? hi + product(static_cast<double>(t), step) : lo - product(static_cast<double>(t), step);
                c[have++] = static_cast<float>(std::max(-fmax, std::min(fmax, v)));
            }
            std::sort(c, c + have, detail::less{});
        }
    }

    // Validating entry point.
    static double solve(const float* w, const float* s, std::size_t n, int k, float* out, kmeans_exact_workspace& ws,
                        target_id level) {
        static const char* fn = "kmeans_exact_1d";
        validate_args(w, s, n, k, out, fn);
        validate_values(w, s, n, fn);
        return solve_valid(w, s, n, k, out, ws, level);
    }

    // For callers that validated w and s already (quantize() checks whole
    // matrices up front): n >= 1, k in [1, 256], finite w, finite s >= 0.
    static double solve_valid(const float* w, const float* s, std::size_t n, int k, float* out,
                              kmeans_exact_workspace& ws, target_id level) {
        ws.grow(n, static_cast<std::size_t>(k));

        // 1. Records of positive-weight points; all-zero s -> uniform weights.
        std::uint64_t* rec = ws.rec_.data();
        std::size_t cnt = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint32_t su = float_bits(s[i]);
            rec[cnt] = (static_cast<std::uint64_t>(order_key(w[i])) << 32) | su;
            cnt += (su & 0x7FFFFFFFu) != 0u ? 1u : 0u;  // positive (s >= 0 validated)
        }
        const bool uniform = cnt == 0;
        if (uniform) {
            const std::uint64_t one = float_bits(1.0f);
            for (std::size_t i = 0; i < n; ++i)
                rec[i] = (static_cast<std::uint64_t>(order_key(w[i])) << 32) | one;
            cnt = n;
        }

        // 2.-3. Sort, merge equal values, accumulate weighted sums for the mean.
        const std::uint64_t* sorted = radix_sort(rec, ws.tmp_.data(), cnt);
        double* val = ws.val_.data();
        double* wt = ws.wt_.data();
        std::size_t m = 0;
        double sw = 0.0, swx = 0.0;
        double wmin = std::numeric_limits<double>::infinity();
        {
            float cur = from_order_key(static_cast<std::uint32_t>(sorted[0] >> 32));
            double acc = bits_float(static_cast<std::uint32_t>(sorted[0]));
            auto close_run = [&] {  // emit the run of equal values just ended
                val[m] = cur;
                wt[m] = acc;
                wmin = std::min(wmin, acc);
                sw += acc;
                swx += product(acc, static_cast<double>(cur));
                ++m;
            };
            for (std::size_t i = 1; i < cnt; ++i) {
                const float v = from_order_key(static_cast<std::uint32_t>(sorted[i] >> 32));
                const double sv = bits_float(static_cast<std::uint32_t>(sorted[i]));
                if (v == cur) {  // also merges -0 with +0
                    acc += sv;
                } else {
                    close_run();
                    cur = v;
                    acc = sv;
                }
            }
            close_run();
        }
        const std::size_t kk = static_cast<std::size_t>(k);

        if (m <= kk) {
            // Objective 0 for every weighted point; the rest is the fill rule.
            std::size_t z = 0;
            double* zv = ws.p0_.data();  // reuse: values of zero-weight points
            double* zd = ws.p1_.data();
            if (!uniform)
                for (std::size_t i = 0; i < n; ++i)
                    if (float_bits(s[i]) << 1 == 0u) zv[z++] = w[i];
            fill_degenerate(val, m, k, out, zv, z, zd);
            return 0.0;
        }

        // 4. Prefix sums of weight and weight * centred value.
        const double mean = swx / sw;
        double* P0 = ws.p0_.data();
        double* P1 = ws.p1_.data();
        P0[0] = 0.0;
        P1[0] = 0.0;
        {
            double a0 = 0.0, a1 = 0.0;
            for (std::size_t i = 0; i < m; ++i) {
                a0 += wt[i];
                a1 += product(wt[i], val[i] - mean);
                P0[i + 1] = a0;
                P1[i + 1] = a1;
            }
        }

        // 5. Layered DP (see layered_dp), then backtrack the boundaries.
        std::size_t bnd[257];  // cluster q covers merged values [bnd[q], bnd[q+1])
        bnd[0] = 0;
        bnd[kk] = m;
        if (kk > 1) {
            layered_dp dp;
            dp.P0 = P0;
            dp.P1 = P1;
            dp.wmin = wmin;
            dp.m = m;
            dp.k = kk;
            dp.stride = m + 1;
            dp.E = ws.e_.data();
            dp.simd = scan_for(target_supported(level) ? level : choose_target<argmin_kernels>());
            dp.opt = ws.opt_.data();
            std::size_t X[257];
            for (std::size_t l = 1; l < kk; ++l)
                X[l] = dp.end(l) + 1;
            dp.X = X;
            // Row m of layer k (the whole row set) is the only one needed there; its
            // split is >= opt[k-1][m-1] (cross-layer bound).
            dp.ensure(kk - 1, m - 1);
            const std::size_t lb = dp.lower(kk, m);
            dp.ensure(kk - 1, lb);
            const argmin_result r = scan(dp.E + (kk - 1) * dp.stride, P0, P1, P0[m], P1[m], wmin, lb, m - 1, dp.simd);
            std::size_t j = r.index;
            bnd[kk - 1] = j;
            for (std::size_t l = kk - 1; l >= 2; --l) {
                j = dp.opt[l * dp.stride + j];
                bnd[l - 1] = j;
            }
        }

        // Cluster means by direct summation (prefix differences would lose digits
        // for light clusters next to heavy ones).
        for (std::size_t q = 0; q < kk; ++q) {
            double a0 = 0.0, a1 = 0.0;
            for (std::size_t i = bnd[q]; i < bnd[q + 1]; ++i) {
                a0 += wt[i];
                a1 += product(wt[i], val[i]);
            }
            out[q] = static_cast<float>(a1 / a0);
        }

        // Objective of the float centroids, nearest assignment (monotone pointer).
        double obj = 0.0;
        std::size_t q = 0;
        for (std::size_t i = 0; i < m; ++i) {
            const double v = val[i];
            while (q + 1 < kk &&
                   std::fabs(v - static_cast<double>(out[q + 1])) <= std::fabs(v - static_cast<double>(out[q])))
                ++q;
            const double d = v - static_cast<double>(out[q]);
            obj += product(wt[i] * d, d);
        }
        return obj;
    }
};

}  // namespace detail

inline double kmeans_exact_1d(const float* w, const float* s, std::size_t n, int k, float* centroids,
                              kmeans_exact_workspace& ws) {
    return detail::kmeans_exact_solver::solve(w, s, n, k, centroids, ws, choose_target<detail::argmin_kernels>());
}

inline double kmeans_exact_1d(const float* w, const float* s, std::size_t n, int k, float* centroids) {
    kmeans_exact_workspace ws;
    return kmeans_exact_1d(w, s, n, k, centroids, ws);
}

inline double kmeans_exact_1d(target_id t, const float* w, const float* s, std::size_t n, int k, float* centroids,
                              kmeans_exact_workspace& ws) {
    require_target<detail::argmin_kernels>(t, "kmeans_exact_1d");
    return detail::kmeans_exact_solver::solve(w, s, n, k, centroids, ws, t);
}

inline double kmeans_objective_1d(const float* w, const float* s, std::size_t n, const float* centroids, int k) {
    using solver = detail::kmeans_exact_solver;
    static const char* fn = "kmeans_objective_1d";
    solver::validate_args(w, s, n, k, centroids, fn);
    solver::validate_values(w, s, n, fn);
    std::array<float, 256> c{};
    for (int q = 0; q < k; ++q) {
        if (!detail::is_finite_bits(detail::float_bits(centroids[q])))
            detail::fail(errc::non_finite, std::string(fn) + ": centroids[" + detail::to_string(q) + "] is not finite");
        c[static_cast<std::size_t>(q)] = centroids[q];
    }
    std::sort(c.begin(), c.begin() + k, detail::less{});
    double obj = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const double v = w[i];
        const float* it = std::lower_bound(c.data(), c.data() + k, w[i], detail::less{});
        double best = std::numeric_limits<double>::infinity();
        if (it != c.data() + k) best = std::fabs(static_cast<double>(*it) - v);
        if (it != c.data()) best = std::min(best, std::fabs(v - static_cast<double>(*(it - 1))));
        obj += detail::product(static_cast<double>(s[i]) * best, best);
    }
    return obj;
}

SQLLM_NAMESPACE_END
