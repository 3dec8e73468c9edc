// The quantizer: Lloyd and uniform LUT fits, the dense-and-sparse split with
// the reference's rules, exact reconstruction of kept weights, bad input.
#include <sqllm/sqllm.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "catch.hpp"
#include "test_util.hpp"

using namespace sqllm;
using sqllm_test::rng_t;
using sqllm_test::throws_code;

namespace {
matrix_view<const float> mv(const std::vector<float>& v, std::size_t rows, std::size_t cols) {
    return {v.data(), rows, cols};
}
}  // namespace

TEMPLATE_TEST_CASE_SIG("nearest_codes_sorted equals the binary search, ties included", "[quantize]", ((int K), K),
                       (2), (4), (8), (16), (256)) {
    rng_t rng(K);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> lut(K);
    for (auto& x : lut) x = u(rng);
    lut[K / 2] = lut[0];  // a repeated entry
    std::sort(lut.begin(), lut.end());
    std::vector<float> w;
    for (int i = 0; i < 999; ++i) w.push_back(u(rng) * 1.5f);
    for (int q = 0; q + 1 < K; ++q) {  // exact entries and exact midpoints
        w.push_back(lut[q]);
        w.push_back(lut[q] + (lut[q + 1] - lut[q]) / 2);
    }
    std::vector<code_t> got(w.size());
    nearest_codes_sorted<K>(lut.data(), w.data(), w.size(), got.data());
    for (std::size_t i = 0; i < w.size(); ++i) {
        INFO("w = " << w[i]);
        REQUIRE(got[i] == nearest_code_sorted(lut.data(), K, w[i]));
        REQUIRE(std::fabs(w[i] - lut[got[i]]) == std::fabs(w[i] - lut[nearest_code(lut.data(), K, w[i])]));
    }
}

TEST_CASE("Lloyd: separated clusters are found exactly", "[quantize]") {
    // Four tight groups, 4 centroids: the answer is the group means.
    std::vector<float> w, s;
    const float centres[] = {-1.0f, -0.25f, 0.5f, 2.0f};
    for (int i = 0; i < 40; ++i) {
        w.push_back(centres[i % 4] + 0.001f * static_cast<float>(i % 3 - 1));
        s.push_back(1.0f);
    }
    float c[4];
    const double obj = kmeans_lloyd_1d(w.data(), s.data(), w.size(), 4, c);
    for (int i = 0; i < 4; ++i)
        REQUIRE(std::fabs(c[i] - centres[i]) < 1e-3f);
    REQUIRE(obj < 1e-4);
}

TEST_CASE("Lloyd: weights pull centroids, zero weights do not", "[quantize]") {
    const std::vector<float> w = {0.0f, 1.0f, 10.0f};
    const std::vector<float> s = {1.0f, 3.0f, 0.0f};
    float c[1];
    kmeans_lloyd_1d(w.data(), s.data(), 3, 1, c);
    REQUIRE(std::fabs(c[0] - 0.75f) < 1e-6f);  // weighted mean of 0 and 1; 10 ignored
    const std::vector<float> zeros = {0.0f, 0.0f, 0.0f};
    kmeans_lloyd_1d(w.data(), zeros.data(), 3, 1, c);  // all-zero sensitivity: uniform weights
    REQUIRE(std::fabs(c[0] - 11.0f / 3) < 1e-5f);
}

TEST_CASE("Lloyd: degenerate rows and determinism", "[quantize]") {
    float c[8];
    const std::vector<float> same(10, 0.5f);
    REQUIRE(kmeans_lloyd_1d(same.data(), nullptr, same.size(), 8, c) == 0.0);
    for (float v : c)
        REQUIRE(v == 0.5f);
    const std::vector<float> three = {1, 2, 3, 1, 2, 3};
    REQUIRE(kmeans_lloyd_1d(three.data(), nullptr, three.size(), 8, c) == 0.0);
    REQUIRE(std::is_sorted(c, c + 8));
    rng_t rng(1);
    const auto w = sqllm_test::random_weights(rng, 999);
    const auto s = sqllm_test::random_sensitivity(rng, 999);
    float a[16], b[16];
    kmeans_lloyd_1d(w.data(), s.data(), w.size(), 16, a, {}, 5);
    kmeans_lloyd_1d(w.data(), s.data(), w.size(), 16, b, {}, 5);
    REQUIRE(std::equal(a, a + 16, b));
    REQUIRE(std::is_sorted(a, a + 16));
}

