// bench_kernels — sqllm's LUT GEMV / GEMM against an fp32 GEMV / GEMM of the
// same shape and the machine's read bandwidth, all in one run, "cold": every
// iteration multiplies the next of enough distinct copies of the matrix
// (>= 1 GiB of weight bytes in all) that the weights come from DRAM.
//
// Benchmarks are named
//   read_bw/threads:T
//   fp32/<rows>x<cols>/batch:B/threads:T
//   lut/<bits>bit/<lut type>/<sparse>/<rows>x<cols>/batch:B/threads:T
// and report weight_bytes (per multiply) and GBps (weight bytes per second);
// each one's label is the target it ran on (sqllm::kernel_target,
// sqllm::dense_target). The fp32 yardstick is sqllm::dense_gemv/dense_gemm:
// the same register tile, prefetch distance, row split and dispatch as the
// LUT kernels. bench/report.py turns the JSON output into the table of
// ratios and the chart.
//
// Environment: SQLLM_BENCH_SET=targets registers only the shapes and variants
// the targets name (11008×4096, 3/4-bit, 2 threads, ...); default: all.
#include <benchmark/benchmark.h>
#include <sqllm/sqllm.hpp>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "operands.hpp"
#include "read_bandwidth.hpp"

namespace {

constexpr std::size_t rotation_bytes = std::size_t{1} << 30;  // the "cold" pool

std::size_t copies_for(std::size_t bytes) { return std::max<std::size_t>(2, (rotation_bytes + bytes - 1) / bytes); }

const sqllm::thread_pool& executor(std::size_t threads) {
    static sqllm::thread_pool one(1), two(2);
    return threads == 1 ? one : two;
}


// One pool alive at a time: benchmarks of the same matrix are registered
// next to each other, so each pool is built once.
std::shared_ptr<void> current_pool;
std::string current_key;

template <class T, class Make>
T& pool(const std::string& key, Make make) {
    if (current_key != key) {
        current_pool.reset();  // free the old gigabyte first
        current_pool = std::make_shared<T>(make());
        current_key = key;
    }
    return *static_cast<T*>(current_pool.get());
}

// ---- read bandwidth -----------------------------------------------------------

void read_bw(benchmark::State& state, std::size_t threads) {
    const std::size_t n = 2 * rotation_bytes / sizeof(float);  // 2 GiB: no cache holds it
    auto& buf = pool<std::vector<float>>("read_bw", [&] { return std::vector<float>(n, 1.0f); });
    float partial[2];
    for (auto _ : state) benchmark::DoNotOptimize(read_bandwidth::read_all(buf.data(), n, executor(threads), partial));
    state.counters["weight_bytes"] = static_cast<double>(n * sizeof(float));
    state.counters["GBps"] = benchmark::Counter(static_cast<double>(n * sizeof(float)) * state.iterations() / 1e9,
                                                benchmark::Counter::kIsRate);
}

// ---- fp32 yardstick -------------------------------------------------------------

struct fp32_pool {
    std::vector<std::vector<float>> copies;
};

void fp32(benchmark::State& state, std::size_t rows, std::size_t cols, std::size_t batch, std::size_t threads) {
    const std::size_t bytes = rows * cols * sizeof(float);
    auto& p = pool<fp32_pool>("fp32/" + std::to_string(rows) + "x" + std::to_string(cols), [&] {
        fp32_pool out;
        const auto W = random_floats(rows * cols, 1, 0.02f);
        out.copies.assign(copies_for(bytes), W);
        return out;
    });
    const auto X = random_floats(batch * cols, 2);
    std::vector<float> Y(batch * rows);
    std::size_t i = 0;
    for (auto _ : state) {
        const sqllm::matrix_view<const float> W(p.copies[i++ % p.copies.size()].data(), rows, cols);
        if (batch == 1)
            sqllm::dense_gemv(W, X, Y, executor(threads));
        else
            sqllm::dense_gemm(W, {X.data(), batch, cols}, {Y.data(), batch, rows}, executor(threads));
        benchmark::DoNotOptimize(Y.data());
        benchmark::ClobberMemory();
    }
    state.counters["weight_bytes"] = static_cast<double>(bytes);
    state.counters["GBps"] =
        benchmark::Counter(static_cast<double>(bytes) * state.iterations() / 1e9, benchmark::Counter::kIsRate);
    state.SetLabel(sqllm::to_string(sqllm::dense_target()));
}

// ---- LUT kernels ----------------------------------------------------------------

template <class Sparse>
typename sqllm::sparse_format_traits<Sparse>::storage random_sparse(std::size_t, std::size_t, bool) {
    return {};
}
template <>
sqllm::csr_storage<float, std::int32_t> random_sparse<sqllm::csr<>>(std::size_t rows, std::size_t cols, bool) {
    return random_csr(rows, cols);
}
template <>
sqllm::csr_storage<float, std::int32_t> random_sparse<sqllm::balanced_csr<>>(std::size_t rows, std::size_t cols, bool) {
    return random_csr(rows, cols);
}

template <int Bits, class Lut, class Sparse>
using striped_matrix = sqllm::quantized_matrix<Bits, Lut, Sparse, sqllm::default_layout<Bits>>;

template <int Bits, class Lut, class Sparse>
struct lut_pool {
    std::vector<striped_matrix<Bits, Lut, Sparse>> copies;
};

template <int Bits, class Lut, class Sparse>
void lut(benchmark::State& state, std::size_t rows, std::size_t cols, std::size_t batch, std::size_t threads,
         const std::string& key) {
    using M = striped_matrix<Bits, Lut, Sparse>;
    auto& p = pool<lut_pool<Bits, Lut, Sparse>>(key, [&] {
        // Random words are random codes (padding codes included: the kernels
        // multiply those by zero); the timing does not depend on the values.
        std::mt19937_64 rng(3);
        std::vector<std::uint32_t> words(sqllm::default_layout<Bits>::word_count(rows, cols));
        for (auto& w : words) w = static_cast<std::uint32_t>(rng());
        std::vector<Lut> table(rows << Bits);
        const auto v = random_floats(table.size(), 4, 0.02f);
        for (std::size_t i = 0; i < table.size(); ++i) table[i] = sqllm::lut_value_traits<Lut>::from_float(v[i]);
        const M one(rows, cols, std::move(table), std::move(words), random_sparse<Sparse>(rows, cols, true));
        lut_pool<Bits, Lut, Sparse> out;
        out.copies.assign(copies_for(one.storage_bytes()), one);
        return out;
    });
    const auto X = random_floats(batch * cols, 2);
    std::vector<float> Y(batch * rows);
    const std::size_t bytes = p.copies[0].storage_bytes();
    std::size_t i = 0;
    for (auto _ : state) {
        const auto W = p.copies[i++ % p.copies.size()].view();
        if (batch == 1)
            sqllm::gemv(W, sqllm::span<const float>(X), sqllm::span<float>(Y), executor(threads));
        else
            sqllm::gemm(W, {X.data(), batch, cols}, {Y.data(), batch, rows}, executor(threads));
        benchmark::DoNotOptimize(Y.data());
        benchmark::ClobberMemory();
    }
    state.counters["weight_bytes"] = static_cast<double>(bytes);
    state.counters["GBps"] =
        benchmark::Counter(static_cast<double>(bytes) * state.iterations() / 1e9, benchmark::Counter::kIsRate);
    state.SetLabel(sqllm::to_string(sqllm::kernel_target(p.copies[0].view())));
}


struct shape {
    std::size_t rows, cols;
};

bool targets_only() {
    const char* s = std::getenv("SQLLM_BENCH_SET");
    return s && std::strcmp(s, "targets") == 0;
}

template <int Bits, class Lut, class Sparse>
void register_lut(shape s, const std::vector<std::size_t>& batches, const std::vector<std::size_t>& threads) {
    const std::string sparse = sqllm::sparse_format_traits<Sparse>::name;
    const std::string key = "lut/" + std::to_string(Bits) + "bit/" + lut_name<Lut>() + "/" +
                            (std::is_same<Sparse, sqllm::no_sparse>::value ? std::string("dense") : sparse) + "/" +
                            std::to_string(s.rows) + "x" + std::to_string(s.cols);
    for (std::size_t b : batches)
        for (std::size_t t : threads)
            benchmark::RegisterBenchmark(
                (key + "/batch:" + std::to_string(b) + "/threads:" + std::to_string(t)).c_str(),
                [=](benchmark::State& st) { lut<Bits, Lut, Sparse>(st, s.rows, s.cols, b, t, key); })
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
}

template <int Bits, class Lut>
void register_dense_and_sparse(shape s, const std::vector<std::size_t>& batches,
                               const std::vector<std::size_t>& threads) {
    register_lut<Bits, Lut, sqllm::no_sparse>(s, batches, threads);
    register_lut<Bits, Lut, sqllm::csr<>>(s, batches, threads);
}

void register_all() {
    const bool targets = targets_only();
    const std::vector<std::size_t> threads = targets ? std::vector<std::size_t>{2} : std::vector<std::size_t>{1, 2};
    const std::vector<std::size_t> batches =
        targets ? std::vector<std::size_t>{1, 8, 32, 64} : std::vector<std::size_t>{1, 8, 32};
    for (std::size_t t : threads)
        benchmark::RegisterBenchmark(("read_bw/threads:" + std::to_string(t)).c_str(),
                                     [=](benchmark::State& st) { read_bw(st, t); })
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
    const std::vector<shape> shapes =
        targets ? std::vector<shape>{{11008, 4096}} : std::vector<shape>{{4096, 4096}, {11008, 4096}, {4096, 11008}};
    for (const shape s : shapes) {
        const std::string name = "fp32/" + std::to_string(s.rows) + "x" + std::to_string(s.cols);
        for (std::size_t b : batches)
            for (std::size_t t : threads)
                benchmark::RegisterBenchmark((name + "/batch:" + std::to_string(b) + "/threads:" + std::to_string(t)).c_str(),
                                             [=](benchmark::State& st) { fp32(st, s.rows, s.cols, b, t); })
                    ->UseRealTime()
                    ->Unit(benchmark::kMillisecond);
        register_dense_and_sparse<3, float>(s, batches, threads);
        register_dense_and_sparse<4, float>(s, batches, threads);
        register_lut<3, float, sqllm::balanced_csr<>>(s, batches, threads);
        register_lut<4, float, sqllm::balanced_csr<>>(s, batches, threads);
        register_dense_and_sparse<3, sqllm::half>(s, batches, threads);
        register_dense_and_sparse<4, sqllm::half>(s, batches, threads);
        if (targets) continue;
        register_dense_and_sparse<3, sqllm::bfloat16>(s, batches, threads);
        register_dense_and_sparse<4, sqllm::bfloat16>(s, batches, threads);
        for (auto reg : {&register_dense_and_sparse<2, float>, &register_dense_and_sparse<2, sqllm::half>,
                         &register_dense_and_sparse<2, sqllm::bfloat16>, &register_dense_and_sparse<8, float>,
                         &register_dense_and_sparse<8, sqllm::half>, &register_dense_and_sparse<8, sqllm::bfloat16>})
            reg(s, batches, threads);
    }
}

}  // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
