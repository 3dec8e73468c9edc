// tests/test_kmeans_exact.cpp — the exact weighted 1-D k-means solver.
//
// Reference optima come from independent code in this file: enumeration of all
// contiguous partitions (and of all assignments for tiny rows, which also checks
// that contiguity loses nothing) and a plain O(k*m^2) DP without any of the
// solver's bounds. The solver returns the objective of its *float* centroids,
// which may exceed the real-valued optimum by the centroids' float rounding;
// the tolerances below allow exactly that plus summation rounding.
#include "catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "sqllm/quantize/kmeans_exact.hpp"

namespace {

using sqllm::kmeans_exact_1d;
using sqllm::kmeans_objective_1d;

// Distinct values with summed weights, positive weights only (all-zero s ->
// ones), in double, sorted.
struct merged {
    std::vector<double> v, s;
};

merged merge_points(const std::vector<float>& w, const std::vector<float>& s) {
    bool any = false;
    for (float x : s) any = any || x > 0.0f;
    std::map<float, double> acc;
    for (std::size_t i = 0; i < w.size(); ++i) {
        const double sw = any ? static_cast<double>(s[i]) : 1.0;
        if (sw > 0.0) acc[w[i] == 0.0f ? 0.0f : w[i]] += sw;
    }
    merged r;
    for (const auto& kv : acc) {
        r.v.push_back(kv.first);
        r.s.push_back(kv.second);
    }
    return r;
}

// Cost of values [a, b) as one cluster, computed directly (two-pass mean).
double cluster_cost(const merged& d, std::size_t a, std::size_t b) {
    double s0 = 0.0, s1 = 0.0;
    for (std::size_t i = a; i < b; ++i) {
        s0 += d.s[i];
        s1 += d.s[i] * d.v[i];
    }
    const double mu = s1 / s0;
    double c = 0.0;
    for (std::size_t i = a; i < b; ++i) c += d.s[i] * (d.v[i] - mu) * (d.v[i] - mu);
    return c;
}

// Minimum over all contiguous partitions into min(k, m) nonempty groups.
double brute_contiguous(const merged& d, int k) {
    const std::size_t m = d.v.size();
    const std::size_t g = std::min<std::size_t>(static_cast<std::size_t>(k), m);
    if (g == m) return 0.0;
    // choose g-1 cut positions among 1..m-1
    std::vector<std::size_t> cut(g + 1);
    double best = std::numeric_limits<double>::infinity();
    std::vector<int> sel(m - 1, 0);
    std::fill(sel.begin(), sel.begin() + static_cast<std::ptrdiff_t>(g - 1), 1);
    std::sort(sel.begin(), sel.end());
    do {
        cut[0] = 0;
        std::size_t q = 1;
        for (std::size_t i = 0; i + 1 < m; ++i)
            if (sel[i]) cut[q++] = i + 1;
        cut[g] = m;
        double c = 0.0;
        for (std::size_t t = 0; t < g; ++t) c += cluster_cost(d, cut[t], cut[t + 1]);
        best = std::min(best, c);
    } while (std::next_permutation(sel.begin(), sel.end()));
    return best;
}

// Minimum over all assignments of the m values to k labels (no contiguity assumed).
double brute_assignments(const merged& d, int k) {
    const std::size_t m = d.v.size();
    std::vector<int> lab(m, 0);
    double best = std::numeric_limits<double>::infinity();
    for (;;) {
        double c = 0.0;
        for (int q = 0; q < k; ++q) {
            double s0 = 0.0, s1 = 0.0;
            for (std::size_t i = 0; i < m; ++i)
                if (lab[i] == q) {
                    s0 += d.s[i];
                    s1 += d.s[i] * d.v[i];
                }
            if (s0 == 0.0) continue;
            const double mu = s1 / s0;
            for (std::size_t i = 0; i < m; ++i)
                if (lab[i] == q) c += d.s[i] * (d.v[i] - mu) * (d.v[i] - mu);
        }
        best = std::min(best, c);
        std::size_t i = 0;
        while (i < m && ++lab[i] == k) lab[i++] = 0;
        if (i == m) break;
    }
    return best;
}

// Plain O(k m^2) DP with directly computed cluster costs (prefix sums of
// centred values, no monotonicity tricks).
double reference_dp(const merged& d, int k) {
    const std::size_t m = d.v.size();
    const std::size_t g = std::min<std::size_t>(static_cast<std::size_t>(k), m);
    if (g == m) return 0.0;
    double sw = 0.0, swx = 0.0;
    for (std::size_t i = 0; i < m; ++i) {
        sw += d.s[i];
        swx += d.s[i] * d.v[i];
    }
    const double mu = swx / sw;
    std::vector<double> p0(m + 1, 0.0), p1(m + 1, 0.0), p2(m + 1, 0.0);
    for (std::size_t i = 0; i < m; ++i) {
        const double x = d.v[i] - mu;
        p0[i + 1] = p0[i] + d.s[i];
        p1[i + 1] = p1[i] + d.s[i] * x;
        p2[i + 1] = p2[i] + d.s[i] * x * x;
    }
    auto cost = [&](std::size_t a, std::size_t b) {
        const double s0 = p0[b] - p0[a], s1 = p1[b] - p1[a], s2 = p2[b] - p2[a];
        return std::max(0.0, s2 - s1 * s1 / s0);
    };
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<double> prev(m + 1, inf), cur(m + 1, inf);
    for (std::size_t j = 1; j <= m; ++j) prev[j] = cost(0, j);
    for (std::size_t l = 2; l <= g; ++l) {
        std::fill(cur.begin(), cur.end(), inf);
        for (std::size_t j = l; j <= m; ++j)
            for (std::size_t i = l - 1; i < j; ++i) cur[j] = std::min(cur[j], prev[i] + cost(i, j));
        std::swap(prev, cur);
    }
    return prev[m];
}

// Extra objective that rounding k optimal centroids to float can add:
// sum s * (half ulp at the largest magnitude)^2, doubled for safety.
double float_rounding_slack(const merged& d) {
    double maxabs = 0.0, sw = 0.0;
    for (std::size_t i = 0; i < d.v.size(); ++i) {
        maxabs = std::max(maxabs, std::fabs(d.v[i]));
        sw += d.s[i];
    }
    const double half_ulp = std::ldexp(maxabs, -24);
    return 2.0 * sw * half_ulp * half_ulp;
}

double scale_of(const merged& d) {
    double s = 0.0;
    for (std::size_t i = 0; i < d.v.size(); ++i) s += d.s[i] * d.v[i] * d.v[i];
    return s;
}

// ours must lie in [opt - tiny, opt + float slack + 1e-9 relative].
void check_against(double ours, double opt, const merged& d) {
    const double tiny = 1e-13 * scale_of(d) + 1e-300;
    INFO("ours=" << ours << " optimum=" << opt);
    CHECK(ours >= opt - 1e-9 * opt - tiny);
    CHECK(ours <= opt + 1e-9 * opt + float_rounding_slack(d) + tiny);
}

void check_output_shape(const std::vector<float>& c) {
    for (float x : c) CHECK(std::isfinite(x));
    for (std::size_t i = 1; i < c.size(); ++i) CHECK(c[i - 1] < c[i]);
}

std::vector<float> ones(std::size_t n) { return std::vector<float>(n, 1.0f); }

bool any_positive(const std::vector<float>& s) {
    for (float x : s)
        if (x > 0.0f) return true;
    return false;
}

// Objective consistency: the returned value is the objective of the returned
// centroids under the weights actually used.
void check_returned_objective(const std::vector<float>& w, const std::vector<float>& s,
                              const std::vector<float>& c, double ret) {
    const std::vector<float> used = any_positive(s) ? s : ones(s.size());
    const double obj = kmeans_objective_1d(w.data(), used.data(), w.size(), c.data(),
                                           static_cast<int>(c.size()));
    CHECK(std::fabs(obj - ret) <= 1e-12 * std::max(obj, ret) + 1e-300);
}

// Small random rows with duplicates and zero weights.
void random_small_row(std::mt19937_64& rng, std::size_t n, std::vector<float>& w,
                      std::vector<float>& s) {
    std::uniform_int_distribution<int> pick(0, 6);
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    std::uniform_real_distribution<float> us(0.01f, 3.0f);
    std::vector<float> pool(4);
    for (float& x : pool) x = u(rng);
    w.resize(n);
    s.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const int r = pick(rng);
        w[i] = r < 2 ? pool[static_cast<std::size_t>(r + pick(rng)) % pool.size()] : u(rng);
        s[i] = pick(rng) == 0 ? 0.0f : us(rng);
        if (pick(rng) == 0) s[i] *= 1e-4f;  // a spread of magnitudes
    }
}

}  // namespace