TEST_CASE("Lloyd beats uniform on weighted error for LLM-like rows", "[quantize]") {
    rng_t rng(2);
    const std::size_t rows = 24, cols = 512;
    const auto W = sqllm_test::random_weights(rng, rows * cols);
    const auto S = sqllm_test::random_sensitivity(rng, rows * cols);
    quantize_report lloyd, rtn;
    quantize_options o;
    o.method = lut_method::lloyd;
    quantize<3, float, no_sparse>(mv(W, rows, cols), mv(S, rows, cols), o, sequential_executor{}, &lloyd);
    o.method = lut_method::uniform;
    quantize<3, float, no_sparse>(mv(W, rows, cols), mv(S, rows, cols), o, sequential_executor{}, &rtn);
    REQUIRE(lloyd.weighted_error < 0.5 * rtn.weighted_error);
}

TEST_CASE("uniform: an evenly spaced min-max LUT is round-to-nearest", "[quantize]") {
    const std::vector<float> w = {-1.0f, -0.2f, 0.1f, 0.4f, 2.0f};
    quantize_options o;
    o.method = lut_method::uniform;
    const auto q = quantize<2, float, no_sparse>(w.data(), 1, 5, nullptr, o);
    const float* lut = q.lut().data();
    REQUIRE(lut[0] == -1.0f);
    REQUIRE(lut[3] == 2.0f);
    REQUIRE(std::fabs(lut[1] - 0.0f) < 1e-6f);
    REQUIRE(std::fabs(lut[2] - 1.0f) < 1e-6f);
    const auto d = dequantize(q.view());
    REQUIRE(d == std::vector<float>{-1.0f, lut[1], lut[1], lut[1], 2.0f});
}

TEMPLATE_TEST_CASE_SIG("quantize: every Bits × LUT type, codes nearest to the stored LUT", "[quantize]",
                       ((int Bits, class Lut), Bits, Lut), (2, float), (3, float), (4, float), (8, float), (2, half),
                       (3, half), (4, half), (8, half), (2, bfloat16), (3, bfloat16), (4, bfloat16), (8, bfloat16),
                       (1, float), (5, half), (6, bfloat16), (7, float)) {
    rng_t rng(30 + Bits);
    const std::size_t rows = 13, cols = 301;
    const auto W = sqllm_test::random_weights(rng, rows * cols);
    const auto S = sqllm_test::random_sensitivity(rng, rows * cols);
    for (auto method : {lut_method::lloyd, lut_method::uniform}) {
        quantize_options o;
        o.method = method;
        o.sparse.sensitive_fraction = 0.005;
        o.sparse.outlier_fraction = 0.01;
        const auto q = quantize<Bits, Lut>(mv(W, rows, cols), mv(S, rows, cols), o, thread_executor(2));
        const auto v = q.view();
        const auto d = dequantize(v);
        std::set<std::pair<std::size_t, std::size_t>> kept;
        std::size_t exact = 0;
        const auto sp = v.sparse();
        for (std::size_t r = 0; r < rows; ++r)
            for (auto i = sp.row_ptr[r]; i < sp.row_ptr[r + 1]; ++i) {
                const auto c = static_cast<std::size_t>(sp.col_idx[static_cast<std::size_t>(i)]);
                const float val = sp.values[static_cast<std::size_t>(i)], w = W[r * cols + c];
                kept.insert({r, c});
                // dense + sparse gives W back exactly in float, or, where no float residual can, the
                // residual is w − dense rounded to float: exact sum within ulp(val)/2 of w.
                exact += d[r * cols + c] == w;
                const double sum = static_cast<double>(v.dense_value(r, c)) + val;  // exact in double
                REQUIRE(std::fabs(sum - w) <= std::fabs(std::nextafter(val, 2 * val + 1) - val) / 2);
            }
        for (std::size_t r = 0; r < rows; ++r) {
            const Lut* lut = v.lut_row(r);
            for (int k = 1; k < (1 << Bits); ++k)
                REQUIRE(lut_value_traits<Lut>::to_float(lut[k - 1]) <= lut_value_traits<Lut>::to_float(lut[k]));
            for (std::size_t c = 0; c < cols; ++c) {
                const float w = W[r * cols + c];
                if (kept.count({r, c})) continue;
                const float got = v.dense_value(r, c);
                for (int k = 0; k < (1 << Bits); ++k)  // no LUT entry is nearer than the chosen one
                    REQUIRE(std::fabs(w - got) <= std::fabs(w - lut_value_traits<Lut>::to_float(lut[k])));
            }
        }
        // Inexact sums need |v| in a higher binade than |w|: common only when the
        // centroid nearest zero is far from zero, i.e. at 1–2 bits.
        if (Bits >= 3) REQUIRE(exact >= kept.size() * 9 / 10);
    }
}

