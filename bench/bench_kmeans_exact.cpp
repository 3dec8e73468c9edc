// bench/bench_kmeans_exact.cpp — per-row fit time of the exact weighted 1-D k-means.
//
// Rows imitate real layers: Laplacian-ish weights with a few heavy-tail outliers
// and positive, heavy-tailed (log-normal) sensitivities like diagonal Fisher
// values. A fixed seed; the benchmark rotates over several rows so that no
// single row's shape dominates. items_per_second = weights fitted per second.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "sqllm/quantize/kmeans_exact.hpp"

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
            double mag = -std::log(1.0 - u(rng)) * scale;   // Laplacian magnitude
            if (u(rng) < 0.002) mag *= 8.0;                 // rare heavy-tail outliers
            double v = u(rng) < 0.5 ? -mag : mag;
            if (fp16_like) {
                // Round to ~11 significant bits, as weights stored in fp16 are.
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

void run(benchmark::State& state, bool fp16_like) {
    const std::size_t n = static_cast<std::size_t>(state.range(0));
    const int k = static_cast<int>(state.range(1));
    const row_set rs = make_rows(n, fp16_like);
    sqllm::kmeans_exact_workspace ws;
    ws.reserve(n, k);
    std::vector<float> c(static_cast<std::size_t>(k));
    int r = 0;
    for (auto _ : state) {
        const double obj = sqllm::kmeans_exact_1d(rs.w.data() + static_cast<std::size_t>(r) * n,
                                                  rs.s.data() + static_cast<std::size_t>(r) * n,
                                                  n, k, c.data(), ws);
        benchmark::DoNotOptimize(obj);
        benchmark::DoNotOptimize(c.data());
        r = (r + 1) % kRows;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(n));
}

void BM_kmeans_exact_f32(benchmark::State& state) { run(state, false); }
// Same rows rounded to fp16 precision: many duplicate values, as with real
// fp16/bf16 checkpoints; merging duplicates shrinks the DP.
void BM_kmeans_exact_f16vals(benchmark::State& state) { run(state, true); }

void sizes(benchmark::internal::Benchmark* b) {
    for (int n : {4096, 11008, 14336})
        for (int k : {8, 16}) b->Args({n, k});
    b->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_kmeans_exact_f32)->Apply(sizes);
BENCHMARK(BM_kmeans_exact_f16vals)->Apply(sizes);

BENCHMARK_MAIN();