TEST_CASE("kmeans_exact_1d matches enumeration of contiguous partitions", "[kmeans_exact]") {
    std::mt19937_64 rng(12345);
    sqllm::kmeans_exact_workspace ws;
    for (int rep = 0; rep < 600; ++rep) {
        const std::size_t n = 1 + static_cast<std::size_t>(rng() % 12);
        std::vector<float> w, s;
        random_small_row(rng, n, w, s);
        if (rep % 50 == 0) std::fill(s.begin(), s.end(), 0.0f);  // uniform fallback
        const int k = 1 + static_cast<int>(rng() % (n + 2));
        std::vector<float> c(static_cast<std::size_t>(k));
        const double ret = kmeans_exact_1d(w.data(), s.data(), n, k, c.data(), ws);
        const merged d = merge_points(w, s);
        INFO("rep " << rep << " n " << n << " k " << k << " m " << d.v.size());
        check_against(ret, brute_contiguous(d, k), d);
        check_output_shape(c);
        check_returned_objective(w, s, c, ret);
    }
}

TEST_CASE("kmeans_exact_1d matches enumeration of all assignments", "[kmeans_exact]") {
    std::mt19937_64 rng(777);
    for (int rep = 0; rep < 150; ++rep) {
        const std::size_t n = 1 + static_cast<std::size_t>(rng() % 7);
        std::vector<float> w, s;
        random_small_row(rng, n, w, s);
        const int k = 1 + static_cast<int>(rng() % 4);
        std::vector<float> c(static_cast<std::size_t>(k));
        const double ret = kmeans_exact_1d(w.data(), s.data(), n, k, c.data());
        const merged d = merge_points(w, s);
        INFO("rep " << rep << " n " << n << " k " << k);
        check_against(ret, brute_assignments(d, k), d);
    }
}