TEST_CASE("dense-and-sparse: the reference's rules", "[quantize]") {
    rng_t rng(3);
    const std::size_t rows = 40, cols = 250, numel = rows * cols;
    const auto W = sqllm_test::random_weights(rng, numel);
    const auto S = sqllm_test::random_sensitivity(rng, numel);
    std::vector<unsigned char> mask;

    SECTION("sensitive: strictly above the k-th largest sensitivity") {
        sparse_options o;
        o.sensitive_fraction = 0.0005 * 10;  // k = 50
        const auto rep = select_sparse(mv(W, rows, cols), mv(S, rows, cols), o, mask);
        REQUIRE(rep.sensitive_kept == 49);  // distinct values: the k-th itself stays dense
        auto sorted = S;
        std::sort(sorted.begin(), sorted.end(), std::greater<float>());
        for (std::size_t i = 0; i < numel; ++i)
            REQUIRE((mask[i] == 1) == (S[i] > sorted[49]));
    }
    SECTION("IQR outliers: |w| >= max(|q1 - r IQR|, |q3 + r IQR|)") {
        sparse_options o;
        o.outlier_iqr_ratio = 1.5;
        const auto rep = select_sparse(mv(W, rows, cols), mv(S, rows, cols), o, mask);
        auto sorted = W;
        std::sort(sorted.begin(), sorted.end());
        auto q = [&](double p) {  // numpy's linear interpolation
            const double pos = p * static_cast<double>(numel - 1);
            const auto lo = static_cast<std::size_t>(pos);
            return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
        };
        const double iqr = q(0.75) - q(0.25);
        const double T = std::max(std::fabs(q(0.25) - 1.5 * iqr), std::fabs(q(0.75) + 1.5 * iqr));
        REQUIRE(std::fabs(rep.outlier_threshold - T) < 1e-7);
        std::size_t n = 0;
        for (std::size_t i = 0; i < numel; ++i) {
            REQUIRE((mask[i] == 2) == (std::fabs(W[i]) >= T));
            n += mask[i] == 2;
        }
        REQUIRE(rep.outliers_kept == n);
        REQUIRE(n > 0);
    }
    SECTION("target fraction: exactly the requested count, sensitive ones first") {
        sparse_options o;
        o.sensitive_fraction = 0.0005;
        o.outlier_fraction = 0.004;
        const auto rep = select_sparse(mv(W, rows, cols), mv(S, rows, cols), o, mask);
        REQUIRE(rep.sensitive_kept == 4);  // k = 5, strict
        REQUIRE(rep.outliers_kept == 40);
        float smallest_kept = 1e30f, largest_dense = 0;
        for (std::size_t i = 0; i < numel; ++i) {
            if (mask[i] == 2) smallest_kept = std::min(smallest_kept, std::fabs(W[i]));
            if (mask[i] == 0) largest_dense = std::max(largest_dense, std::fabs(W[i]));
        }
        REQUIRE(smallest_kept >= largest_dense);
    }
    SECTION("empty or mismatched input is an error") {
        sparse_options o;
        o.outlier_iqr_ratio = 1.5;
        REQUIRE(throws_code([&] { select_sparse(mv(W, 0, cols), {}, o, mask); }, errc::invalid_argument));
        REQUIRE(throws_code([&] { select_sparse(mv(W, rows, cols), mv(S, rows - 1, cols), o, mask); },
                            errc::shape_mismatch));
    }
    SECTION("ties at the target threshold are broken to hit the count exactly") {
        const std::vector<float> w(100, 0.5f);
        sparse_options o;
        o.outlier_fraction = 0.07;
        const auto rep = select_sparse(mv(w, 10, 10), {}, o, mask);
        REQUIRE(rep.outliers_kept == 7);
    }
}

