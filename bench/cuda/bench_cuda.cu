// bench/cuda/bench_cuda.cu — sqllm's CUDA LUT GEMM against cuBLAS fp16 and the
// SqueezeLLM reference kernel design, cold, with results checked before timing
// (issue 16; docs/DESIGN.md §5).
//
//   bench_cuda [--quick] [--md PATH] [--json PATH] [--samples N]
//   (or SQLLM_BENCH_CUDA_MD / SQLLM_BENCH_CUDA_JSON / SQLLM_BENCH_CUDA_QUICK=1)
//
// Shapes rows × cols: 4096×4096, 11008×4096, 4096×11008, 8192×28672; batch 1, 8, 32
// (--quick: 4096×4096, batch 1 and 8, 5 samples). Variants per shape and batch:
//   cublas-fp16      cublasGemmEx, fp16 weights/activations/output, fp32 compute
//   ref-B            the reference design (reference_design.cuh), B = 2 (not in the
//                    reference; its design extrapolated), 3, 4; fp32 LUT, X and Y
//   ref-B+csr        the same plus its sparse launch (0.45 % CSR)
//   sqllm-B          sqllm::cuda::gemm, B = 2, 3, 4, fp16 LUT, fp16 X and Y, dense only
//   sqllm-B+csr / +bal  B = 3, 4, with the 0.45 % CSR part, plain or nonzero-balanced
//   each sqllm variant in mode fast and mode deterministic.
//
// Timing. "Cold": every variant rotates over enough copies of its weights (codes,
// LUT, CSR) that they exceed max(4 × L2, 256 MiB), so each call reads its weights from
// DRAM; X and Y stay the same buffers (hot, as in inference). A sample is one group of
// G consecutive calls (G sized so a group lasts ≥ ~200 µs) between two CUDA events,
// queued behind a kernel that spins 1 ms+ so the host's launch cost is not timed;
// per-call time = group time / G; the reported time is the median of ≥ 15 samples
// after warm-up. The reference design's time includes its memset of Y (its atomics
// need a zeroed output).
//
// Bandwidth. Weight bytes = rows·cols·Bits/8 + LUT bytes + 8 bytes per nonzero
// (cuBLAS: rows·cols·2). Effective GB/s = weight bytes / time (10^9 bytes). The copy
// yardstick is cudaMemcpyAsync device-to-device of 1 GiB: its "copy GB/s" counts
// read + write (2 × size / time: DRAM traffic); "read-equivalent" is size / time.
// The "% of copy" column divides effective weight GB/s by the copy GB/s (read+write),
// i.e. the fraction of the DRAM throughput a copy reaches.
//
// Checks before timing (each shape and batch): the reference design against an fp64
// host computation on sampled rows; every sqllm variant and cuBLAS against the
// reference design (same codes, fp16-exact LUT and X: max |Δ| / max |ref| ≤ 5e-3,
// the fp16 output rounding); mode::deterministic run twice must give identical bits.
// Any failed CUDA/cuBLAS call or check stops the program with a message (exit 1).

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sqllm/cuda/gemm.cuh>
#include <sqllm/layout/gpu.hpp>
#include <sqllm/layout/pack.hpp>
#include <sqllm/types/half.hpp>

#include "reference_design.cuh"