TEST_CASE("kmeans_exact_1d matches a plain O(k n^2) DP on larger rows", "[kmeans_exact]") {
    std::mt19937_64 rng(4242);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::normal_distribution<double> g(0.0, 1.0);
    sqllm::kmeans_exact_workspace ws;
    const int ks[] = {2, 3, 4, 5, 8, 16, 33};
    for (int rep = 0; rep < 49; ++rep) {
        const std::size_t n = (rep % 7 == 3 ? 600 : 40) + static_cast<std::size_t>(rng() % 300);
        std::vector<float> w(n), s(n);
        for (std::size_t i = 0; i < n; ++i) {
            double mag = -std::log(1.0 - u(rng)) * 0.02;
            if (u(rng) < 0.01) mag *= 10.0;
            w[i] = static_cast<float>(u(rng) < 0.5 ? -mag : mag);
            if (rep % 3 == 1) w[i] = std::round(w[i] * 200.0f) / 200.0f;  // many duplicates
            s[i] = static_cast<float>(std::exp(3.0 * g(rng)));  // heavy tail, ~1e-4..1e4
            if (rep % 3 == 2 && u(rng) < 0.1) s[i] = 0.0f;
        }
        const int k = ks[rep % 7];
        std::vector<float> c(static_cast<std::size_t>(k));
        const double ret = kmeans_exact_1d(w.data(), s.data(), n, k, c.data(), ws);
        const merged d = merge_points(w, s);
        INFO("rep " << rep << " n " << n << " k " << k << " m " << d.v.size());
        check_against(ret, reference_dp(d, k), d);
        check_output_shape(c);
        check_returned_objective(w, s, c, ret);
    }
}

