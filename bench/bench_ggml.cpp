// bench_ggml — sqllm's LUT kernels and ggml's CPU matrix multiply
// (ggml_mul_mat, the code llama.cpp runs) on the same shapes, in one process,
// cold (the weights evicted from every cache before each multiply,
// bench/cold.hpp), timed interleaved (run it with
// --benchmark_enable_random_interleaving=true; bench/run_ggml.sh does).
//
// Built only when find_package(ggml) finds a ggml the user built (README,
// "Comparing with ggml"); ggml's code is never part of this repository.
//
// Benchmarks are named
//   read_bw/threads:T                                      the floor's bandwidth
//   fp32/sqllm/<rows>x<cols>/batch:B/threads:T             sqllm::dense_gemv/gemm
//   ggml/<type>[-repacked]/<rows>x<cols>/batch:B/threads:T ggml_mul_mat
//   lut/<bits>bit/<lut>/<sparse>/<rows>x<cols>/batch:B/threads:T   sqllm::gemv/gemm
//   int8/<bits>bit/<lut>/<sparse>/<rows>x<cols>/batch:B/threads:T  sqllm::gemv_int8/gemm_int8
// and report weight_bytes (per multiply), bits_per_weight and GBps; the label
// is the target each ran on (sqllm's kernel_target, or ggml's type and buffer).
// ggml's types use its repacked ("extra") CPU buffer type wherever ggml
// supports the type there on this CPU (as llama.cpp does), its plain CPU
// buffer otherwise; activations are f32 for both (ggml quantizes them to its
// q8 types inside mul_mat, timed).
//
// Environment: SQLLM_BENCH_SHAPES=11008x4096,4096x4096 (default),
// SQLLM_BENCH_BATCHES=1,8,32, SQLLM_BENCH_THREADS=2.
#include <benchmark/benchmark.h>
#include <ggml-alloc.h>
#include <ggml-backend.h>
#include <ggml-cpu.h>
#include <ggml.h>
#include <sqllm/kernels/gemm_int8.hpp>
#include <sqllm/sqllm.hpp>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "operands.hpp"
#include "cold.hpp"
#include "read_bandwidth.hpp"

namespace {


struct shape {
    std::size_t rows, cols;
};

std::vector<std::size_t> env_list(const char* name, const char* fallback) {
    const char* s = std::getenv(name);
    std::stringstream in(s && *s ? s : fallback);
    std::vector<std::size_t> out;
    for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoul(item));
    return out;
}

std::vector<shape> env_shapes() {
    const char* s = std::getenv("SQLLM_BENCH_SHAPES");
    std::stringstream in(s && *s ? s : "11008x4096,4096x4096");
    std::vector<shape> out;
    for (std::string item; std::getline(in, item, ',');) {
        const auto x = item.find('x');
        if (x == std::string::npos) throw std::runtime_error("SQLLM_BENCH_SHAPES: " + item + " is not ROWSxCOLS");
        out.push_back({std::stoul(item.substr(0, x)), std::stoul(item.substr(x + 1))});
    }
    return out;
}

std::string shape_name(shape s) { return std::to_string(s.rows) + "x" + std::to_string(s.cols); }


const sqllm::thread_pool& executor(std::size_t threads) {
    static std::map<std::size_t, std::unique_ptr<sqllm::thread_pool>> pools;
    auto& p = pools[threads];
    if (!p) p = std::make_unique<sqllm::thread_pool>(threads);
    return *p;
}

/// One object per key for the whole run: with random interleaving, every
/// repetition of every benchmark runs anew, and building the operands (the
/// k-quants above all) takes longer than timing them.
template <class T, class Make>
T& cached(const std::string& key, Make make) {
    static std::map<std::string, std::shared_ptr<void>> objects;
    auto& p = objects[key];
    if (!p) p = std::shared_ptr<T>(make().release());
    return *static_cast<T*>(p.get());
}