TEST_CASE("quantize keeps the requested fraction and reports it", "[quantize]") {
    rng_t rng(4);
    const std::size_t rows = 64, cols = 333;
    const auto W = sqllm_test::random_weights(rng, rows * cols);
    const auto S = sqllm_test::random_sensitivity(rng, rows * cols);
    quantize_options o;
    o.sparse.sensitive_fraction = 0.0005;
    o.sparse.outlier_fraction = 0.004;
    quantize_report rep;
    const auto q = quantize<3>(mv(W, rows, cols), mv(S, rows, cols), o, sequential_executor{}, &rep);
    const std::size_t nnz = q.view().nonzeros();
    REQUIRE(nnz == rep.sparse.sensitive_kept + rep.sparse.outliers_kept);
    REQUIRE(rep.sparse.outliers_kept == static_cast<std::size_t>(rows * cols * 0.004));
    // Squared error of the report equals the dequantized error.
    const auto d = dequantize<double>(q.view());
    double err = 0;
    for (std::size_t i = 0; i < d.size(); ++i)
        err += (W[i] - d[i]) * (W[i] - d[i]);
    REQUIRE(std::fabs(err - rep.squared_error) <= 1e-9 * err);
    // Sparse weights make the matrix better than the dense-only one.
    quantize_report dense_rep;
    quantize<3, float, no_sparse>(mv(W, rows, cols), mv(S, rows, cols), {}, sequential_executor{}, &dense_rep);
    REQUIRE(rep.squared_error < dense_rep.squared_error);
}

TEST_CASE("quantize is deterministic across executors", "[quantize]") {
    rng_t rng(5);
    const std::size_t rows = 50, cols = 129;
    const auto W = sqllm_test::random_weights(rng, rows * cols);
    const auto a = quantize<4>(mv(W, rows, cols), {}, {}, sequential_executor{});
    const auto b = quantize<4>(mv(W, rows, cols), {}, {}, thread_executor(3));
    REQUIRE(a.words() == b.words());
    REQUIRE(a.lut() == b.lut());
}