TEST_CASE("kmeans_exact_1d: every target this CPU runs gives the same bits, the plain DP's optimum", "[kmeans_exact]") {
    // The wide-bracket scan is compiled per target (kernels/driver/argmin.inl);
    // each must reach the optimum (to the tolerance of check_against), and all
    // must return identical centroids and objective: quantize() output may not
    // depend on the CPU it ran on.
    std::mt19937_64 rng(777);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    sqllm::kmeans_exact_workspace ws;
    const int ks[] = {2, 3, 8, 16, 7};
    int compared = 0;
    for (int rep = 0; rep < 20; ++rep) {
        const std::size_t n = 37 + static_cast<std::size_t>(rng() % 1500);  // odd sizes, brackets of every width
        std::vector<float> w(n), s(n);
        for (std::size_t i = 0; i < n; ++i) {
            const double mag = -std::log(1.0 - u(rng)) * 0.03;
            w[i] = static_cast<float>(u(rng) < 0.5 ? -mag : mag);
            if (rep % 4 == 1) w[i] = std::round(w[i] * 300.0f) / 300.0f;
            s[i] = static_cast<float>(std::exp(4.0 * (u(rng) - 0.5)));
            if (rep % 4 == 2 && u(rng) < 0.2) s[i] = 0.0f;
        }
        const int k = ks[rep % 5];
        const merged d = merge_points(w, s);
        const double want = reference_dp(d, k);
        std::vector<float> first;
        double first_ret = 0;
        for (const sqllm::target_id t : sqllm::all_targets) {
            if (!sqllm::target_supported(t)) {
                REQUIRE_THROWS_AS(sqllm::kmeans_exact_1d(t, w.data(), s.data(), n, k, nullptr, ws), sqllm::error);
                continue;
            }
            std::vector<float> c(static_cast<std::size_t>(k));
            const double ret = sqllm::kmeans_exact_1d(t, w.data(), s.data(), n, k, c.data(), ws);
            INFO("rep " << rep << " n " << n << " k " << k << " target " << sqllm::to_string(t));
            check_against(ret, want, d);
            check_output_shape(c);
            check_returned_objective(w, s, c, ret);
            if (first.empty()) {
                first = c;
                first_ret = ret;
            } else {
                REQUIRE(c == first);
                REQUIRE(ret == first_ret);
                ++compared;
            }
        }
    }
    INFO("targets compared bit for bit: " << compared / 20 + 1);
    SUCCEED();
}