void report(benchmark::State& state, std::size_t bytes, double weights, const std::string& label) {
    state.counters["weight_bytes"] = static_cast<double>(bytes);
    state.counters["bits_per_weight"] = 8.0 * static_cast<double>(bytes) / weights;
    state.counters["GBps"] =
        benchmark::Counter(static_cast<double>(bytes) * static_cast<double>(state.iterations()) / 1e9,
                           benchmark::Counter::kIsRate);
    state.SetLabel(label);
}

// ---- the floor ------------------------------------------------------------------

void read_bw(benchmark::State& state, std::size_t threads) {
    static std::vector<float> buf(std::size_t{1} << 28, 1.0f);  // 1 GiB: no cache holds it
    float partial[64];
    for (auto _ : state) benchmark::DoNotOptimize(read_bandwidth::read_all(buf.data(), buf.size(), executor(threads), partial));
    report(state, buf.size() * sizeof(float), static_cast<double>(buf.size()), "read");
}

// ---- ggml ------------------------------------------------------------------------

/// One ggml weight tensor of a type, its activations and output, and the
/// graph computing out = mul_mat(w, x) on the CPU backend.
struct ggml_case {
    ggml_backend_t backend = nullptr;
    ggml_context* wctx = nullptr;
    ggml_context* gctx = nullptr;
    ggml_backend_buffer_t wbuf = nullptr, gbuf = nullptr;
    ggml_tensor *w = nullptr, *x = nullptr, *out = nullptr;
    ggml_cgraph* graph = nullptr;
    bool repacked = false;

    ggml_case(ggml_type type, shape s, std::size_t batch, std::size_t threads, const std::vector<char>& data) {
        backend = ggml_backend_cpu_init();
        ggml_backend_cpu_set_n_threads(backend, static_cast<int>(threads));
        const ggml_init_params wp{ggml_tensor_overhead() * 4, nullptr, true};
        wctx = ggml_init(wp);
        w = ggml_new_tensor_2d(wctx, type, static_cast<int64_t>(s.cols), static_cast<int64_t>(s.rows));
        const ggml_init_params gp{ggml_tensor_overhead() * 8 + ggml_graph_overhead(), nullptr, true};
        gctx = ggml_init(gp);
        x = ggml_new_tensor_2d(gctx, GGML_TYPE_F32, static_cast<int64_t>(s.cols), static_cast<int64_t>(batch));
        out = ggml_mul_mat(gctx, w, x);
        // The repacked buffer type where ggml runs this type from it on this CPU.
        ggml_backend_dev_t dev = ggml_backend_get_device(backend);
        auto get_extra = reinterpret_cast<ggml_backend_dev_get_extra_bufts_t>(
            ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(dev), "ggml_backend_dev_get_extra_bufts"));
        for (ggml_backend_buffer_type_t* b = get_extra ? get_extra(dev) : nullptr; b && *b && !repacked; ++b) {
            if (std::strcmp(ggml_backend_buft_name(*b), "CPU_REPACK") != 0) continue;
            wbuf = ggml_backend_alloc_ctx_tensors_from_buft(wctx, *b);
            if (wbuf && ggml_backend_dev_supports_op(dev, out)) {
                repacked = true;
            } else if (wbuf) {
                ggml_backend_buffer_free(wbuf);
                wbuf = nullptr;
                w->buffer = nullptr;
                w->data = nullptr;
                w->extra = nullptr;
            }
        }
        if (!repacked) wbuf = ggml_backend_alloc_ctx_tensors_from_buft(wctx, ggml_backend_cpu_buffer_type());
        if (!wbuf) throw std::runtime_error("ggml: cannot allocate the weights");
        ggml_backend_tensor_set(w, data.data(), 0, ggml_nbytes(w));
        gbuf = ggml_backend_alloc_ctx_tensors(gctx, backend);
        const auto X = random_floats(s.cols * batch, 2);
        ggml_backend_tensor_set(x, X.data(), 0, ggml_nbytes(x));
        graph = ggml_new_graph(gctx);
        ggml_build_forward_expand(graph, out);
    }
    ggml_case(const ggml_case&) = delete;
    ggml_case& operator=(const ggml_case&) = delete;
    ~ggml_case() {
        ggml_backend_buffer_free(gbuf);
        ggml_backend_buffer_free(wbuf);
        ggml_free(gctx);
        ggml_free(wctx);
        ggml_backend_free(backend);
    }
    void run() {
        if (ggml_backend_graph_compute(backend, graph) != GGML_STATUS_SUCCESS)
            throw std::runtime_error("ggml_backend_graph_compute failed");
    }
};