TEST_CASE("quantize rejects bad input", "[quantize][errors]") {
    rng_t rng(6);
    const std::size_t rows = 4, cols = 40;
    auto W = sqllm_test::random_weights(rng, rows * cols);
    auto S = sqllm_test::random_sensitivity(rng, rows * cols);
    auto q3 = [&](const quantize_options& o = {}) { return quantize<3>(mv(W, rows, cols), mv(S, rows, cols), o); };
    REQUIRE_NOTHROW(q3());
    SECTION("NaN and Inf weights") {
        W[17] = std::numeric_limits<float>::quiet_NaN();
        REQUIRE(throws_code([&] { q3(); }, errc::non_finite));
        W[17] = -std::numeric_limits<float>::infinity();
        REQUIRE(throws_code([&] { q3(); }, errc::non_finite));
    }
    SECTION("NaN, Inf and negative sensitivities") {
        S[3] = std::numeric_limits<float>::quiet_NaN();
        REQUIRE(throws_code([&] { q3(); }, errc::non_finite));
        S[3] = std::numeric_limits<float>::infinity();
        REQUIRE(throws_code([&] { q3(); }, errc::non_finite));
        S[3] = -1e-9f;
        REQUIRE(throws_code([&] { q3(); }, errc::negative_value));
    }
    SECTION("sensitivity of another shape") {
        REQUIRE(throws_code([&] { quantize<3>(mv(W, rows, cols), mv(S, rows, cols - 1)); }, errc::shape_mismatch));
    }
    SECTION("empty matrix") {
        REQUIRE(throws_code([&] { quantize<3>(mv(W, 0, cols), {}); }, errc::invalid_argument));
    }
    SECTION("sparse options without a sparse format, or inconsistent ones") {
        quantize_options o;
        o.sparse.outlier_fraction = 0.01;
        REQUIRE(throws_code([&] { quantize<3, float, no_sparse>(mv(W, rows, cols), {}, o); }, errc::invalid_argument));
        o.sparse.outlier_iqr_ratio = 1.5;  // both outlier rules at once
        REQUIRE(throws_code([&] { q3(o); }, errc::invalid_argument));
        quantize_options p;
        p.sparse.sensitive_fraction = 1.5;
        REQUIRE(throws_code([&] { q3(p); }, errc::invalid_argument));
        p.sparse.sensitive_fraction = 0.01;  // sensitive values need sensitivities
        REQUIRE(throws_code([&] { quantize<3>(mv(W, rows, cols), {}, p); }, errc::invalid_argument));
    }
    SECTION("Lloyd with k out of range or no iterations") {
        float c[4];
        REQUIRE(throws_code([&] { kmeans_lloyd_1d(W.data(), S.data(), cols, 0, c); }, errc::invalid_argument));
        REQUIRE(throws_code([&] { kmeans_lloyd_1d(W.data(), S.data(), cols, 257, c); }, errc::invalid_argument));
        lloyd_options lo;
        lo.max_iterations = 0;
        REQUIRE(throws_code([&] { kmeans_lloyd_1d(W.data(), S.data(), cols, 4, c, lo); }, errc::invalid_argument));
    }
}

TEST_CASE("uniform variants: symmetric, percentile and MSE clipping", "[quantize]") {
    rng_t rng(7);
    const auto w = sqllm_test::random_weights(rng, 2000);
    float lut[16];
    SECTION("symmetric levels are scale·(i − K/2) with an exact zero") {
        uniform_options o;
        o.symmetric = true;
        uniform_lut(w.data(), nullptr, nullptr, w.size(), 16, lut, o);
        float absmax = 0;
        for (float v : w)
            absmax = std::max(absmax, std::fabs(v));
        REQUIRE(lut[8] == 0.0f);
        REQUIRE(std::fabs(lut[15] - absmax) <= 1e-6f * absmax);
        REQUIRE(std::fabs(lut[0] + absmax * 8 / 7) <= 1e-6f * absmax);
    }
    SECTION("percentile clipping ends at the data's quantiles") {
        uniform_options o;
        o.range = uniform_range::percentile;
        o.percentile = 0.99;
        uniform_lut(w.data(), nullptr, nullptr, w.size(), 16, lut, o);
        auto sorted = w;
        std::sort(sorted.begin(), sorted.end());
        REQUIRE(lut[15] == sorted[static_cast<std::size_t>(std::llround(0.99 * 1999))]);
        REQUIRE(lut[0] == sorted[static_cast<std::size_t>(std::llround(0.01 * 1999))]);
    }
    SECTION("MSE clipping: the best ratio of the grid, found by brute force") {
        const auto s = sqllm_test::random_sensitivity(rng, w.size());
        uniform_options o;
        o.range = uniform_range::mse;
        o.grid = 20;
        uniform_lut(w.data(), s.data(), nullptr, w.size(), 8, lut, o);
        auto err = [&](const float* l) {
            double e = 0;
            for (std::size_t j = 0; j < w.size(); ++j) {
                const double d = w[j] - l[nearest_code_sorted(l, 8, w[j])];
                e += s[j] * d * d;
            }
            return e;
        };
        const double got = err(lut);
        float minmax[8];
        uniform_lut_minmax(w.data(), nullptr, w.size(), 8, minmax);
        REQUIRE(got <= err(minmax));
        const auto mm = std::minmax_element(w.begin(), w.end());
        for (int g = 0; g < 20; ++g) {  // no ratio of the grid does better
            const double ratio = 1.0 - 0.5 * g / 19;
            float cand[8];
            for (int i = 0; i < 8; ++i)
                cand[i] = static_cast<float>(*mm.first * ratio + i * (*mm.second - *mm.first) * ratio / 7);
            REQUIRE(got <= err(cand) * (1 + 1e-9));
        }
    }
    SECTION("bad options") {
        uniform_options o;
        o.range = uniform_range::percentile;
        o.percentile = 0.4;
        REQUIRE(
            throws_code([&] { uniform_lut(w.data(), nullptr, nullptr, w.size(), 8, lut, o); }, errc::invalid_argument));
        o.range = uniform_range::mse;
        o.min_ratio = 0;
        REQUIRE(
            throws_code([&] { uniform_lut(w.data(), nullptr, nullptr, w.size(), 8, lut, o); }, errc::invalid_argument));
    }
}

