// bench_quantize — whole-matrix quantization throughput (weights/s): exact vs
// Lloyd, 1 and 2 threads, dense-only and with the paper's 0.45% sparse
// (0.05% sensitive + 0.40% outliers), on LLM-shaped synthetic matrices with
// heavy-tailed sensitivities. Values are float32, or rounded to fp16 precision
// ("f16vals") like an fp16 checkpoint's (LLaMA-7B ships in fp16).
// Run: ./build/bench/bench_quantize --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <sqllm/sqllm.hpp>

#include <cmath>
#include <random>
#include <vector>

namespace {

struct layer {
    std::size_t rows = 0, cols = 0;
    bool fp16 = false;
    std::vector<float> w, s;
};

const layer& synthetic_layer(std::size_t rows, std::size_t cols, bool fp16) {
    static layer cache;  // one matrix at a time: regenerating costs more than a fit
    if (cache.rows != rows || cache.cols != cols || cache.fp16 != fp16) {
        std::mt19937_64 rng(rows * 31 + cols);
        std::exponential_distribution<float> laplace(40.0f);
        std::uniform_real_distribution<float> unit(0.0f, 1.0f);
        std::lognormal_distribution<float> fisher(-6.0f, 2.0f);
        cache = {rows, cols, fp16, std::vector<float>(rows * cols), std::vector<float>(rows * cols)};
        for (auto& x : cache.w) {
            x = (unit(rng) < 0.5f ? -1.0f : 1.0f) * laplace(rng);
            if (fp16) x = sqllm::round_to<sqllm::half>(x);
        }
        for (auto& x : cache.s) x = fisher(rng);
    }
    return cache;
}

// Args: rows, cols, threads, lloyd?, sparse?, f16vals?
template <int Bits>
void quantize_matrix(benchmark::State& state) {
    const auto rows = static_cast<std::size_t>(state.range(0)), cols = static_cast<std::size_t>(state.range(1));
    const auto threads = static_cast<std::size_t>(state.range(2));
    const auto& L = synthetic_layer(rows, cols, state.range(5) != 0);
    sqllm::quantize_options opt;
    opt.method = state.range(3) ? sqllm::lut_method::lloyd : sqllm::lut_method::exact;
    if (state.range(4)) {
        opt.sparse.sensitive_fraction = 0.0005;
        opt.sparse.outlier_fraction = 0.004;
    }
    const sqllm::thread_executor exec(threads);
    sqllm::quantize_report rep;
    for (auto _ : state) {
        auto q = sqllm::quantize<Bits, float, sqllm::csr<>>({L.w.data(), rows, cols}, {L.s.data(), rows, cols}, opt,
                                                           exec, &rep);
        benchmark::DoNotOptimize(q.words().data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rows * cols));
    state.counters["weighted_err"] = rep.weighted_error;
    state.SetLabel(std::string(state.range(3) ? "lloyd" : "exact") + (state.range(4) ? " 0.45%" : " dense") +
                   (state.range(5) ? " f16vals" : " f32"));
}

void shapes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"rows", "cols", "threads", "lloyd", "sparse", "f16vals"});
    for (int f16 : {0, 1}) {
        for (int threads : {1, 2}) {
            b->Args({4096, 4096, threads, 0, 0, f16});
            b->Args({11008, 4096, threads, 0, 0, f16});
        }
        b->Args({4096, 4096, 2, 0, 1, f16});  // with the 0.45% dense-and-sparse split
    }
    b->Args({1024, 4096, 2, 1, 0, 0});  // Lloyd: slow, so a quarter-size matrix
    b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK_TEMPLATE(quantize_matrix, 3)->Apply(shapes);
BENCHMARK_TEMPLATE(quantize_matrix, 4)->Apply(shapes);

BENCHMARK_MAIN();