/// The weights quantized to `type` (once per shape and type: k-quants are slow to make).
const std::vector<char>& ggml_weights(ggml_type type, shape s) {
    static std::map<std::string, std::vector<char>> cache;
    auto& out = cache[std::string(ggml_type_name(type)) + shape_name(s)];
    if (out.empty()) {
        const auto W = random_floats(s.rows * s.cols, 1, 0.02f);
        out.resize(ggml_row_size(type, static_cast<int64_t>(s.cols)) * s.rows);
        if (type == GGML_TYPE_F32)
            std::memcpy(out.data(), W.data(), out.size());
        else
            ggml_quantize_chunk(type, W.data(), out.data(), 0, static_cast<int64_t>(s.rows), static_cast<int64_t>(s.cols),
                                nullptr);
    }
    return out;
}

void ggml_bench(benchmark::State& state, ggml_type type, shape s, std::size_t batch, std::size_t threads) {
    ggml_case& c = cached<ggml_case>(std::string(ggml_type_name(type)) + shape_name(s) + "/" + std::to_string(batch) +
                                         "/" + std::to_string(threads),
                                     [&] {
                                         auto out = std::make_unique<ggml_case>(type, s, batch, threads,
                                                                                ggml_weights(type, s));
                                         out->run();  // warm-up: ggml's work buffers and threads
                                         return out;
                                     });
    for (auto _ : state) {
        state.PauseTiming();
        cold::evict(c.w->data, ggml_nbytes(c.w));
        state.ResumeTiming();
        c.run();
    }
    report(state, ggml_nbytes(c.w), static_cast<double>(s.rows * s.cols),
           std::string("ggml ") + ggml_type_name(type) + (c.repacked ? " repacked" : ""));
}

// ---- sqllm ----------------------------------------------------------------------

void fp32_bench(benchmark::State& state, shape s, std::size_t batch, std::size_t threads) {
    const auto& W = cached<std::vector<float>>("fp32" + shape_name(s), [&] {
        return std::make_unique<std::vector<float>>(random_floats(s.rows * s.cols, 1, 0.02f));
    });
    const auto X = random_floats(batch * s.cols, 2);
    std::vector<float> Y(batch * s.rows);
    const sqllm::matrix_view<const float> Wv(W.data(), s.rows, s.cols);
    for (auto _ : state) {
        state.PauseTiming();
        cold::evict(W.data(), W.size() * sizeof(float));
        state.ResumeTiming();
        if (batch == 1)
            sqllm::dense_gemv(Wv, X, Y, executor(threads));
        else
            sqllm::dense_gemm(Wv, {X.data(), batch, s.cols}, {Y.data(), batch, s.rows}, executor(threads));
        benchmark::DoNotOptimize(Y.data());
        benchmark::ClobberMemory();
    }
    report(state, W.size() * sizeof(float), static_cast<double>(s.rows * s.cols),
           sqllm::to_string(sqllm::dense_target()));
}


template <class Sparse>
std::string sparse_name() {
    return std::is_same<Sparse, sqllm::no_sparse>::value ? std::string("dense") : sqllm::sparse_format_traits<Sparse>::name;
}

template <class Sparse>
typename sqllm::sparse_format_traits<Sparse>::storage random_sparse(shape) {
    return {};
}
template <>
sqllm::csr_storage<float, std::int32_t> random_sparse<sqllm::csr<>>(shape s) {
    return cached<sqllm::csr_storage<float, std::int32_t>>("csr" + shape_name(s), [&] {
        return std::make_unique<sqllm::csr_storage<float, std::int32_t>>(random_csr(s.rows, s.cols));
    });
}
template <>
sqllm::csr_storage<float, std::int32_t> random_sparse<sqllm::balanced_csr<>>(shape s) {
    return random_sparse<sqllm::csr<>>(s);
}

