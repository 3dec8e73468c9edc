// bench/bench_kmeans.cpp — per-row LUT fit: exact weighted 1-D k-means vs the
// reference's weighted Lloyd (k-means++ init, <= 50 iterations, tol 1e-4).
//
// Rows imitate real layers: Laplacian-ish weights with a few heavy-tail
// outliers and positive, heavy-tailed (log-normal) sensitivities like diagonal
// Fisher values. Two variants of the values: float32, and the same rounded to
// fp16 precision, as the weights of an fp16 checkpoint (LLaMA's) are.
// A fixed seed; each benchmark rotates over kRows rows.
//
// Counters: items_per_second = weights fitted per second; on the exact
// benchmarks err_ratio_mean / err_ratio_max = weighted error of the exact fit
// over that of Lloyd on the same rows (<= 1 means exact never loses).
// Run: ./build/bench/bench_kmeans --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "sqllm/quantize/kmeans_exact.hpp"
#include "sqllm/quantize/kmeans_lloyd.hpp"

namespace {

constexpr int kRows = 8;

struct row_set {
    std::size_t n;
    std::vector<float> w, s;  // kRows rows of n values
};

row_set make_rows(std::size_t n, bool fp16_like) {
    row_set rs;
    rs.n = n;
    rs.w.resize(n * kRows);
    rs.s.resize(n * kRows);
    std::mt19937_64 rng(0x5eed0000ull + n);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::normal_distribution<double> g(0.0, 1.0);
    for (std::size_t r = 0; r < static_cast<std::size_t>(kRows); ++r) {
        const double scale = 0.01 + 0.02 * u(rng);  // per-row magnitude differs
        for (std::size_t i = 0; i < n; ++i) {
            double mag = -std::log(1.0 - u(rng)) * scale;  // Laplacian magnitude
            if (u(rng) < 0.002) mag *= 8.0;                // rare heavy-tail outliers
            double v = u(rng) < 0.5 ? -mag : mag;
            if (fp16_like) {  // 11 significant bits, as fp16 stores them
                int e;
                const double f = std::frexp(v, &e);
                v = std::ldexp(std::round(f * 2048.0) / 2048.0, e);
            }
            rs.w[r * n + i] = static_cast<float>(v);
            rs.s[r * n + i] = static_cast<float>(1e-6 * std::exp(2.0 * g(rng)));  // log-normal
        }
    }
    return rs;
}

enum class method { exact, lloyd };

double fit(method m, const float* w, const float* s, std::size_t n, int k, float* c, sqllm::kmeans_exact_workspace& ws,
           std::uint64_t row) {
    if (m == method::exact) return sqllm::kmeans_exact_1d(w, s, n, k, c, ws);
    return sqllm::kmeans_lloyd_1d(w, s, n, k, c, sqllm::lloyd_options{}, row);
}

template <method M, bool Fp16>
void BM_fit(benchmark::State& state) {
    const std::size_t n = static_cast<std::size_t>(state.range(0));
    const int k = static_cast<int>(state.range(1));
    const row_set rs = make_rows(n, Fp16);
    sqllm::kmeans_exact_workspace ws;
    ws.reserve(n, k);
    std::vector<float> c(static_cast<std::size_t>(k));
    int r = 0;
    for (auto _ : state) {
        const std::size_t off = static_cast<std::size_t>(r) * n;
        const double obj = fit(M, rs.w.data() + off, rs.s.data() + off, n, k, c.data(), ws, r);
        benchmark::DoNotOptimize(obj);
        benchmark::DoNotOptimize(c.data());
        r = (r + 1) % kRows;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
    if (M == method::exact) {
        // Weighted error of both fits on every row, outside the timed loop.
        double sum = 0, worst = 0;
        std::vector<float> ce(static_cast<std::size_t>(k)), cl(ce.size());
        for (std::size_t q = 0; q < static_cast<std::size_t>(kRows); ++q) {
            const float* w = rs.w.data() + q * n;
            const float* s = rs.s.data() + q * n;
            fit(method::exact, w, s, n, k, ce.data(), ws, q);
            fit(method::lloyd, w, s, n, k, cl.data(), ws, q);
            const double ratio = sqllm::kmeans_objective_1d(w, s, n, ce.data(), k) /
                                 sqllm::kmeans_objective_1d(w, s, n, cl.data(), k);
            sum += ratio;
            worst = std::max(worst, ratio);
        }
        state.counters["err_ratio_mean"] = sum / kRows;
        state.counters["err_ratio_max"] = worst;
    }
}

void sizes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"n", "k"});
    for (int n : {4096, 11008, 14336})
        for (int k : {8, 16}) b->Args({n, k});
    b->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_fit, method::exact, false)->Name("exact/f32")->Apply(sizes);
BENCHMARK_TEMPLATE(BM_fit, method::lloyd, false)->Name("lloyd/f32")->Apply(sizes);
BENCHMARK_TEMPLATE(BM_fit, method::exact, true)->Name("exact/f16vals")->Apply(sizes);
BENCHMARK_TEMPLATE(BM_fit, method::lloyd, true)->Name("lloyd/f16vals")->Apply(sizes);

BENCHMARK_MAIN();
