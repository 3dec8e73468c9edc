// bench_reference_kernels — the scalar reference GEMV and the AVX2 / AVX-512
// row kernels next to a plain fp32 GEMV of the same shape (one thread, warm).
// Reports weight bytes per second (bytes_per_second) for each.
#include <benchmark/benchmark.h>
#include <sqllm/sqllm.hpp>

#include <random>
#include <vector>

namespace {

std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d(0.0f, 0.02f);
    std::vector<float> v(n);
    for (auto& x : v)
        x = d(rng);
    return v;
}

void fp32_gemv(benchmark::State& state) {
    const auto rows = static_cast<std::size_t>(state.range(0)), cols = static_cast<std::size_t>(state.range(1));
    const auto W = random_vector(rows * cols, 1), x = random_vector(cols, 2);
    std::vector<float> y(rows);
    for (auto _ : state) {
        for (std::size_t r = 0; r < rows; ++r) {
            float acc = 0;
            for (std::size_t c = 0; c < cols; ++c)
                acc += W[r * cols + c] * x[c];
            y[r] = acc;
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * rows * cols * sizeof(float)));
}

template <int Bits>
void reference_gemv(benchmark::State& state) {
    const auto rows = static_cast<std::size_t>(state.range(0)), cols = static_cast<std::size_t>(state.range(1));
    const auto W = random_vector(rows * cols, 1), x = random_vector(cols, 2);
    sqllm::quantize_options opt;
    opt.method = sqllm::lut_method::uniform;  // the fit does not matter for timing
    const auto q = sqllm::quantize<Bits, float, sqllm::no_sparse>(W.data(), rows, cols, nullptr, opt);
    std::vector<float> y(rows);
    for (auto _ : state) {
        sqllm::reference::gemv(q.view(), x, y);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * q.storage_bytes()));
}

// The dispatched SIMD gemv at one isa (warm: a 4096x4096 3-bit matrix is
// 6 MB, it stays in the large L3; the cold DRAM benchmark is issue 4's).
template <int Bits>
void simd_gemv(benchmark::State& state) {
    const auto rows = static_cast<std::size_t>(state.range(0)), cols = static_cast<std::size_t>(state.range(1));
    const auto level = static_cast<sqllm::isa>(state.range(2));
    if (!sqllm::isa_supported(level)) {
        state.SkipWithError("this CPU cannot run this isa");
        return;
    }
    const auto W = random_vector(rows * cols, 1), x = random_vector(cols, 2);
    sqllm::quantize_options opt;
    opt.method = sqllm::lut_method::uniform;
    const auto q = sqllm::quantize<Bits, float, sqllm::no_sparse>(W.data(), rows, cols, nullptr, opt);
    std::vector<float> y(rows);
    for (auto _ : state) {
        sqllm::gemv(level, q.view(), x, y);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * q.storage_bytes()));
    state.SetLabel(sqllm::isa_name(level));
}

}  // namespace

BENCHMARK_TEMPLATE(simd_gemv, 3)->Args({4096, 4096, 1})->Args({4096, 4096, 2})->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(simd_gemv, 4)->Args({4096, 4096, 1})->Args({4096, 4096, 2})->Unit(benchmark::kMillisecond);
BENCHMARK(fp32_gemv)->Args({4096, 4096})->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(reference_gemv, 3)->Args({4096, 4096})->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(reference_gemv, 4)->Args({4096, 4096})->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