/// Every array of a matrix evicted.
template <class View>
void evict_matrix(const View& W) {
    cold::evict(W.words(), View::layout::word_count(W.rows(), W.cols()) * sizeof(std::uint32_t));
    cold::evict(W.lut(), (W.rows() << View::bits) * sizeof(typename View::lut_type));
    const auto& sp = W.sparse();
    if constexpr (!std::is_same<typename View::sparse_format, sqllm::no_sparse>::value) {
        if (!sp.values.empty()) {
            cold::evict(sp.values.data(), sp.values.size() * sizeof(sp.values[0]));
            cold::evict(sp.col_idx.data(), sp.col_idx.size() * sizeof(sp.col_idx[0]));
            cold::evict(sp.row_ptr.data(), sp.row_ptr.size() * sizeof(sp.row_ptr[0]));
        }
    }
}

template <int Bits, class Lut, class Sparse>
std::unique_ptr<sqllm::quantized_matrix<Bits, Lut, Sparse, sqllm::default_layout<Bits>>> make_lut(shape s) {
    // Random words are random codes (padding codes included: the kernels
    // multiply those by zero); the timing does not depend on the values.
    std::mt19937_64 rng(3);
    std::vector<std::uint32_t> words(sqllm::default_layout<Bits>::word_count(s.rows, s.cols));
    for (auto& w : words) w = static_cast<std::uint32_t>(rng());
    std::vector<Lut> table(s.rows << Bits);
    const auto v = random_floats(table.size(), 4, 0.02f);
    for (std::size_t i = 0; i < table.size(); ++i) table[i] = sqllm::lut_value_traits<Lut>::from_float(v[i]);
    return std::make_unique<sqllm::quantized_matrix<Bits, Lut, Sparse, sqllm::default_layout<Bits>>>(
        s.rows, s.cols, std::move(table), std::move(words), random_sparse<Sparse>(s));
}

/// sqllm's exact kernels (gemv, gemm) on the cached matrix or, with Int8,
/// its approximate int8 path (gemv_int8, gemm_int8) in a caller workspace.
template <int Bits, class Lut, class Sparse, bool Int8>
void lut_bench(benchmark::State& state, shape s, std::size_t batch, std::size_t threads) {
    using M = sqllm::quantized_matrix<Bits, Lut, Sparse, sqllm::default_layout<Bits>>;
    const M& m = cached<M>(std::to_string(Bits) + lut_name<Lut>() + sparse_name<Sparse>() + shape_name(s),
                           [&] { return make_lut<Bits, Lut, Sparse>(s); });
    const auto W = m.view();
    const auto X = random_floats(batch * s.cols, 2);
    std::vector<float> Y(batch * s.rows);
    std::vector<unsigned char> ws(Int8 ? sqllm::gemm_int8_workspace_bytes(W, batch) : 0);
    const sqllm::target_id t = sqllm::kernel_target(W);
    const sqllm::span<const float> x(X);
    const sqllm::span<float> y(Y);
    const sqllm::matrix_view<const float> Xv(X.data(), batch, s.cols);
    const sqllm::matrix_view<float> Yv(Y.data(), batch, s.rows);
    for (auto _ : state) {
        state.PauseTiming();
        evict_matrix(W);
        state.ResumeTiming();
        if constexpr (Int8) {
            if (batch == 1)
                sqllm::gemv_int8(t, W, x, y, sqllm::span<unsigned char>(ws), executor(threads));
            else
                sqllm::gemm_int8(t, W, Xv, Yv, sqllm::span<unsigned char>(ws), executor(threads));
        } else {
            if (batch == 1)
                sqllm::gemv(t, W, x, y, executor(threads));
            else
                sqllm::gemm(t, W, Xv, Yv, executor(threads));
        }
        benchmark::DoNotOptimize(Y.data());
        benchmark::ClobberMemory();
    }
    report(state, m.storage_bytes(), static_cast<double>(s.rows * s.cols),
           std::string(sqllm::to_string(t)) + (Int8 ? " int8" : ""));
}

