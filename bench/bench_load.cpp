// bench_load — time to a ready model: a synthetic LLaMA-7B-shaped 4-bit checkpoint (32 layers ×
// {q, k, v, o 4096×4096; gate, up 11008×4096; down 4096×11008} = 6.5e9 weights, fp16 LUT,
// 0.45 % CSR; random codes, no quantization) loaded
//   striped    zero-copy: mmap + io::view_quantized per layer (validation, no copy, no repack)
//   reference  io::load_quantized per layer: the codes repacked in parallel (thread_pool, 2 threads)
// with the page cache warm, and cold (posix_fadvise(POSIX_FADV_DONTNEED) on the file before each
// iteration; the counter evicted_pct says how much of the file left the cache, via mincore).
// Counters: rss_mib / anon_mib / file_mib (VmRSS, RssAnon, RssFile of /proc/self/status with the
// model loaded), layers, file_gib.
//
// The two files (~3.5 GB each) are written once to $SQLLM_BENCH_DIR (default /tmp/sqllm-bench-7b)
// and reused when complete (the writer renames them into place only when whole). Not run in CI.
// Run: ./build/bench/bench_load --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <sqllm/core/thread_pool.hpp>
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors_writer.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace sio = sqllm::io;
constexpr int bits = 4;
using lut_t = sqllm::half;
using matrix_t = sqllm::quantized_matrix<bits, lut_t>;

std::string bench_dir() {
    const char* d = std::getenv("SQLLM_BENCH_DIR");
    return d && *d ? d : "/tmp/sqllm-bench-7b";
}
std::string file_of(sio::checkpoint_layout l) { return bench_dir() + "/llama7b-4bit-" + sio::to_string(l) + ".safetensors"; }

constexpr int layers = 32;
struct shape {
    const char* name;
    std::size_t rows, cols;
};
constexpr shape shapes[] = {{"self_attn.q_proj", 4096, 4096}, {"self_attn.k_proj", 4096, 4096},
                            {"self_attn.v_proj", 4096, 4096}, {"self_attn.o_proj", 4096, 4096},
                            {"mlp.gate_proj", 11008, 4096},   {"mlp.up_proj", 11008, 4096},
                            {"mlp.down_proj", 4096, 11008}};
constexpr const char* marker = "sqllm.bench_load";  // metadata: the generator's version
constexpr const char* marker_value = "1";

/// xorshift64*: fast, and good enough for random codes.
struct rng64 {
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1Dull;
    }
};

/// A random layer: any word is valid striped codes (these widths need no padding), an fp16 LUT,
/// and a CSR of 0.45 % of each row (sorted columns, one per equal segment).
matrix_t random_layer(std::size_t rows, std::size_t cols, std::uint64_t seed) {
    rng64 g{seed * 0x9E3779B97F4A7C15ull + 1};
    std::vector<std::uint32_t> words(sqllm::striped_layout<bits>::word_count(rows, cols));
    for (auto& w : words)
        w = static_cast<std::uint32_t>(g.next());
    std::vector<lut_t> lut(rows << bits);
    for (auto& v : lut)
        v = lut_t(static_cast<float>(static_cast<std::int64_t>(g.next() % 2001) - 1000) / 16384.0f);
    sqllm::csr_storage<float, std::int32_t> s;
    const std::size_t per_row = cols * 45 / 10000, segment = cols / per_row;
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t k = 0; k < per_row; ++k)
            s.push_back(k * segment + g.next() % segment, static_cast<float>(g.next() % 1000) / 1000.0f - 0.5f);
        s.end_row();
    }
    return matrix_t(rows, cols, std::move(lut), std::move(words), std::move(s));
}

bool complete(const std::string& path) {
    try {
        const sio::safetensors_file f(path);
        const auto m = f.metadata().find(marker);
        return m != f.metadata().end() && m->second == marker_value &&
               sio::find_quantized_layers(f).size() == layers * std::size(shapes);
    } catch (const sqllm::error&) {
        return false;
    }
}