TEST_CASE("activation second moments as a broadcast sensitivity", "[quantize]") {
    rng_t rng(8);
    const std::size_t T = 33, rows = 20, cols = 70;
    const auto X = sqllm_test::random_normal(rng, T * cols);
    const auto m = activation_second_moments({X.data(), T, cols});
    for (std::size_t c = 0; c < cols; ++c) {
        double e = 0;
        for (std::size_t t = 0; t < T; ++t)
            e += static_cast<double>(X[t * cols + c]) * X[t * cols + c];
        REQUIRE(std::fabs(m[c] - e) <= 1e-6 * e);
    }
    // Broadcasting equals passing the full matrix of identical rows.
    const auto W = sqllm_test::random_weights(rng, rows * cols);
    std::vector<float> full(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
        std::copy(m.begin(), m.end(), full.begin() + static_cast<std::ptrdiff_t>(r * cols));
    quantize_options o;
    o.sparse.sensitive_fraction = 0.01;
    const auto a = quantize<3>(mv(W, rows, cols), broadcast_rows(m, rows), o);
    const auto b = quantize<3>(mv(W, rows, cols), mv(full, rows, cols), o);
    REQUIRE(a.words() == b.words());
    REQUIRE(a.lut() == b.lut());
    REQUIRE(a.sparse().col_idx == b.sparse().col_idx);
    auto bad = X;
    bad[5] = std::numeric_limits<float>::infinity();
    REQUIRE(throws_code([&] { activation_second_moments({bad.data(), T, cols}); }, errc::non_finite));
}

TEST_CASE("quantize reports progress up to the total", "[quantize]") {
    rng_t rng(9);
    const std::size_t rows = 300, cols = 50;
    const auto W = sqllm_test::random_weights(rng, rows * cols);
    std::vector<std::size_t> seen;
    quantize_options o;
    o.method = lut_method::uniform;
    o.progress = [&](std::size_t done, std::size_t total) {
        REQUIRE(total == rows);
        seen.push_back(done);
    };
    quantize<4>(mv(W, rows, cols), {}, o, thread_executor(2));
    REQUIRE(!seen.empty());
    REQUIRE(std::is_sorted(seen.begin(), seen.end()));
    REQUIRE(seen.back() == rows);
}

TEST_CASE("exact k-means never loses to Lloyd, and wins on average on LLM-like rows", "[quantize]") {
    rng_t rng(10);
    double exact_total = 0, lloyd_total = 0;
    for (int trial = 0; trial < 400; ++trial) {
        const std::size_t n = 64 + static_cast<std::size_t>(trial % 7) * 37;
        const int k = trial % 2 ? 8 : 16;
        const auto w = trial % 3 ? sqllm_test::random_weights(rng, n) : sqllm_test::random_normal(rng, n);
        const auto s = sqllm_test::random_sensitivity(rng, n);
        float ce[16], cl[16];
        kmeans_exact_1d(w.data(), s.data(), n, k, ce);
        kmeans_lloyd_1d(w.data(), s.data(), n, k, cl, {}, static_cast<std::uint64_t>(trial));
        const double e = kmeans_objective_1d(w.data(), s.data(), n, ce, k);
        const double l = kmeans_objective_1d(w.data(), s.data(), n, cl, k);
        REQUIRE(e <= l * (1 + 1e-9) + 1e-30);
        exact_total += e;
        lloyd_total += l;
    }
    REQUIRE(exact_total < 0.99 * lloyd_total);
}

TEST_CASE("kept weights: dense + sparse gives them back exactly, near FLT_MAX too", "[quantize][hardening]") {
    // w − LUT[code nearest 0] overflowed for |w| near FLT_MAX with a LUT entry
    // of the other sign: the residual saturated and dequantize gave Inf.
    rng_t rng(77);
    const std::size_t rows = 6, cols = 97;
    auto W = sqllm_test::random_weights(rng, rows * cols);
    const float big = std::numeric_limits<float>::max();
    W[3] = big;
    W[cols + 5] = -big;
    W[2 * cols + 7] = big * 0.75f;
    W[3 * cols + 1] = -std::nextafter(big, 0.0f);
    W[4 * cols + 9] = 1e-30f;  // tiny, beside centroids of ±0.01
    W[5 * cols + 2] = -3e38f;
    quantize_options o;
    o.sparse.outlier_fraction = 0.02;
    for (auto method : {lut_method::exact, lut_method::lloyd, lut_method::uniform}) {
        o.method = method;
        quantize_report rep;
        const auto q = quantize<3>(mv(W, rows, cols), {}, o, sequential_executor{}, &rep);
        const auto v = q.view();
        const auto d = dequantize(v);
        std::size_t inexact = 0;
        double max_miss = 0;
        const auto sp = v.sparse();
        for (std::size_t r = 0; r < rows; ++r)
            for (auto i = sp.row_ptr[r]; i < sp.row_ptr[r + 1]; ++i) {
                const auto c = static_cast<std::size_t>(sp.col_idx[static_cast<std::size_t>(i)]);
                REQUIRE(std::isfinite(d[r * cols + c]));
                if (d[r * cols + c] != W[r * cols + c]) ++inexact;
                max_miss = std::max(max_miss, std::fabs(static_cast<double>(d[r * cols + c]) - W[r * cols + c]));
            }
        for (std::size_t at : {std::size_t(3), cols + 5, 2 * cols + 7, 3 * cols + 1, 5 * cols + 2})
            CHECK(d[at] == W[at]);  // a LUT entry of the weight's sign below it always exists here
        CHECK(std::isfinite(rep.squared_error));
        CHECK(rep.kept_inexact == inexact);  // the report counts exactly the inexact ones
        CHECK(rep.kept_max_error == max_miss);
    }
}

TEST_CASE("weights beyond the LUT type's range get a clear error, not 'NaN or Inf'", "[quantize][hardening]") {
    std::vector<float> W{1.0f, 2.0f, 70000.0f, 70001.0f, -3.0f, 0.5f, 1e5f, -1e5f};
    try {
        (void)quantize<2, half>(mv(W, 1, W.size()), {});
        FAIL("no error");
    } catch (const sqllm::error& e) {
        CHECK(e.code() == errc::out_of_range);
        const std::string m = e.what();
        CHECK(m.find(std::string("overflows the LUT type ") + lut_value_traits<half>::name) != std::string::npos);
        CHECK(m.find("NaN") == std::string::npos);
    }
    // Kept in a float CSR over a half LUT, the same weights are fine.
    quantize_options o;
    o.sparse.outlier_fraction = 0.5;
    const auto q = quantize<2, half>(mv(W, 1, W.size()), {}, o);
    const auto d = dequantize(q.view());
    for (std::size_t c = 0; c < W.size(); ++c)
        if (std::fabs(W[c]) > 65504) CHECK(d[c] == W[c]);
    // A half CSR cannot hold a residual of 1e6 over any half LUT entry: said so.
    const std::string m = [&] {
        try {
            (void)quantize<2, half, csr<half>>(mv(W, 1, W.size()), {}, o);
        } catch (const sqllm::error& e) {
            return std::string(e.what());
        }
        return std::string("(no error)");
    }();
    CHECK(m.find(std::string("CSR value type ") + lut_value_traits<half>::name) != std::string::npos);
}
