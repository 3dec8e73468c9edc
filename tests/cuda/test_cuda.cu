// The CUDA kernels (sqllm/cuda/gemm.cuh) against the scalar CPU oracle
// (sqllm::reference::gemm on the same matrix in gpu_layout), on a GPU: every
// Bits (2, 3, 4, 8) × LUT type (fp32, fp16, bf16) × activation type (fp32,
// fp16, bf16), without sparse part, with CSR and with nonzero-balanced CSR,
// with hybrid dense rows, in both modes, on odd shapes and batches 1..13 —
// shapes chosen so that the plans cover one slice, several slices, narrow
// last blocks and columns that are not a multiple of 4. mode::deterministic
// must give identical bits on a second run. Without a CUDA device the
// program prints why and exits 77, which CTest reports as skipped
// (SKIP_RETURN_CODE), never as passed.
//
// The file is compiled once per code width with SQLLM_CUDA_TEST_BITS=B
// (check_bits<B>, 9 type combinations each) and once without, for main:
// units that nvcc compiles in parallel (tests/cuda/CMakeLists.txt).
//
// Tolerance: the GPU and the oracle both accumulate in fp32, in different
// orders, over n = cols + nnz + cols (hybrid) terms; each result is within
// 2·n·2^-24·Σ|terms| of the exact sum, so of each other. fp16/bf16 outputs add
// one rounding of the result (2^-11 / 2^-8 relative).
#include <cuda_runtime.h>

#include <sqllm/cuda/gemm.cuh>
#include <sqllm/kernels/reference.hpp>
#include <sqllm/layout/pack.hpp>
#include <sqllm/matrix/quantized_matrix.hpp>
#include <sqllm/sparse/csr.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace sqllm;