std::string suffix(shape s, std::size_t b, std::size_t t) {
    return "/" + shape_name(s) + "/batch:" + std::to_string(b) + "/threads:" + std::to_string(t);
}

template <class F>
void add(const std::string& name, F f) {
    benchmark::RegisterBenchmark(name.c_str(), f)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

template <int Bits, class Lut, class Sparse, bool Int8 = false>
void register_lut(shape s, std::size_t b, std::size_t t) {
    add(std::string(Int8 ? "int8/" : "lut/") + std::to_string(Bits) + "bit/" + lut_name<Lut>() + "/" +
            sparse_name<Sparse>() + suffix(s, b, t),
        [=](benchmark::State& st) { lut_bench<Bits, Lut, Sparse, Int8>(st, s, b, t); });
}

template <int Bits, class Lut, class Sparse>
void register_int8(shape s, std::size_t b, std::size_t t) {
    register_lut<Bits, Lut, Sparse, true>(s, b, t);
}

template <int Bits, class Lut>
void register_all_sparse(shape s, std::size_t b, std::size_t t) {
    register_lut<Bits, Lut, sqllm::no_sparse>(s, b, t);
    register_lut<Bits, Lut, sqllm::csr<>>(s, b, t);
    register_lut<Bits, Lut, sqllm::balanced_csr<>>(s, b, t);
}

void register_all() {
    const auto threads = env_list("SQLLM_BENCH_THREADS", "2");
    const auto batches = env_list("SQLLM_BENCH_BATCHES", "1,8,32");
    for (std::size_t t : threads) add("read_bw/threads:" + std::to_string(t), [=](benchmark::State& st) { read_bw(st, t); });
    const ggml_type types[] = {GGML_TYPE_F32,  GGML_TYPE_Q4_0, GGML_TYPE_Q4_K,
                               GGML_TYPE_Q3_K, GGML_TYPE_Q2_K, GGML_TYPE_IQ4_NL};
    for (const shape s : env_shapes())
        for (std::size_t b : batches)
            for (std::size_t t : threads) {
                add("fp32/sqllm" + suffix(s, b, t), [=](benchmark::State& st) { fp32_bench(st, s, b, t); });
                for (ggml_type ty : types)
                    add(std::string("ggml/") + ggml_type_name(ty) + suffix(s, b, t),
                        [=](benchmark::State& st) { ggml_bench(st, ty, s, b, t); });
                register_all_sparse<2, float>(s, b, t);
                register_all_sparse<3, float>(s, b, t);
                register_all_sparse<4, float>(s, b, t);
                register_all_sparse<3, sqllm::half>(s, b, t);
                register_all_sparse<4, sqllm::half>(s, b, t);
                register_lut<2, sqllm::half, sqllm::no_sparse>(s, b, t);
                register_lut<3, sqllm::bfloat16, sqllm::no_sparse>(s, b, t);
                register_lut<3, sqllm::bfloat16, sqllm::csr<>>(s, b, t);
                register_lut<4, sqllm::bfloat16, sqllm::no_sparse>(s, b, t);
                register_lut<4, sqllm::bfloat16, sqllm::csr<>>(s, b, t);
                register_int8<2, float, sqllm::no_sparse>(s, b, t);
                register_int8<3, float, sqllm::no_sparse>(s, b, t);
                register_int8<4, float, sqllm::no_sparse>(s, b, t);
                register_int8<3, sqllm::half, sqllm::csr<>>(s, b, t);
                register_int8<4, sqllm::half, sqllm::csr<>>(s, b, t);
            }
}

}  // namespace

int main(int argc, char** argv) {
    ggml_cpu_init();
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
