// bench_linear — what the run-time-typed layer (runtime/linear.hpp) costs
// over the compile-time-typed call, and what fp16/bf16 activations cost
// over fp32, in the same run.
//
//   direct/…      sqllm::gemv(W, x, y, pool) on quantized_view<Bits, half, csr<>>
//   linear/…      the same matrix held by a sqllm::linear, linear.gemv(x, y, pool)
//   linear_f16/…  linear.gemv with half x and half y; linear_bf16/… bfloat16
//   linear_bias/… with an f16 bias, fused into the output pass
// 4096 × 4096, 0.45 % CSR, 2 threads (sqllm::thread_pool), weights warm: the
// smallest denominator, so the overhead ratio is the strictest. The
// interleaved repetitions (--benchmark_enable_random_interleaving) and
// medians are what bench/run_linear.sh reports.
#include <sqllm/runtime/linear.hpp>
#include <sqllm/sqllm.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

namespace {

constexpr std::size_t rows = 4096, cols = 4096;

template <int Bits>
struct fixture {
    using matrix = sqllm::quantized_matrix<Bits, sqllm::half, sqllm::csr<>>;
    std::shared_ptr<matrix> m;
    sqllm::linear layer, biased;
    std::vector<float> x32, y32;
    std::vector<sqllm::half> x16, y16;
    std::vector<sqllm::bfloat16> xb, yb;
    std::vector<sqllm::half> bias_;

    fixture() {
        std::mt19937 rng(Bits);
        std::vector<sqllm::code_t> codes(rows * cols);
        for (auto& c : codes) c = static_cast<sqllm::code_t>(rng() % (1u << Bits));
        std::normal_distribution<float> normal;
        std::vector<sqllm::half> lut(rows << Bits);
        for (auto& v : lut) v = sqllm::half(0.02f * normal(rng));
        sqllm::csr_storage<float, std::int32_t> sparse;
        std::uniform_int_distribution<std::size_t> col(0, cols - 1);
        for (std::size_t r = 0; r < rows; ++r) {  // 0.45 %: 18 of 4096 per row, sorted columns
            std::vector<std::size_t> cs;
            while (cs.size() < 18) {
                const std::size_t c = col(rng);
                bool seen = false;
                for (std::size_t d : cs) seen = seen || d == c;
                if (!seen) cs.push_back(c);
            }
            std::sort(cs.begin(), cs.end());
            for (std::size_t c : cs) sparse.push_back(c, 0.1f * normal(rng));
            sparse.end_row();
        }
        m = std::make_shared<matrix>(rows, cols, lut,
                                     sqllm::pack_codes<sqllm::default_layout<Bits>>({codes.data(), rows, cols}),
                                     sparse);
        layer = sqllm::make_linear(m->view(), m);  // the same weights as the direct call
        std::vector<sqllm::half> bias(rows);
        for (auto& v : bias) v = sqllm::half(normal(rng));
        bias_ = bias;
        biased = sqllm::make_linear(m->view(), m, sqllm::bias_ref{bias_.data(), sqllm::scalar_type::f16});
        x32.resize(cols);
        for (auto& v : x32) v = normal(rng);
        y32.resize(rows);
        x16.resize(cols);
        sqllm::convert_array(x32.data(), x16.data(), cols);
        y16.resize(rows);
        xb.resize(cols);
        sqllm::convert_array(x32.data(), xb.data(), cols);
        yb.resize(rows);
    }
};

template <int Bits>
fixture<Bits>& data() {
    static fixture<Bits> f;
    return f;
}

const sqllm::thread_pool& pool() {
    static const sqllm::thread_pool p(2);
    return p;
}

void set_bytes(benchmark::State& s, const sqllm::linear& L) {
    s.counters["weight_GB/s"] = benchmark::Counter(static_cast<double>(L.info().storage_bytes) * s.iterations(),
                                                   benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

template <int Bits>
void direct(benchmark::State& s) {
    auto& f = data<Bits>();
    const auto W = f.m->view();
    for (auto _ : s) {
        sqllm::gemv(W, sqllm::span<const float>(f.x32), sqllm::span<float>(f.y32), pool());
        benchmark::ClobberMemory();
    }
    set_bytes(s, f.layer);
}

template <int Bits>
void linear_f32(benchmark::State& s) {
    auto& f = data<Bits>();
    for (auto _ : s) {
        f.layer.gemv(f.x32, f.y32, pool());
        benchmark::ClobberMemory();
    }
    set_bytes(s, f.layer);
}

template <int Bits>
void linear_f16(benchmark::State& s) {
    auto& f = data<Bits>();
    for (auto _ : s) {
        f.layer.gemv(sqllm::span<const sqllm::half>(f.x16), sqllm::span<sqllm::half>(f.y16), pool());
        benchmark::ClobberMemory();
    }
    set_bytes(s, f.layer);
}

template <int Bits>
void linear_bf16(benchmark::State& s) {
    auto& f = data<Bits>();
    for (auto _ : s) {
        f.layer.gemv(sqllm::span<const sqllm::bfloat16>(f.xb), sqllm::span<sqllm::bfloat16>(f.yb), pool());
        benchmark::ClobberMemory();
    }
    set_bytes(s, f.layer);
}

template <int Bits>
void linear_bias(benchmark::State& s) {
    auto& f = data<Bits>();
    for (auto _ : s) {
        f.biased.gemv(sqllm::span<const sqllm::half>(f.x16), sqllm::span<sqllm::half>(f.y16), pool());
        benchmark::ClobberMemory();
    }
    set_bytes(s, f.biased);
}

}  // namespace

#define SQLLM_LINEAR_BENCH(B)                                                          \
    BENCHMARK(direct<B>)->Name("direct/" #B "bit")->UseRealTime();                     \
    BENCHMARK(linear_f32<B>)->Name("linear/" #B "bit")->UseRealTime();                 \
    BENCHMARK(linear_f16<B>)->Name("linear_f16/" #B "bit")->UseRealTime();             \
    BENCHMARK(linear_bf16<B>)->Name("linear_bf16/" #B "bit")->UseRealTime();           \
    BENCHMARK(linear_bias<B>)->Name("linear_bias_f16/" #B "bit")->UseRealTime();

SQLLM_LINEAR_BENCH(3)
SQLLM_LINEAR_BENCH(4)

BENCHMARK_MAIN();