/// Writes both files unless they are there and complete.
void ensure_files() {
    static bool done = false;
    if (done) return;
    ::mkdir(bench_dir().c_str(), 0777);
    const sio::checkpoint_layout both[] = {sio::checkpoint_layout::striped, sio::checkpoint_layout::reference};
    for (const auto l : both) {
        const std::string path = file_of(l);
        if (complete(path)) continue;
        std::fprintf(stderr, "bench_load: writing %s ...\n", path.c_str());
        sio::safetensors_writer w(path);
        w.set_metadata(marker, marker_value);
        for (int i = 0; i < layers; ++i)
            for (std::size_t k = 0; k < std::size(shapes); ++k) {
                const shape& s = shapes[k];
                const matrix_t m = random_layer(s.rows, s.cols, std::uint64_t(i) * 16 + k);
                const std::string name = "model.layers." + std::to_string(i) + "." + s.name;
                sio::write_quantized(w, name, m.view(), sio::dtype::f16, l);
            }
        w.finish();
    }
    done = true;
}

/// kB fields of /proc/self/status, in MiB.
double status_mib(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    const std::string key = std::string(field) + ":";
    while (std::getline(in, line))
        if (line.compare(0, key.size(), key) == 0) return std::strtod(line.c_str() + key.size(), nullptr) / 1024.0;
    return -1;
}

/// Reads the whole file once, so that the page cache holds it.
void warm_up(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buf(std::size_t(1) << 20);
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    }
}

/// Drops the file's pages from the page cache; returns the share of its pages still cached (mincore).
double evict(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st {};
    ::fstat(fd, &st);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    double resident = -1;
    const std::size_t size = static_cast<std::size_t>(st.st_size), page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
        std::vector<unsigned char> vec((size + page - 1) / page);
        if (::mincore(p, size, vec.data()) == 0) {
            std::size_t n = 0;
            for (unsigned char c : vec)
                n += c & 1;
            resident = static_cast<double>(n) / static_cast<double>(vec.size());
        }
        ::munmap(p, size);
    }
    ::close(fd);
    return resident;
}

void report(benchmark::State& state, const std::string& path, double evicted) {
    state.counters["rss_mib"] = status_mib("VmRSS");
    state.counters["anon_mib"] = status_mib("RssAnon");
    state.counters["file_mib"] = status_mib("RssFile");
    state.counters["layers"] = static_cast<double>(layers * std::size(shapes));
    struct stat st {};
    ::stat(path.c_str(), &st);
    state.counters["file_gib"] = static_cast<double>(st.st_size) / (1u << 30);
    if (evicted >= 0) state.counters["evicted_pct"] = 100.0 * evicted;
}

/// Zero copy: open (mmap, header), find the layers, view and validate each.
void BM_load_striped(benchmark::State& state) {
    ensure_files();
    const bool cold = state.range(0) != 0;
    const std::string path = file_of(sio::checkpoint_layout::striped);
    double evicted = -1;
    for (auto _ : state) {
        state.PauseTiming();
        if (cold) evicted = 1.0 - evict(path);
        else warm_up(path);
        state.ResumeTiming();
        auto f = std::make_unique<sio::safetensors_file>(path);
        const auto found = sio::find_quantized_layers(*f);
        std::vector<sqllm::quantized_view<bits, lut_t>> model;
        model.reserve(found.size());
        for (const auto& L : found)
            model.push_back(sio::view_quantized<bits, lut_t>(*f, L));
        benchmark::DoNotOptimize(model.data());
        state.PauseTiming();
        report(state, path, evicted);
        model.clear();
        f.reset();
        state.ResumeTiming();
    }
}

/// The reference layout: every layer's codes repacked into the striped layout on 2 threads.
void BM_load_reference(benchmark::State& state) {
    ensure_files();
    const bool cold = state.range(0) != 0;
    const std::string path = file_of(sio::checkpoint_layout::reference);
    const sqllm::thread_pool pool(2);
    double evicted = -1;
    for (auto _ : state) {
        state.PauseTiming();
        if (cold) evicted = 1.0 - evict(path);
        else warm_up(path);
        state.ResumeTiming();
        auto f = std::make_unique<sio::safetensors_file>(path);
        const auto found = sio::find_quantized_layers(*f);
        std::vector<matrix_t> model;
        model.reserve(found.size());
        for (const auto& L : found)
            model.push_back(sio::load_quantized<bits, lut_t>(*f, L, pool));
        benchmark::DoNotOptimize(model.data());
        state.PauseTiming();
        f.reset();  // the file is not needed once loaded: what stays is the model's memory
        report(state, path, evicted);
        model.clear();
        state.ResumeTiming();
    }
}

}  // namespace

BENCHMARK(BM_load_striped)->ArgName("cold")->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_load_reference)->ArgName("cold")->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