TEST_CASE("kmeans_exact_1d degenerate rows", "[kmeans_exact]") {
    SECTION("n = 1") {
        const float w = 0.75f, s = 2.0f;
        float c[3];
        CHECK(kmeans_exact_1d(&w, &s, 1, 1, c) == 0.0);
        CHECK(c[0] == 0.75f);
        CHECK(kmeans_exact_1d(&w, &s, 1, 3, c) == 0.0);
        CHECK(std::find(c, c + 3, 0.75f) != c + 3);
        check_output_shape(std::vector<float>(c, c + 3));
    }
    SECTION("k = 1 gives the weighted mean") {
        const std::vector<float> w = {1.0f, 2.0f, 4.0f, -3.0f};
        const std::vector<float> s = {1.0f, 0.5f, 0.25f, 0.0f};
        float c;
        const double ret = kmeans_exact_1d(w.data(), s.data(), 4, 1, &c);
        const double mean = (1.0 + 1.0 + 1.0) / 1.75;
        CHECK(c == static_cast<float>(mean));
        const double expect = 1.0 * (1 - mean) * (1 - mean) + 0.5 * (2 - mean) * (2 - mean) +
                              0.25 * (4 - mean) * (4 - mean);
        CHECK(std::fabs(ret - expect) < 1e-6);
    }
    SECTION("fewer distinct values than k") {
        const std::vector<float> w = {3.0f, 1.0f, 3.0f, 1.0f, 2.0f, 3.0f};
        const std::vector<float> s = {1.0f, 1.0f, 1.0f, 2.0f, 1.0f, 1.0f};
        std::vector<float> c(5);
        CHECK(kmeans_exact_1d(w.data(), s.data(), w.size(), 5, c.data()) == 0.0);
        check_output_shape(c);
        for (float v : {1.0f, 2.0f, 3.0f}) CHECK(std::find(c.begin(), c.end(), v) != c.end());
        // Fill rule step 2: midpoints of the widest gaps, leftmost first.
        CHECK(c == std::vector<float>({1.0f, 1.5f, 2.0f, 2.5f, 3.0f}));
    }
    SECTION("zero-weight values fill spare centroids, farthest first") {
        const std::vector<float> w = {0.0f, 0.1f, 5.0f, -4.0f, 0.2f};
        const std::vector<float> s = {1.0f, 1.0f, 0.0f, 0.0f, 0.0f};
        std::vector<float> c(3);
        CHECK(kmeans_exact_1d(w.data(), s.data(), w.size(), 3, c.data()) == 0.0);
        CHECK(c == std::vector<float>({0.0f, 0.1f, 5.0f}));
        std::vector<float> c5(5);
        kmeans_exact_1d(w.data(), s.data(), w.size(), 5, c5.data());
        CHECK(c5 == std::vector<float>({-4.0f, 0.0f, 0.1f, 0.2f, 5.0f}));
    }
    SECTION("zero-weight points do not move centroids") {
        const std::vector<float> w = {1.0f, 1.5f, 10.0f, 11.0f, 100.0f, -50.0f};
        const std::vector<float> s = {1.0f, 1.0f, 1.0f, 1.0f, 0.0f, 0.0f};
        std::vector<float> c(2);
        const double ret = kmeans_exact_1d(w.data(), s.data(), w.size(), 2, c.data());
        CHECK(c == std::vector<float>({1.25f, 10.5f}));
        CHECK(std::fabs(ret - (2 * 0.0625 + 2 * 0.25)) < 1e-12);
    }
    SECTION("all-equal row") {
        const std::vector<float> w(40, -0.125f);
        std::vector<float> s(40, 0.5f);
        std::vector<float> c(16);
        CHECK(kmeans_exact_1d(w.data(), s.data(), w.size(), 16, c.data()) == 0.0);
        check_output_shape(c);
        CHECK(std::find(c.begin(), c.end(), -0.125f) != c.end());
        const std::vector<float> z(7, 0.0f);
        std::vector<float> c4(4);
        kmeans_exact_1d(z.data(), s.data(), z.size(), 4, c4.data());
        check_output_shape(c4);
        CHECK(c4[0] == 0.0f);
        const std::vector<float> big(3, std::numeric_limits<float>::max());
        kmeans_exact_1d(big.data(), s.data(), big.size(), 4, c4.data());
        check_output_shape(c4);
        CHECK(c4[3] == std::numeric_limits<float>::max());
    }
    SECTION("all-zero sensitivity equals uniform weights") {
        std::mt19937_64 rng(99);
        std::vector<float> w, s;
        random_small_row(rng, 50, w, s);
        const std::vector<float> zero(50, 0.0f), one = ones(50);
        std::vector<float> c0(6), c1(6);
        const double r0 = kmeans_exact_1d(w.data(), zero.data(), 50, 6, c0.data());
        const double r1 = kmeans_exact_1d(w.data(), one.data(), 50, 6, c1.data());
        CHECK(c0 == c1);
        CHECK(r0 == r1);
        CHECK(kmeans_objective_1d(w.data(), zero.data(), 50, c0.data(), 6) == 0.0);
    }
    SECTION("k = 256 with n < 256") {
        std::mt19937_64 rng(5);
        std::vector<float> w, s;
        random_small_row(rng, 100, w, s);
        std::vector<float> c(256);
        CHECK(kmeans_exact_1d(w.data(), s.data(), w.size(), 256, c.data()) == 0.0);
        check_output_shape(c);
        for (std::size_t i = 0; i < w.size(); ++i)
            if (s[i] > 0.0f) CHECK(std::find(c.begin(), c.end(), w[i]) != c.end());
    }
    SECTION("k = 256 on a full row matches the plain DP") {
        std::mt19937_64 rng(6);
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        std::vector<float> w(600), s(600);
        for (std::size_t i = 0; i < w.size(); ++i) {
            w[i] = u(rng);
            s[i] = 1.0f + u(rng) * 0.5f;
        }
        std::vector<float> c(256);
        const double ret = kmeans_exact_1d(w.data(), s.data(), w.size(), 256, c.data());
        const merged d = merge_points(w, s);
        check_against(ret, reference_dp(d, 256), d);
        check_output_shape(c);
    }
    SECTION("signed zeros are one value") {
        const std::vector<float> w = {0.0f, -0.0f, 1.0f};
        const std::vector<float> s = {1.0f, 1.0f, 1.0f};
        std::vector<float> c(2);
        CHECK(kmeans_exact_1d(w.data(), s.data(), 3, 2, c.data()) == 0.0);
        CHECK(c[0] == 0.0f);
        CHECK(c[1] == 1.0f);
    }
}