namespace {

// ---------------------------------------------------------------- errors

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

void check_cuda(cudaError_t e, const char* call, int line) {
    if (e != cudaSuccess)
        fail(std::string("CUDA call failed (bench_cuda.cu:") + std::to_string(line) + "): " + call + ": " +
             cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}
void check_cublas(cublasStatus_t s, const char* call, int line) {
    if (s != CUBLAS_STATUS_SUCCESS)
        fail(std::string("cuBLAS call failed (bench_cuda.cu:") + std::to_string(line) + "): " + call + ": " +
             cublasGetStatusName(s) + " (" + cublasGetStatusString(s) + ")");
}
#define CK(call) check_cuda((call), #call, __LINE__)
#define CB(call) check_cublas((call), #call, __LINE__)

// ---------------------------------------------------------------- device memory

struct cuda_free {
    void operator()(void* p) const noexcept { cudaFree(p); }
};
using device_bytes = std::unique_ptr<void, cuda_free>;

device_bytes device_alloc(std::size_t bytes) {
    void* p = nullptr;
    CK(cudaMalloc(&p, bytes == 0 ? 1 : bytes));
    return device_bytes(p);
}
template <class T>
device_bytes upload(const std::vector<T>& v) {
    device_bytes d = device_alloc(v.size() * sizeof(T));
    CK(cudaMemcpy(d.get(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
    return d;
}
template <class T>
T* as(const device_bytes& d) {
    return static_cast<T*>(d.get());
}

// ---------------------------------------------------------------- host data

struct rng {  // splitmix64: fast, reproducible
    std::uint64_t s;
    explicit rng(std::uint64_t seed) : s(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    float uniform(float lo, float hi) {  // [lo, hi)
        return lo + (hi - lo) * static_cast<float>(next() >> 40) * (1.0f / 16777216.0f);
    }
};

float fp16_round(float v) { return sqllm::half(v).to_float(); }

struct csr_host {
    std::vector<std::int32_t> row_ptr, col;
    std::vector<float> val;
};

// The data of one shape: 4-bit codes (a Bits-bit matrix uses the low Bits bits of
// each), a 16-entry LUT per row (Bits bits use its first 2^Bits entries), fp16-exact
// values everywhere so fp32 and fp16 paths multiply the same numbers.
struct shape_data {
    std::size_t rows = 0, cols = 0, max_batch = 0;
    std::vector<sqllm::code_t> codes4;  // rows × cols
    std::vector<float> lut16;           // rows × 16, fp16-exact
    std::vector<float> x;               // max_batch × cols, fp16-exact
    csr_host sparse;
};

shape_data make_shape(std::size_t rows, std::size_t cols, std::size_t max_batch, double density) {
    shape_data d;
    d.rows = rows;
    d.cols = cols;
    d.max_batch = max_batch;
    rng g(0x5157'4c4cull ^ (rows * 1000003ull + cols));
    d.codes4.resize(rows * cols);
    for (std::size_t i = 0; i < d.codes4.size(); i += 16) {  // 16 codes from one 64-bit draw
        std::uint64_t r = g.next();
        for (std::size_t k = 0; k < 16 && i + k < d.codes4.size(); ++k, r >>= 4)
            d.codes4[i + k] = static_cast<sqllm::code_t>(r & 15u);
    }
    d.lut16.resize(rows * 16);
    for (float& v : d.lut16) v = fp16_round(g.uniform(-0.05f, 0.05f));
    d.x.resize(max_batch * cols);
    for (float& v : d.x) v = fp16_round(g.uniform(-1.0f, 1.0f));
    // Sparse: nnz uniformly random positions (duplicates dropped), residual-sized values.
    const std::size_t want = static_cast<std::size_t>(std::llround(static_cast<double>(rows * cols) * density));
    std::vector<std::uint64_t> pos(want);
    for (auto& p : pos) p = g.next() % (static_cast<std::uint64_t>(rows) * cols);
    std::sort(pos.begin(), pos.end());
    pos.erase(std::unique(pos.begin(), pos.end()), pos.end());
    d.sparse.row_ptr.assign(rows + 1, 0);
    d.sparse.col.resize(pos.size());
    d.sparse.val.resize(pos.size());
    for (std::size_t i = 0; i < pos.size(); ++i) {
        const std::size_t r = static_cast<std::size_t>(pos[i] / cols);
        d.sparse.col[i] = static_cast<std::int32_t>(pos[i] % cols);
        d.sparse.val[i] = g.uniform(-0.2f, 0.2f);
        ++d.sparse.row_ptr[r + 1];
    }
    for (std::size_t r = 0; r < rows; ++r) d.sparse.row_ptr[r + 1] += d.sparse.row_ptr[r];
    return d;
}

std::vector<sqllm::code_t> codes_of(const shape_data& d, int bits) {
    std::vector<sqllm::code_t> c(d.codes4.size());
    const unsigned mask = (1u << bits) - 1u;
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = static_cast<sqllm::code_t>(d.codes4[i] & mask);
    return c;
}
template <class T>
std::vector<T> lut_of(const shape_data& d, int bits) {
    const std::size_t levels = std::size_t{1} << bits;
    std::vector<T> l(d.rows * levels);
    for (std::size_t r = 0; r < d.rows; ++r)
        for (std::size_t v = 0; v < levels; ++v) l[r * levels + v] = T(d.lut16[r * 16 + v]);
    return l;
}
std::vector<std::uint16_t> fp16_bits(const std::vector<float>& v) {
    std::vector<std::uint16_t> out(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) out[i] = sqllm::half(v[i]).bits;
    return out;
}

// ---------------------------------------------------------------- timing

__global__ void spin_kernel(unsigned long long ns) {
    unsigned long long start = 0, now = 0;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
    do {
        __nanosleep(1000);
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    } while (now - start < ns);
}

struct event {
    cudaEvent_t e = nullptr;
    event() { CK(cudaEventCreate(&e)); }
    ~event() { cudaEventDestroy(e); }
    event(const event&) = delete;
    event& operator=(const event&) = delete;
};

struct settings {
    bool quick = false;
    int samples = 15;  // ≥ 15 (quick: 5)
    std::size_t cold_bytes = 0;
};

struct timing {
    double us = 0;        // median per call
    int group = 1;        // calls per sample
    std::size_t copies = 1;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// call(i) enqueues one multiply on `stream` reading weight copy i.
timing time_calls(const std::function<void(std::size_t)>& call, std::size_t copies, const settings& s,
                  cudaStream_t stream) {
    event a, b;
    std::size_t next = 0;
    auto one = [&] {
        call(next);
        next = (next + 1) % copies;
    };
    // Warm-up (first calls: module load, cuBLAS heuristics), then an estimate of one call.
    for (int i = 0; i < 3; ++i) one();
    CK(cudaStreamSynchronize(stream));
    CK(cudaEventRecord(a.e, stream));
    for (int i = 0; i < 3; ++i) one();
    CK(cudaEventRecord(b.e, stream));
    CK(cudaEventSynchronize(b.e));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a.e, b.e));
    const double est_us = std::max(1e-3, 1e3 * static_cast<double>(ms) / 3.0);
    timing t;
    t.copies = copies;
    t.group = static_cast<int>(std::clamp(std::ceil(200.0 / est_us), 1.0, 64.0));
    // The spin covers the host enqueueing the group (generously 25 µs per call).
    const unsigned long long spin_ns = 1000000ull + 25000ull * static_cast<unsigned long long>(t.group);
    std::vector<double> per_call;
    for (int smp = -1; smp < s.samples; ++smp) {  // sample -1: one more warm-up of the whole sequence
        spin_kernel<<<1, 1, 0, stream>>>(spin_ns);
        CK(cudaGetLastError());
        CK(cudaEventRecord(a.e, stream));
        for (int i = 0; i < t.group; ++i) one();
        CK(cudaEventRecord(b.e, stream));
        CK(cudaEventSynchronize(b.e));
        CK(cudaEventElapsedTime(&ms, a.e, b.e));
        if (smp >= 0) per_call.push_back(1e3 * static_cast<double>(ms) / t.group);
    }
    t.us = median(per_call);
    return t;
}

std::size_t copies_for(std::size_t bytes_per_copy, const settings& s) {
    return std::max<std::size_t>(1, (s.cold_bytes + bytes_per_copy - 1) / std::max<std::size_t>(1, bytes_per_copy));
}

// ---------------------------------------------------------------- results

struct result {
    std::size_t rows = 0, cols = 0, batch = 0;
    std::string variant, kind, mode;  // kind: cublas, ref, sqllm
    int bits = 16;
    std::string sparse = "none";  // none, csr, balanced
    std::size_t nnz = 0;
    double weight_bytes = 0, us = 0, gbps = 0, frac_copy = 0;
    double vs_cublas = 0, vs_ref = 0;  // 0: not applicable
    double max_rel_err = 0;            // against the reference design (cuBLAS, sqllm) or fp64 (ref)
    int group = 1;
    std::size_t copies = 1;
};

struct copy_bandwidth {
    std::size_t bytes = 0;
    double us = 0, copy_gbps = 0, read_gbps = 0;
};

copy_bandwidth measure_copy(const settings& s, cudaStream_t stream) {
    copy_bandwidth c;
    c.bytes = s.quick ? (std::size_t{256} << 20) : (std::size_t{1} << 30);
    device_bytes src = device_alloc(c.bytes), dst = device_alloc(c.bytes);
    CK(cudaMemsetAsync(src.get(), 1, c.bytes, stream));
    event a, b;
    std::vector<double> t;
    for (int i = -2; i < s.samples; ++i) {
        CK(cudaEventRecord(a.e, stream));
        CK(cudaMemcpyAsync(dst.get(), src.get(), c.bytes, cudaMemcpyDeviceToDevice, stream));
        CK(cudaEventRecord(b.e, stream));
        CK(cudaEventSynchronize(b.e));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, a.e, b.e));
        if (i >= 0) t.push_back(1e3 * static_cast<double>(ms));
    }
    c.us = median(t);
    c.copy_gbps = 2.0 * static_cast<double>(c.bytes) / (c.us * 1e3);
    c.read_gbps = static_cast<double>(c.bytes) / (c.us * 1e3);
    return c;
}

// ---------------------------------------------------------------- checks

// max |a − b| / max |b|; non-finite values fail outright.
double rel_err(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (!std::isfinite(a[i]) || !std::isfinite(b[i])) fail(what + ": non-finite output at " + std::to_string(i));
        diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
        scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
    }
    return diff / std::max(scale, 1e-30);
}
void require(double err, double tol, const std::string& what) {
    if (!(err <= tol)) {
        std::ostringstream m;
        m << what << ": max |difference| / max |expected| = " << err << " > tolerance " << tol
          << " (the result is wrong; nothing is timed)";
        fail(m.str());
    }
}
constexpr double tol_fp16_out = 5e-3;  // fp16 output rounding (2^-11 relative) with margin
constexpr double tol_fp32 = 1e-4;      // fp32 summation order over ≤ 28672 terms

std::vector<float> download_f32(const float* d, std::size_t n) {
    std::vector<float> h(n);
    CK(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
    return h;
}
std::vector<float> download_f16(const __half* d, std::size_t n) {
    std::vector<std::uint16_t> h(n);
    CK(cudaMemcpy(h.data(), d, n * sizeof(std::uint16_t), cudaMemcpyDeviceToHost));
    std::vector<float> f(n);
    for (std::size_t i = 0; i < n; ++i) f[i] = sqllm::half::from_bits(h[i]).to_float();
    return f;
}

// ---------------------------------------------------------------- weight copies

// One copy of a quantized matrix's device arrays.
struct quant_copy {
    device_bytes words, lut, row_ptr, col, val;
};

template <class Layout, class LutT>
std::vector<quant_copy> make_copies(const shape_data& d, int bits, const std::vector<sqllm::code_t>& codes,
                                    const settings& s, std::size_t& copies_out) {
    const std::vector<std::uint32_t> words =
        sqllm::pack_codes<Layout>(sqllm::matrix_view<const sqllm::code_t>(codes.data(), d.rows, d.cols));
    const std::vector<LutT> lut = lut_of<LutT>(d, bits);
    const std::size_t bytes = words.size() * 4 + lut.size() * sizeof(LutT) + d.sparse.row_ptr.size() * 4 +
                              d.sparse.col.size() * 8;
    copies_out = copies_for(bytes, s);
    std::vector<quant_copy> out(copies_out);
    for (auto& c : out) {
        c.words = upload(words);
        c.lut = upload(lut);
        c.row_ptr = upload(d.sparse.row_ptr);
        c.col = upload(d.sparse.col);
        c.val = upload(d.sparse.val);
    }
    return out;
}

// ---------------------------------------------------------------- one shape

struct bench_context {
    settings s;
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
    copy_bandwidth copy;
    std::vector<result> results;
};

double weight_bytes_quant(const shape_data& d, int bits, std::size_t lut_value_bytes, bool sparse) {
    return static_cast<double>(d.rows) * d.cols * bits / 8.0 +
           static_cast<double>(d.rows) * (std::size_t{1} << bits) * lut_value_bytes +
           (sparse ? 8.0 * static_cast<double>(d.sparse.val.size()) : 0.0);
}

void finish(bench_context& ctx, result r, const timing& t) {
    r.us = t.us;
    r.group = t.group;
    r.copies = t.copies;
    r.gbps = r.weight_bytes / (r.us * 1e3);
    r.frac_copy = r.gbps / ctx.copy.copy_gbps;
    ctx.results.push_back(r);
    std::printf("  %-26s batch %2zu  %10.2f us  %8.1f GB/s  (G=%d, copies=%zu, err %.1e)\n", r.variant.c_str(),
                r.batch, r.us, r.gbps, r.group, r.copies, r.max_rel_err);
    std::fflush(stdout);
}

// fp64 host value of row r, vector b, of the reference design's matrix.
double host_dot(const shape_data& d, const std::vector<sqllm::code_t>& codes, bool sparse, std::size_t r,
                std::size_t b) {
    double acc = 0;
    const float* x = d.x.data() + b * d.cols;
    for (std::size_t c = 0; c < d.cols; ++c)
        acc += static_cast<double>(d.lut16[r * 16 + codes[r * d.cols + c]]) * x[c];
    if (sparse)
        for (std::int32_t i = d.sparse.row_ptr[r]; i < d.sparse.row_ptr[r + 1]; ++i)
            acc += static_cast<double>(d.sparse.val[i]) * x[d.sparse.col[i]];
    return acc;
}

template <int Bits>
void run_bits(bench_context& ctx, const shape_data& d, const std::vector<std::size_t>& batches,
              const device_bytes& x32, const device_bytes& x16, std::vector<std::vector<float>>& ref4_out) {
    const bool want_sparse = Bits >= 3;
    const std::vector<sqllm::code_t> codes = codes_of(d, Bits);
    const std::size_t max_b = d.max_batch;
    device_bytes y32 = device_alloc(max_b * d.rows * sizeof(float));
    device_bytes y16 = device_alloc(max_b * d.rows * sizeof(__half));

    // The reference design's copies, then its results for every batch (kept for the checks).
    std::size_t ref_copies = 0;
    std::vector<quant_copy> ref = make_copies<sqllm::reference_layout<Bits>, float>(d, Bits, codes, ctx.s, ref_copies);
    auto ref_ops = [&](std::size_t i, bool sparse) {
        sqllm_bench::refdesign::operands<Bits> op;
        op.words = as<const std::uint32_t>(ref[i].words);
        op.lut = as<const float>(ref[i].lut);
        op.rows = static_cast<int>(d.rows);
        op.cols = static_cast<int>(d.cols);
        if (sparse) {
            op.row_ptr = as<const std::int32_t>(ref[i].row_ptr);
            op.col = as<const std::int32_t>(ref[i].col);
            op.val = as<const float>(ref[i].val);
        }
        return op;
    };
    // expected[sparse][batch index]
    std::vector<std::vector<float>> expected[2];
    const std::size_t sample_rows[] = {0, 1, 127, 128, d.rows / 3, d.rows / 2 + 5, d.rows - 129, d.rows - 1};
    for (int sp = 0; sp < (want_sparse ? 2 : 1); ++sp) {
        for (std::size_t bi = 0; bi < batches.size(); ++bi) {
            const std::size_t batch = batches[bi];
            CK(sqllm_bench::refdesign::gemm<Bits>(ref_ops(0, sp != 0), as<const float>(x32), d.cols,
                                                 as<float>(y32), d.rows, static_cast<int>(batch), ctx.stream));
            CK(cudaStreamSynchronize(ctx.stream));
            std::vector<float> y = download_f32(as<const float>(y32), batch * d.rows);
            std::vector<float> got, want;
            for (std::size_t b = 0; b < batch; ++b)
                for (std::size_t r : sample_rows) {
                    got.push_back(y[b * d.rows + r]);
                    want.push_back(static_cast<float>(host_dot(d, codes, sp != 0, r, b)));
                }
            require(rel_err(got, want, "ref-design"), tol_fp32,
                    "reference design " + std::to_string(Bits) + "-bit" + (sp ? "+csr" : "") + " against fp64 (" +
                        std::to_string(d.rows) + "x" + std::to_string(d.cols) + ", batch " +
                        std::to_string(batch) + ")");
            expected[sp].push_back(std::move(y));
        }
    }
    if (Bits == 4) ref4_out = expected[0];  // cuBLAS is checked against the 4-bit dense product

    // Time the reference design.
    for (int sp = 0; sp < (want_sparse ? 2 : 1); ++sp)
        for (std::size_t batch : batches) {
            result r;
            r.rows = d.rows;
            r.cols = d.cols;
            r.batch = batch;
            r.kind = "ref";
            r.bits = Bits;
            r.sparse = sp ? "csr" : "none";
            r.nnz = sp ? d.sparse.val.size() : 0;
            r.variant = "ref-" + std::to_string(Bits) + (sp ? "+csr" : "");
            r.mode = "atomic";
            r.weight_bytes = weight_bytes_quant(d, Bits, sizeof(float), sp != 0);
            timing t = time_calls(
                [&](std::size_t i) {
                    CK(sqllm_bench::refdesign::gemm<Bits>(ref_ops(i, sp != 0), as<const float>(x32), d.cols,
                                                         as<float>(y32), d.rows, static_cast<int>(batch),
                                                         ctx.stream));
                },
                ref_copies, ctx.s, ctx.stream);
            finish(ctx, r, t);
        }
    ref.clear();

    // sqllm.
    std::size_t q_copies = 0;
    std::vector<quant_copy> q = make_copies<sqllm::gpu_layout<Bits>, sqllm::half>(d, Bits, codes, ctx.s, q_copies);
    using view_t = sqllm::cuda::matrix_view<Bits, sqllm::half>;
    auto view = [&](std::size_t i, int sp) {
        view_t W;
        W.words = as<const std::uint32_t>(q[i].words);
        W.lut = as<const sqllm::half>(q[i].lut);
        W.rows = d.rows;
        W.cols = d.cols;
        if (sp) {
            W.sparse.row_ptr = as<const std::int32_t>(q[i].row_ptr);
            W.sparse.col = as<const std::int32_t>(q[i].col);
            W.sparse.val = as<const float>(q[i].val);
            W.sparse.nnz = d.sparse.val.size();
            W.sparse.balanced = sp == 2;
        }
        return W;
    };
    const char* sparse_name[] = {"none", "csr", "balanced"};
    const char* sparse_suffix[] = {"", "+csr", "+bal"};
    for (int sp = 0; sp < (want_sparse ? 3 : 1); ++sp)
        for (sqllm::cuda::mode m : {sqllm::cuda::mode::fast, sqllm::cuda::mode::deterministic}) {
            const bool det = m == sqllm::cuda::mode::deterministic;
            for (std::size_t bi = 0; bi < batches.size(); ++bi) {
                const std::size_t batch = batches[bi];
                const view_t W0 = view(0, sp);
                const std::size_t ws_bytes = sqllm::cuda::workspace_bytes<Bits, sqllm::half, __half>(W0, batch, m);
                device_bytes ws = device_alloc(ws_bytes);
                auto call = [&](std::size_t i) {
                    sqllm::cuda::gemm(view(i, sp), as<const __half>(x16), d.cols, as<__half>(y16), d.rows, batch, m,
                                      ws.get(), ws_bytes, ctx.stream);
                };
                result r;
                r.rows = d.rows;
                r.cols = d.cols;
                r.batch = batch;
                r.kind = "sqllm";
                r.bits = Bits;
                r.sparse = sparse_name[sp];
                r.nnz = sp ? d.sparse.val.size() : 0;
                r.mode = det ? "deterministic" : "fast";
                r.variant = "sqllm-" + std::to_string(Bits) + sparse_suffix[sp] + (det ? " det" : " fast");
                r.weight_bytes = weight_bytes_quant(d, Bits, sizeof(sqllm::half), sp != 0);
                // Check against the reference design before timing.
                CK(cudaMemsetAsync(y16.get(), 0xff, batch * d.rows * sizeof(__half), ctx.stream));  // NaN fill
                call(0);
                CK(cudaStreamSynchronize(ctx.stream));
                const std::vector<float> got = download_f16(as<const __half>(y16), batch * d.rows);
                r.max_rel_err = rel_err(got, expected[sp != 0][bi], r.variant);
                require(r.max_rel_err, tol_fp16_out,
                        r.variant + " against the reference design (" + std::to_string(d.rows) + "x" +
                            std::to_string(d.cols) + ", batch " + std::to_string(batch) + ")");
                if (det) {  // identical bits on a second run
                    CK(cudaMemsetAsync(y16.get(), 0, batch * d.rows * sizeof(__half), ctx.stream));
                    call(0);
                    CK(cudaStreamSynchronize(ctx.stream));
                    const std::vector<float> again = download_f16(as<const __half>(y16), batch * d.rows);
                    if (std::memcmp(again.data(), got.data(), got.size() * sizeof(float)) != 0)
                        fail(r.variant + ": mode::deterministic gave different bits on a second run (" +
                             std::to_string(d.rows) + "x" + std::to_string(d.cols) + ", batch " +
                             std::to_string(batch) + ")");
                }
                const timing t = time_calls(call, q_copies, ctx.s, ctx.stream);
                CK(cudaStreamSynchronize(ctx.stream));
                finish(ctx, r, t);
            }
        }
}

void run_cublas(bench_context& ctx, const shape_data& d, const std::vector<std::size_t>& batches,
                const device_bytes& x16, const std::vector<std::vector<float>>& ref4) {
    // fp16 weights rows × cols, row-major: the 4-bit matrix's values (fp16-exact).
    std::vector<std::uint16_t> w(d.rows * d.cols);
    {
        const std::vector<std::uint16_t> lut = fp16_bits(d.lut16);
        for (std::size_t r = 0; r < d.rows; ++r)
            for (std::size_t c = 0; c < d.cols; ++c) w[r * d.cols + c] = lut[r * 16 + d.codes4[r * d.cols + c]];
    }
    const std::size_t bytes = w.size() * sizeof(std::uint16_t);
    const std::size_t copies = copies_for(bytes, ctx.s);
    std::vector<device_bytes> wd;
    for (std::size_t i = 0; i < copies; ++i) wd.push_back(upload(w));
    w = {};
    device_bytes y = device_alloc(d.max_batch * d.rows * sizeof(__half));
    CB(cublasSetStream(ctx.blas, ctx.stream));
    const float alpha = 1.0f, beta = 0.0f;
    // Row-major Y (batch × rows) = X (batch × cols) · Wᵀ is, column-major,
    // Yᵀ (rows × batch) = W (cols × rows column-major, transposed) · Xᵀ (cols × batch).
    for (std::size_t bi = 0; bi < batches.size(); ++bi) {
        const std::size_t batch = batches[bi];
        auto call = [&](std::size_t i) {
            CB(cublasGemmEx(ctx.blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(d.rows), static_cast<int>(batch),
                            static_cast<int>(d.cols), &alpha, wd[i].get(), CUDA_R_16F, static_cast<int>(d.cols),
                            x16.get(), CUDA_R_16F, static_cast<int>(d.cols), &beta, y.get(), CUDA_R_16F,
                            static_cast<int>(d.rows), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        };
        result r;
        r.rows = d.rows;
        r.cols = d.cols;
        r.batch = batch;
        r.kind = "cublas";
        r.variant = "cublas-fp16";
        r.mode = "-";
        r.bits = 16;
        r.weight_bytes = static_cast<double>(d.rows) * d.cols * 2.0;
        CK(cudaMemsetAsync(y.get(), 0xff, batch * d.rows * sizeof(__half), ctx.stream));
        call(0);
        CK(cudaStreamSynchronize(ctx.stream));
        r.max_rel_err = rel_err(download_f16(as<const __half>(y), batch * d.rows), ref4[bi], r.variant);
        require(r.max_rel_err, tol_fp16_out,
                "cuBLAS fp16 against the 4-bit reference design (" + std::to_string(d.rows) + "x" +
                    std::to_string(d.cols) + ", batch " + std::to_string(batch) + ")");
        finish(ctx, r, time_calls(call, copies, ctx.s, ctx.stream));
    }
}

void run_shape(bench_context& ctx, std::size_t rows, std::size_t cols, const std::vector<std::size_t>& batches) {
    const std::size_t max_b = *std::max_element(batches.begin(), batches.end());
    std::printf("%zu x %zu: generating data\n", rows, cols);
    std::fflush(stdout);
    const shape_data d = make_shape(rows, cols, max_b, 0.0045);
    std::printf("%zu x %zu: %zu nonzeros (%.3f %%)\n", rows, cols, d.sparse.val.size(),
                100.0 * static_cast<double>(d.sparse.val.size()) / static_cast<double>(rows * cols));
    const device_bytes x32 = upload(d.x);
    const device_bytes x16 = upload(fp16_bits(d.x));
    std::vector<std::vector<float>> ref4, unused;
    run_bits<2>(ctx, d, batches, x32, x16, unused);
    run_bits<3>(ctx, d, batches, x32, x16, unused);
    run_bits<4>(ctx, d, batches, x32, x16, ref4);
    run_cublas(ctx, d, batches, x16, ref4);
}

// ---------------------------------------------------------------- output

void fill_ratios(std::vector<result>& rs) {
    for (result& r : rs) {
        for (const result& o : rs) {
            if (o.rows != r.rows || o.cols != r.cols || o.batch != r.batch) continue;
            if (o.kind == "cublas" && r.kind != "cublas") r.vs_cublas = o.us / r.us;
            if (o.kind == "ref" && r.kind == "sqllm" && o.bits == r.bits && (o.sparse == "none") == (r.sparse == "none"))
                r.vs_ref = o.us / r.us;
        }
    }
}

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string markdown(const bench_context& ctx, const cudaDeviceProp& prop, int l2) {
    std::ostringstream o;
    o << "# sqllm CUDA LUT GEMM (bench_cuda)\n\n";
    o << "Device: " << prop.name << " (sm_" << prop.major << prop.minor << ", " << prop.multiProcessorCount
      << " SMs, L2 " << (l2 >> 20) << " MiB). Cold: weights rotate over ≥ " << (ctx.s.cold_bytes >> 20)
      << " MiB of copies; median of " << ctx.s.samples << " samples" << (ctx.s.quick ? " (quick mode)" : "")
      << ".\n\n";
    o << "Copy yardstick: cudaMemcpyAsync device-to-device of " << (ctx.copy.bytes >> 20) << " MiB: "
      << fmt("%.0f", ctx.copy.copy_gbps) << " GB/s counting read + write (2 × size / time), "
      << fmt("%.0f", ctx.copy.read_gbps) << " GB/s read-equivalent (size / time).\n\n";
    o << "Weight bytes: rows·cols·Bits/8 + LUT + 8 B per nonzero (cuBLAS: rows·cols·2). GB/s = weight bytes / "
         "time; \"% copy\" = that over the read + write copy GB/s. × cuBLAS / × ref = their time / this time "
         "(ref: the reference design with the same Bits, with its CSR launch for sparse variants). sqllm: fp16 "
         "LUT, X, Y; ref: fp32 LUT, X, Y (its time includes the memset of Y); 0.45 % random CSR. err: "
         "max |Δ| / max |y| against the reference design (ref: against fp64 on sampled rows).\n";
    std::size_t rows = 0, cols = 0;
    for (const result& r : ctx.results) {
        if (r.rows != rows || r.cols != cols) {
            rows = r.rows;
            cols = r.cols;
            o << "\n## " << rows << " × " << cols << "\n\n";
            o << "| batch | variant | µs | GB/s | % copy | × cuBLAS | × ref | err |\n";
            o << "|---:|---|---:|---:|---:|---:|---:|---:|\n";
        }
        o << "| " << r.batch << " | " << r.variant << " | " << fmt("%.2f", r.us) << " | " << fmt("%.0f", r.gbps)
          << " | " << fmt("%.0f", 100.0 * r.frac_copy) << " | "
          << (r.vs_cublas > 0 ? fmt("%.2f", r.vs_cublas) : std::string("—")) << " | "
          << (r.vs_ref > 0 ? fmt("%.2f", r.vs_ref) : std::string("—")) << " | " << fmt("%.1e", r.max_rel_err)
          << " |\n";
    }
    return o.str();
}

std::string json(const bench_context& ctx, const cudaDeviceProp& prop, int l2) {
    std::ostringstream o;
    o.precision(6);
    o << "{\n  \"device\": \"" << prop.name << "\", \"sm\": " << prop.major * 10 + prop.minor
      << ", \"sms\": " << prop.multiProcessorCount << ", \"l2_bytes\": " << l2 << ",\n";
    o << "  \"quick\": " << (ctx.s.quick ? "true" : "false") << ", \"samples\": " << ctx.s.samples
      << ", \"cold_bytes\": " << ctx.s.cold_bytes << ",\n";
    o << "  \"copy\": {\"bytes\": " << ctx.copy.bytes << ", \"us\": " << ctx.copy.us
      << ", \"gbps_read_plus_write\": " << ctx.copy.copy_gbps << ", \"gbps_read_equivalent\": " << ctx.copy.read_gbps
      << "},\n  \"results\": [\n";
    for (std::size_t i = 0; i < ctx.results.size(); ++i) {
        const result& r = ctx.results[i];
        o << "    {\"rows\": " << r.rows << ", \"cols\": " << r.cols << ", \"batch\": " << r.batch
          << ", \"variant\": \"" << r.variant << "\", \"kind\": \"" << r.kind << "\", \"bits\": " << r.bits
          << ", \"sparse\": \"" << r.sparse << "\", \"nnz\": " << r.nnz << ", \"mode\": \"" << r.mode
          << "\", \"us\": " << r.us << ", \"weight_bytes\": " << r.weight_bytes << ", \"gbps\": " << r.gbps
          << ", \"frac_copy\": " << r.frac_copy << ", \"vs_cublas\": " << r.vs_cublas << ", \"vs_ref\": " << r.vs_ref
          << ", \"max_rel_err\": " << r.max_rel_err << ", \"group\": " << r.group << ", \"copies\": " << r.copies
          << "}" << (i + 1 < ctx.results.size() ? "," : "") << "\n";
    }
    o << "  ]\n}\n";
    return o.str();
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    f.close();
    if (!f) fail("cannot write " + path);
    std::printf("wrote %s\n", path.c_str());
}

int run(int argc, char** argv) {
    bench_context ctx;
    std::string md_path, json_path;
    if (const char* e = std::getenv("SQLLM_BENCH_CUDA_MD")) md_path = e;
    if (const char* e = std::getenv("SQLLM_BENCH_CUDA_JSON")) json_path = e;
    if (const char* e = std::getenv("SQLLM_BENCH_CUDA_QUICK")) ctx.s.quick = std::strcmp(e, "0") != 0 && *e;
    int samples = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) fail(a + " needs a value");
            return argv[++i];
        };
        if (a == "--quick") ctx.s.quick = true;
        else if (a == "--md") md_path = value();
        else if (a == "--json") json_path = value();
        else if (a == "--samples") samples = std::atoi(value().c_str());
        else if (a == "-h" || a == "--help") {
            std::printf("usage: bench_cuda [--quick] [--md PATH] [--json PATH] [--samples N (>= 15; quick: 5)]\n");
            return 0;
        } else
            fail("unknown argument " + a + " (--help)");
    }
    ctx.s.samples = ctx.s.quick ? 5 : 15;
    if (samples > 0) ctx.s.samples = ctx.s.quick ? samples : std::max(samples, 15);

    int dev = 0, l2 = 0;
    CK(cudaGetDevice(&dev));
    cudaDeviceProp prop{};
    CK(cudaGetDeviceProperties(&prop, dev));
    CK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    ctx.s.cold_bytes = std::max<std::size_t>(4 * static_cast<std::size_t>(l2), std::size_t{256} << 20);
    std::printf("device %s (sm_%d%d, %d SMs, L2 %d MiB); cold set >= %zu MiB; %d samples%s\n", prop.name, prop.major,
                prop.minor, prop.multiProcessorCount, l2 >> 20, ctx.s.cold_bytes >> 20, ctx.s.samples,
                ctx.s.quick ? " (quick)" : "");
    CK(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking));
    CB(cublasCreate(&ctx.blas));

    ctx.copy = measure_copy(ctx.s, ctx.stream);
    std::printf("copy: %zu MiB in %.1f us: %.0f GB/s read+write, %.0f GB/s read-equivalent\n", ctx.copy.bytes >> 20,
                ctx.copy.us, ctx.copy.copy_gbps, ctx.copy.read_gbps);

    struct shape {
        std::size_t rows, cols;
    };
    std::vector<shape> shapes = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {8192, 28672}};
    std::vector<std::size_t> batches = {1, 8, 32};
    if (ctx.s.quick) {
        shapes = {{4096, 4096}};
        batches = {1, 8};
    }
    for (const shape& sh : shapes) run_shape(ctx, sh.rows, sh.cols, batches);
    fill_ratios(ctx.results);

    const std::string md = markdown(ctx, prop, l2);
    std::printf("\n%s", md.c_str());
    if (!md_path.empty()) write_file(md_path, md);
    if (!json_path.empty()) write_file(json_path, json(ctx, prop, l2));
    CB(cublasDestroy(ctx.blas));
    CK(cudaStreamDestroy(ctx.stream));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_cuda: %s\n", e.what());
        return 1;
    }
}