namespace cuda_test {

extern int failures, checks;
template <int Bits>
void check_bits(std::mt19937& rng);

#define CHECK_CUDA(call)                                                                                  \
    do {                                                                                                  \
        const cudaError_t e_ = (call);                                                                    \
        if (e_ != cudaSuccess) {                                                                          \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            std::exit(1);                                                                                 \
        }                                                                                                 \
    } while (0)

template <class T>
struct device_array {
    T* p = nullptr;
    std::size_t n = 0;
    explicit device_array(std::size_t count) : n(count) {
        if (n) CHECK_CUDA(cudaMalloc(&p, n * sizeof(T)));
    }
    template <class U>
    explicit device_array(const std::vector<U>& host) : device_array(host.size()) {
        static_assert(sizeof(U) == sizeof(T), "same representation");
        if (n) CHECK_CUDA(cudaMemcpy(p, host.data(), n * sizeof(T), cudaMemcpyHostToDevice));
    }
    device_array(const device_array&) = delete;
    device_array& operator=(const device_array&) = delete;
    ~device_array() { cudaFree(p); }
    std::vector<T> to_host() const {
        std::vector<T> h(n);
        if (n) CHECK_CUDA(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
        return h;
    }
};

/// Host twins of the activation types: the value the device sees, as float.
template <class Act>
struct host_act;
template <>
struct host_act<float> {
    using type = float;
    static constexpr double out_eps = 0;
    static float round(float v) { return v; }
    static float to_float(float v) { return v; }
    static const char* name() { return "f32"; }
};
template <>
struct host_act<__half> {
    using type = sqllm::half;
    static constexpr double out_eps = 1.0 / 2048;
    static sqllm::half round(float v) { return sqllm::half(v); }
    static float to_float(sqllm::half v) { return v.to_float(); }
    static const char* name() { return "f16"; }
};
template <>
struct host_act<__nv_bfloat16> {
    using type = sqllm::bfloat16;
    static constexpr double out_eps = 1.0 / 256;
    static bfloat16 round(float v) { return bfloat16(v); }
    static float to_float(bfloat16 v) { return v.to_float(); }
    static const char* name() { return "bf16"; }
};

#if defined(SQLLM_CUDA_TEST_BITS)

enum class sparse_kind { none, csr, balanced };
inline const char* name(sparse_kind s) { return s == sparse_kind::none ? "dense" : s == sparse_kind::csr ? "csr" : "balanced"; }

template <int Bits, class Lut, class Act>
void check_case(std::mt19937& rng, std::size_t rows, std::size_t cols, std::size_t batch, sparse_kind sk, bool hybrid) {
    using HA = host_act<Act>;
    using HT = typename HA::type;
    constexpr int K = 1 << Bits;
    std::uniform_int_distribution<int> code(0, K - 1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<code_t> codes(rows * cols);
    for (auto& c : codes) c = static_cast<code_t>(code(rng));
    std::vector<Lut> lut(rows * K);
    for (auto& v : lut) v = lut_value_traits<Lut>::from_float(0.05f * normal(rng));
    csr_storage<float, std::int32_t> S;
    if (sk != sparse_kind::none) {
        std::bernoulli_distribution keep(0.01);
        for (std::size_t r = 0; r < rows; ++r) {
            const bool heavy = r == 1;  // one skewed row: what the balanced schedule is for
            for (std::size_t c = 0; c < cols; ++c)
                if (heavy ? c % 3 == 0 : keep(rng)) S.push_back(c, 0.5f * normal(rng));
            S.end_row();
        }
    }
    const std::vector<std::uint32_t> packed = pack_codes<gpu_layout<Bits>>({codes.data(), rows, cols});
    const quantized_matrix<Bits, Lut, csr<>, gpu_layout<Bits>> W(rows, cols, lut, packed, S);

    std::vector<HT> Xh(batch * cols);
    std::vector<float> Xf(batch * cols);
    for (std::size_t i = 0; i < Xh.size(); ++i) {
        Xh[i] = HA::round(normal(rng));
        Xf[i] = HA::to_float(Xh[i]);
    }
    // The hybrid rows: 3 distinct rows (when there are that many), values cols × count.
    const std::size_t count = hybrid ? std::min<std::size_t>(3, rows) : 0;
    std::vector<std::int32_t> hidx;
    for (std::size_t t = 0; t < count; ++t) hidx.push_back(static_cast<std::int32_t>((t * 7 + 2) % rows));
    std::vector<float> hval(cols * count);
    for (auto& v : hval) v = 0.01f * normal(rng);

    // The oracle, and each output's error bound.
    std::vector<float> want(batch * rows);
    reference::gemm(W.view(), matrix_view<const float>(Xf.data(), batch, cols),
                    matrix_view<float>(want.data(), batch, rows));
    std::vector<double> mag(batch * rows, 0.0), exact_hybrid(batch * rows, 0.0);
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t r = 0; r < rows; ++r) {
            double m = 0;
            for (std::size_t c = 0; c < cols; ++c)
                m += std::fabs(lut_value_traits<Lut>::to_float(lut[r * K + codes[r * cols + c]]) * Xf[b * cols + c]);
            if (!S.row_ptr.empty())
                for (auto e = S.row_ptr[r]; e < S.row_ptr[r + 1]; ++e)
                    m += std::fabs(S.values[e] * Xf[b * cols + S.col_idx[e]]);
            mag[b * rows + r] = m;
        }
    for (std::size_t t = 0; t < count; ++t)
        for (std::size_t b = 0; b < batch; ++b) {
            double s = 0, m = 0;
            for (std::size_t c = 0; c < cols; ++c) {
                s += static_cast<double>(hval[c * count + t]) * Xf[b * cols + c];
                m += std::fabs(static_cast<double>(hval[c * count + t]) * Xf[b * cols + c]);
            }
            exact_hybrid[b * rows + hidx[t]] += s;
            mag[b * rows + hidx[t]] += m;
        }
    const std::size_t terms = cols + S.col_idx.size() + (hybrid ? cols : 0);

    device_array<std::uint32_t> d_words(packed);
    device_array<Lut> d_lut(lut);
    device_array<std::int32_t> d_rp(S.row_ptr), d_ci(S.col_idx);
    device_array<float> d_v(S.values);
    device_array<std::int32_t> d_hidx(hidx);
    device_array<float> d_hval(hval);
    device_array<Act> d_X(Xh);
    const std::size_t ldy = rows + 3;  // a strided Y
    device_array<Act> d_Y(batch * ldy);

    cuda::matrix_view<Bits, Lut> V;
    V.words = d_words.p, V.lut = d_lut.p, V.rows = rows, V.cols = cols;
    if (sk != sparse_kind::none) {
        V.sparse.row_ptr = d_rp.p, V.sparse.col = d_ci.p, V.sparse.val = d_v.p, V.sparse.nnz = S.col_idx.size();
        V.sparse.balanced = sk == sparse_kind::balanced;
    }
    if (hybrid) V.hybrid.index = d_hidx.p, V.hybrid.values = d_hval.p, V.hybrid.count = count;

    for (cuda::mode m : {cuda::mode::fast, cuda::mode::deterministic}) {
        const std::size_t ws = cuda::workspace_bytes<Bits, Lut, Act>(V, batch, m);
        device_array<unsigned char> d_ws(ws);
        std::vector<std::vector<HT>> runs;
        for (int run = 0; run < (m == cuda::mode::deterministic ? 2 : 1); ++run) {
            CHECK_CUDA(cudaMemset(d_Y.p, 0xff, d_Y.n * sizeof(Act)));  // garbage the kernels must overwrite
            cuda::gemm(V, d_X.p, cols, d_Y.p, ldy, batch, m, d_ws.p, ws, nullptr);
            CHECK_CUDA(cudaDeviceSynchronize());
            const auto raw = d_Y.to_host();
            std::vector<HT> y(raw.size());
            std::memcpy(static_cast<void*>(y.data()), raw.data(), raw.size() * sizeof(Act));
            runs.push_back(y);
        }
        const auto& y = runs[0];
        int bad = 0;
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t r = 0; r < rows; ++r) {
                const double expect = static_cast<double>(want[b * rows + r]) + exact_hybrid[b * rows + r];
                const double got = HA::to_float(y[b * ldy + r]);
                const double tol =
                    2.0 * static_cast<double>(terms) * std::ldexp(1.0, -24) * mag[b * rows + r] +
                    HA::out_eps * std::fabs(expect) + 1e-30;
                ++checks;
                if (!(std::fabs(got - expect) <= tol) && bad++ < 3) {
                    std::fprintf(stderr,
                                 "FAIL bits %d lut %s act %s %zux%zu batch %zu %s%s mode %s: y(%zu, %zu) = %.9g, "
                                 "oracle %.9g, tolerance %.3g\n",
                                 Bits, lut_value_traits<Lut>::name, HA::name(), rows, cols, batch, name(sk),
                                 hybrid ? "+hybrid" : "", m == cuda::mode::fast ? "fast" : "deterministic", b, r, got,
                                 expect, tol);
                }
            }
        if (m == cuda::mode::deterministic &&
            std::memcmp(runs[0].data(), runs[1].data(), runs[0].size() * sizeof(HT)) != 0) {
            ++bad;
            std::fprintf(stderr, "FAIL bits %d %zux%zu batch %zu: deterministic mode differs between runs\n", Bits,
                         rows, cols, batch);
        }
        failures += bad != 0;
    }
}

template <int Bits, class Lut, class Act>
void check_types(std::mt19937& rng) {
    struct shape {
        std::size_t rows, cols;
    };
    // One slice (many rows); several slices (few rows, 5+ blocks); narrow
    // last blocks (1280 = 1024 + 256); cols not a multiple of 4 or of 256.
    const shape shapes[] = {{37, 1281}, {5, 5000}, {301, 515}, {2, 33}, {1, 1}};
    const std::size_t batches[] = {1, 2, 3, 8, 13};
    int i = 0;
    for (const shape& s : shapes)
        for (std::size_t batch : batches)
            for (sparse_kind sk : {sparse_kind::none, sparse_kind::csr, sparse_kind::balanced})
                check_case<Bits, Lut, Act>(rng, s.rows, s.cols, batch, sk, (i++ % 4) == 0);
}

template <int Bits, class Lut>
void check_acts(std::mt19937& rng) {
    check_types<Bits, Lut, float>(rng);
    check_types<Bits, Lut, __half>(rng);
    check_types<Bits, Lut, __nv_bfloat16>(rng);
}

template <int Bits>
void check_bits(std::mt19937& rng) {  // declared above, instantiated below
    check_acts<Bits, float>(rng);
    check_acts<Bits, sqllm::half>(rng);
    check_acts<Bits, bfloat16>(rng);
}

template void check_bits<SQLLM_CUDA_TEST_BITS>(std::mt19937&);

}  // namespace cuda_test