TEST_CASE("kmeans_exact_1d rejects bad input", "[kmeans_exact]") {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> w = {0.5f, 1.0f, 2.0f}, s = {1.0f, 1.0f, 1.0f};
    float c[4];
    auto code_of = [&](const std::vector<float>& ww, const std::vector<float>& ss, std::size_t n,
                       int k) {
        try {
            kmeans_exact_1d(ww.data(), ss.data(), n, k, c);
        } catch (const sqllm::error& e) {
            return static_cast<int>(e.code());
        }
        return -1;
    };
    using E = sqllm::errc;
    auto with = [](std::vector<float> v, std::size_t i, float x) {
        v[i] = x;
        return v;
    };
    CHECK(code_of(with(w, 1, nan), s, 3, 2) == static_cast<int>(E::non_finite));
    CHECK(code_of(with(w, 2, inf), s, 3, 2) == static_cast<int>(E::non_finite));
    CHECK(code_of(with(w, 0, -inf), s, 3, 2) == static_cast<int>(E::non_finite));
    CHECK(code_of(w, with(s, 0, nan), 3, 2) == static_cast<int>(E::non_finite));
    CHECK(code_of(w, with(s, 1, inf), 3, 2) == static_cast<int>(E::non_finite));
    CHECK(code_of(w, with(s, 2, -1.0f), 3, 2) == static_cast<int>(E::negative_value));
    CHECK(code_of(w, s, 3, 0) == static_cast<int>(E::invalid_argument));
    CHECK(code_of(w, s, 3, 257) == static_cast<int>(E::invalid_argument));
    CHECK(code_of(w, s, 0, 2) == static_cast<int>(E::invalid_argument));
    CHECK(code_of(w, with(s, 2, -0.0f), 3, 2) == -1);  // -0 is a zero weight
    std::string message;  // the message names the offending element
    try {
        kmeans_exact_1d(with(w, 1, nan).data(), s.data(), 3, 2, c);
    } catch (const sqllm::error& e) {
        message = e.what();
    }
    CHECK(message.find("w[1]") != std::string::npos);
    CHECK_THROWS_AS(kmeans_objective_1d(w.data(), with(s, 0, -2.0f).data(), 3, c, 1),
                    sqllm::error);
    const float bad_c[2] = {0.0f, nan};
    CHECK_THROWS_AS(kmeans_objective_1d(w.data(), s.data(), 3, bad_c, 2), sqllm::error);
}

TEST_CASE("kmeans_exact_1d is deterministic and reuses its workspace", "[kmeans_exact]") {
    std::mt19937_64 rng(2024);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const std::size_t n = 3000;
    std::vector<float> w(n), s(n);
    for (std::size_t i = 0; i < n; ++i) {
        const double mag = -std::log(1.0 - u(rng)) * 0.02;
        w[i] = static_cast<float>(u(rng) < 0.5 ? -mag : mag);
        s[i] = static_cast<float>(std::exp(4.0 * (u(rng) - 0.5)));
    }
    sqllm::kmeans_exact_workspace ws;
    std::vector<float> a(16), b(16), small(16);
    const double ra = kmeans_exact_1d(w.data(), s.data(), n, 16, a.data(), ws);
    // A different (smaller) fit in between must not disturb the next one.
    kmeans_exact_1d(w.data(), s.data(), 100, 16, small.data(), ws);
    const double rb = kmeans_exact_1d(w.data(), s.data(), n, 16, b.data());
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(&ra, &rb, sizeof ra) == 0);
    check_output_shape(a);
    check_returned_objective(w, s, a, ra);
    // More clusters never hurt.
    double prev = std::numeric_limits<double>::infinity();
    for (int k = 1; k <= 32; k *= 2) {
        std::vector<float> c(static_cast<std::size_t>(k));
        const double r = kmeans_exact_1d(w.data(), s.data(), n, k, c.data(), ws);
        CHECK(r <= prev * (1.0 + 1e-12));
        prev = r;
    }
}
