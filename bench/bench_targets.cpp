// bench_targets — every target × kernel × layout × code width, warm, one
// thread: the table of what runs where (README "Targets and kernels").
//
//   target/<target>/<layout>/<bits>bit/batch:B    sqllm::gemv (B = 1) or gemm on a forced target
//   oracle/<layout>/<bits>bit                     reference::gemv, the scalar oracle
//   fp32/<target>/batch:B                         sqllm::dense_gemv/dense_gemm, the same shape in fp32
//
// 4096 × 4096, fp16 LUT, no sparse part: a 3-bit matrix is 6 MB, so it
// stays in the last-level cache on most servers; the cold, bandwidth-bound
// figures are bench_kernels'. Targets this CPU cannot run are skipped with
// an error row. Reports bytes_per_second (weight bytes).
#include <benchmark/benchmark.h>
#include <sqllm/sqllm.hpp>

#include <random>
#include <string>
#include <vector>

namespace {

constexpr std::size_t rows = 4096, cols = 4096;

std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d(0.0f, 0.02f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

template <int Bits, class Layout>
sqllm::quantized_matrix<Bits, sqllm::half, sqllm::no_sparse, Layout> make_matrix() {
    // Random words are random codes; the timing does not depend on the values.
    std::mt19937_64 rng(3);
    std::vector<std::uint32_t> words(Layout::word_count(rows, cols));
    for (auto& w : words) w = static_cast<std::uint32_t>(rng());
    std::vector<sqllm::half> lut(rows << Bits);
    const auto v = random_vector(lut.size(), 4);
    for (std::size_t i = 0; i < lut.size(); ++i) lut[i] = sqllm::half(v[i]);
    return {rows, cols, std::move(lut), std::move(words)};
}

template <int Bits, class Layout>
void lut_kernel(benchmark::State& state, sqllm::target_id t, std::size_t batch) {
    if (!sqllm::target_supported(t)) {
        state.SkipWithError("this build or CPU cannot run this target");
        return;
    }
    static const auto q = make_matrix<Bits, Layout>();
    const auto X = random_vector(batch * cols, 2);
    std::vector<float> Y(batch * rows);
    for (auto _ : state) {
        if (batch == 1)
            sqllm::gemv(t, q.view(), X, Y);
        else
            sqllm::gemm(t, q.view(), {X.data(), batch, cols}, {Y.data(), batch, rows});
        benchmark::DoNotOptimize(Y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * q.storage_bytes()));
    state.SetLabel(sqllm::to_string(t));
}

template <int Bits, class Layout>
void oracle(benchmark::State& state) {
    static const auto q = make_matrix<Bits, Layout>();
    const auto x = random_vector(cols, 2);
    std::vector<float> y(rows);
    for (auto _ : state) {
        sqllm::reference::gemv(q.view(), x, y);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * q.storage_bytes()));
}

void fp32(benchmark::State& state, sqllm::target_id t, std::size_t batch) {
    if (!sqllm::target_supported(t)) {
        state.SkipWithError("this build or CPU cannot run this target");
        return;
    }
    static const auto W = random_vector(rows * cols, 1);
    const auto X = random_vector(batch * cols, 2);
    std::vector<float> Y(batch * rows);
    for (auto _ : state) {
        if (batch == 1)
            sqllm::dense_gemv(t, {W.data(), rows, cols}, X, Y);
        else
            sqllm::dense_gemm(t, {W.data(), rows, cols}, {X.data(), batch, cols}, {Y.data(), batch, rows});
        benchmark::DoNotOptimize(Y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * rows * cols * sizeof(float)));
    state.SetLabel(sqllm::to_string(t));
}

template <int Bits, class Layout>
void register_layout() {
    const std::string base = std::string(Layout::name) + "/" + std::to_string(Bits) + "bit";
    for (sqllm::target_id t : sqllm::all_targets)
        for (std::size_t batch : {std::size_t{1}, std::size_t{8}})
            benchmark::RegisterBenchmark(
                ("target/" + std::string(sqllm::to_string(t)) + "/" + base + "/batch:" + std::to_string(batch)).c_str(),
                [=](benchmark::State& st) { lut_kernel<Bits, Layout>(st, t, batch); })
                ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("oracle/" + base).c_str(), [](benchmark::State& st) { oracle<Bits, Layout>(st); })
        ->Unit(benchmark::kMillisecond);
}

template <int... B>
void register_bits(std::integer_sequence<int, B...>) {
    (register_layout<B + 1, sqllm::striped_layout<B + 1>>(), ...);
    (register_layout<B + 1, sqllm::reference_layout<B + 1>>(), ...);
}

}  // namespace

int main(int argc, char** argv) {
    for (sqllm::target_id t : sqllm::all_targets)
        for (std::size_t batch : {std::size_t{1}, std::size_t{8}})
            benchmark::RegisterBenchmark(
                ("fp32/" + std::string(sqllm::to_string(t)) + "/batch:" + std::to_string(batch)).c_str(),
                [=](benchmark::State& st) { fp32(st, t, batch); })
                ->Unit(benchmark::kMillisecond);
    register_bits(std::make_integer_sequence<int, 8>{});
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