#else

template <class F>
void expect_error(errc code, const char* what, F&& f) {
    ++checks;
    try {
        f();
    } catch (const error& e) {
        if (e.code() == code) return;
        std::fprintf(stderr, "FAIL %s: wrong error: %s\n", what, e.what());
        ++failures;
        return;
    }
    std::fprintf(stderr, "FAIL %s: no error\n", what);
    ++failures;
}

void check_errors() {
    device_array<std::uint32_t> words(gpu_layout<3>::word_count(8, 300));
    device_array<float> lut(8 * 8), x(4 * 300), y(4 * 8);
    cuda::matrix_view<3, float> V;
    V.words = words.p, V.lut = lut.p, V.rows = 8, V.cols = 300;
    using cuda::mode;
    expect_error(errc::invalid_argument, "batch 0", [&] { cuda::gemm(V, x.p, 300, y.p, 8, 0, mode::fast, nullptr, 0, nullptr); });
    expect_error(errc::invalid_argument, "batch 65", [&] { cuda::gemm(V, x.p, 300, y.p, 8, 65, mode::fast, nullptr, 0, nullptr); });
    expect_error(errc::shape_mismatch, "ldx < cols", [&] { cuda::gemm(V, x.p, 299, y.p, 8, 1, mode::fast, nullptr, 0, nullptr); });
    expect_error(errc::shape_mismatch, "ldy < rows", [&] { cuda::gemm(V, x.p, 300, y.p, 7, 1, mode::fast, nullptr, 0, nullptr); });
    expect_error(errc::invalid_argument, "null X", [&] {
        cuda::gemm(V, static_cast<const float*>(nullptr), 300, y.p, 8, 1, mode::fast, nullptr, 0, nullptr);
    });
    auto U = V;
    U.lut = nullptr;
    expect_error(errc::invalid_argument, "null LUT", [&] { cuda::gemm(U, x.p, 300, y.p, 8, 1, mode::fast, nullptr, 0, nullptr); });
    U = V;
    U.sparse.row_ptr = reinterpret_cast<const std::int32_t*>(words.p), U.sparse.nnz = 5;
    expect_error(errc::invalid_argument, "sparse without arrays",
                 [&] { cuda::gemm(U, x.p, 300, y.p, 8, 1, mode::fast, nullptr, 0, nullptr); });
    // A workspace that is needed and missing: few rows, many columns, deterministic.
    cuda::matrix_view<3, float> Wide = V;
    Wide.rows = 1, Wide.cols = 1 << 16;
    device_array<std::uint32_t> wide_words(gpu_layout<3>::word_count(1, 1 << 16));
    device_array<float> wide_x(1 << 16);
    Wide.words = wide_words.p;
    if (cuda::workspace_bytes<3, float, float>(Wide, 1, mode::deterministic) != 0)
        expect_error(errc::invalid_argument, "missing workspace", [&] {
            cuda::gemm(Wide, wide_x.p, 1 << 16, y.p, 1, 1, mode::deterministic, nullptr, 0, nullptr);
        });
}

int failures = 0, checks = 0;

}  // namespace cuda_test

int main() {
    using namespace cuda_test;
    int devices = 0;
    const cudaError_t e = cudaGetDeviceCount(&devices);
    if (e != cudaSuccess || devices == 0) {
        std::printf("SKIPPED: no CUDA device (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 77;
    }
    cudaDeviceProp prop{};
    CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
    std::printf("device: %s, %d SMs, sm_%d%d\n", prop.name, prop.multiProcessorCount, prop.major, prop.minor);
    std::mt19937 rng(2024);
    check_errors();
    check_bits<2>(rng);
    check_bits<3>(rng);
    check_bits<4>(rng);
    check_bits<8>(rng);
    std::printf("%d checks, %d failed cases\n", checks, failures);
    return failures == 0 ? 0 : 1;
}

#endif
