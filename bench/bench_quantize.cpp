// bench_quantize — whole-matrix quantization throughput (weights/s), exact vs
// Lloyd, 1 and 2 threads, on LLM-shaped synthetic matrices with heavy-tailed
// sensitivities. Run with --benchmark_repetitions=5 and quote medians.
#include <benchmark/benchmark.h>
#include <sqllm/sqllm.hpp>

#include <random>
#include <vector>

namespace {

struct layer {
    std::size_t rows, cols;
    std::vector<float> w, s;
};

const layer& synthetic_layer(std::size_t rows, std::size_t cols) {
    static layer cache{0, 0, {}, {}};
    if (cache.rows != rows || cache.cols != cols) {
        std::mt19937_64 rng(rows * 31 + cols);
        std::exponential_distribution<float> laplace(40.0f);
        std::uniform_real_distribution<float> unit(0.0f, 1.0f);
        std::lognormal_distribution<float> fisher(-6.0f, 2.0f);
        cache = {rows, cols, std::vector<float>(rows * cols), std::vector<float>(rows * cols)};
        for (auto& x : cache.w) x = (unit(rng) < 0.5f ? -1.0f : 1.0f) * laplace(rng);
        for (auto& x : cache.s) x = fisher(rng);
    }
    return cache;
}

template <int Bits>
void quantize_matrix(benchmark::State& state) {
    const auto rows = static_cast<std::size_t>(state.range(0)), cols = static_cast<std::size_t>(state.range(1));
    const auto threads = static_cast<std::size_t>(state.range(2));
    const auto& L = synthetic_layer(rows, cols);
    sqllm::quantize_options opt;
    opt.method = state.range(3) ? sqllm::lut_method::lloyd : sqllm::lut_method::exact;
    const sqllm::thread_executor exec(threads);
    for (auto _ : state) {
        auto q = sqllm::quantize<Bits, float, sqllm::no_sparse>({L.w.data(), rows, cols}, {L.s.data(), rows, cols},
                                                                opt, exec);
        benchmark::DoNotOptimize(q.words().data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rows * cols));
    state.SetLabel(state.range(3) ? "lloyd" : "exact");
}

}  // namespace

// Args: rows, cols, threads, lloyd?
BENCHMARK_TEMPLATE(quantize_matrix, 3)
    ->ArgNames({"rows", "cols", "threads", "lloyd"})
    ->Args({4096, 4096, 1, 0})
    ->Args({4096, 4096, 2, 0})
    ->Args({11008, 4096, 2, 0})
    ->Args({1024, 4096, 2, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_TEMPLATE(quantize_matrix, 4)
    ->ArgNames({"rows", "cols", "threads", "lloyd"})
    ->Args({4096, 4096, 2, 0})
    ->Args({1024, 4096, 2, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
