// tests/repro/repro.cpp — quantize() gives the same bytes whatever the
// compiler, its flags and the target.
//
// Quantizes a fixed set of pseudo-random matrices with every LUT method and
// sparse rule, hashes every output byte (LUTs, packed words, CSR arrays) and
// every quantize_report field with FNV-1a 64, and prints one line
//     sqllm-repro-hash <16 hex digits>
// repro_test.sh builds this file with several compilers and flag sets
// (g++/clang++, -O0..-O3, -march=native, -ffp-contract=fast/off,
// SQLLM_NO_DISPATCH, aarch64 under qemu) and requires one hash.
//
// It also checks, in this build, what must hold in every build:
//   - kmeans_exact_1d(t, ...) gives the same bits on every target this CPU
//     runs (target_supported) as the default;
//   - quantize() with a 3-thread executor gives the bytes of the sequential one.
// Exit status 1 if either fails.
//
// Inputs come from a generator written here (xorshift64* and arithmetic on
// its bits: no <random> distributions, no libm), so they are the same bits
// with every standard library.
#include <sqllm/sqllm.hpp>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct fnv1a {
    std::uint64_t h = 0xcbf29ce484222325ull;
    void bytes(const void* p, std::size_t n) {
        const unsigned char* b = static_cast<const unsigned char*>(p);
        for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
    }
    void u64(std::uint64_t v) {  // little-endian bytes, whatever the host's order
        unsigned char b[8];
        for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
        bytes(b, 8);
    }
    void f64(double v) {
        std::uint64_t u;
        std::memcpy(&u, &v, 8);
        u64(u);
    }
    void f32(float v) {
        std::uint32_t u;
        std::memcpy(&u, &v, 4);
        u64(u);
    }
    template <class T>
    void array(const std::vector<T>& v) {  // the length, then each element's value bits
        u64(v.size());
        for (const T& x : v) element(x);
    }
    void element(float x) { f32(x); }
    void element(std::uint32_t x) { u64(x); }
    void element(std::int32_t x) { u64(static_cast<std::uint32_t>(x)); }
    void element(sqllm::half x) { u64(x.bits); }
    void element(sqllm::bfloat16 x) { u64(x.bits); }
};

/// xorshift64*; uniform() in [0, 1) from the top 24 bits (exact in float).
struct generator {
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545f4914f6cdd1dull;
    }
    float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
    // Every operation below is either exact or a lone +, −, × or ÷ (correctly
    // rounded everywhere), never a rounded product added to something: the
    // compiler may fuse those into an FMA (-ffp-contract=fast, GCC's default
    // where the target has FMA), which would change the inputs themselves.

    /// Heavy-tailed, LLM-weight-like values: a symmetric ratio of uniforms.
    /// uniform() − 0.5 and 0.05 + uniform() add exact products (k·2^-24).
    float weight() {
        const float u = uniform() - 0.5f, v = uniform();
        return 0.02f * u / (0.05f + v);
    }
    /// Fisher-like sensitivities over 2^-30..2^9: a 24-bit mantissa times a
    /// random power of two (both products exact).
    float sensitivity() {
        const float mantissa = static_cast<float>((next() >> 40) | 1u) * (1.0f / 16777216.0f);
        const float scale = static_cast<float>(1u << (next() % 16));
        return mantissa * scale * (1.0f / 64.0f);
    }
};

struct matrix {
    std::size_t rows, cols;
    std::vector<float> v;
    sqllm::matrix_view<const float> view() const { return {v.data(), rows, cols}; }
};

matrix weights(std::uint64_t seed, std::size_t rows, std::size_t cols) {
    generator g{seed};
    matrix m{rows, cols, std::vector<float>(rows * cols)};
    for (float& x : m.v) x = g.weight();
    // Some structure the fitters treat specially: a constant row, a row of
    // few distinct values, zeros (zero weights carry no sample weight), ties.
    for (std::size_t c = 0; c < cols; ++c) {
        m.v[0 * cols + c] = 0.0125f;
        m.v[1 * cols + c] = static_cast<float>(static_cast<int>(c % 3) - 1) * 0.01f;
        if (c % 7 == 0) m.v[2 * cols + c] = 0.0f;
        if (c % 5 == 0) m.v[3 * cols + c] = m.v[3 * cols];
    }
    return m;
}

matrix sensitivities(std::uint64_t seed, std::size_t rows, std::size_t cols) {
    generator g{seed};
    matrix m{rows, cols, std::vector<float>(rows * cols)};
    for (float& x : m.v) x = g.sensitivity();
    return m;
}

void hash_report(fnv1a& h, const sqllm::quantize_report& r) {
    h.f64(r.weighted_error);
    h.f64(r.squared_error);
    h.u64(r.sparse.sensitive_kept);
    h.u64(r.sparse.outliers_kept);
    h.f64(r.sparse.sensitivity_threshold);
    h.f64(r.sparse.outlier_threshold);
}

template <class Q>
void hash_matrix(fnv1a& h, const Q& q) {
    h.u64(q.rows());
    h.u64(q.cols());
    h.array(q.lut());
    h.array(q.words());
    if constexpr (sqllm::sparse_format_traits<typename Q::view_type::sparse_format>::stores_entries) {
        h.array(q.sparse().row_ptr);
        h.array(q.sparse().col_idx);
        h.array(q.sparse().values);
    }
}

int failures = 0;

/// Quantizes once sequentially (hashed) and once with 3 threads (must match).
template <int Bits, class Lut, class Sparse, class Layout = sqllm::default_layout<Bits>>
void run(fnv1a& total, const char* name, const matrix& W, sqllm::matrix_view<const float> S,
         const sqllm::quantize_options& opt) {
    sqllm::quantize_report rep, rep3;
    const auto q = sqllm::quantize<Bits, Lut, Sparse, Layout>(W.view(), S, opt, sqllm::sequential_executor{}, &rep);
    const auto q3 = sqllm::quantize<Bits, Lut, Sparse, Layout>(W.view(), S, opt, sqllm::thread_executor(3), &rep3);
    fnv1a h, h3;
    hash_matrix(h, q);
    hash_report(h, rep);
    hash_matrix(h3, q3);
    hash_report(h3, rep3);
    std::printf("  %-44s %016" PRIx64 "  (%zu kept)\n", name, h.h, q.view().nonzeros());
    if (h.h != h3.h) {
        std::printf("FAIL: %s: 3 threads give %016" PRIx64 ", sequential %016" PRIx64 "\n", name, h3.h, h.h);
        ++failures;
    }
    total.u64(h.h);
}

}  // namespace

int main() {
    using namespace sqllm;
    const std::size_t rows = 64, cols = 300;
    const matrix W = weights(1, rows, cols), W2 = weights(2, rows, cols), W3 = weights(3, 48, 520);
    const matrix S = sensitivities(11, rows, cols), S3 = sensitivities(13, 48, 520);
    // Calibration activations for the second-moment sensitivity.
    matrix X{40, cols, std::vector<float>(40 * cols)};
    {
        generator g{21};
        for (float& x : X.v) x = g.uniform() * 2.0f - 1.0f;
    }
    const std::vector<float> s2 = activation_second_moments(X.view());

    std::printf("sqllm %s, ABI namespace %s\n", SQLLM_VERSION_STRING, SQLLM_ABI_STRING);
    fnv1a total;

    {  // the README's setting: exact 3-bit, fp16 LUT, CSR with 0.05 % + 0.40 %
        quantize_options o;
        o.sparse.sensitive_fraction = 0.0005;
        o.sparse.outlier_fraction = 0.004;
        run<3, half, csr<>>(total, "exact 3-bit half csr sensitive+fraction", W, S.view(), o);
        o.sparse.sensitive_fraction = 0.01;
        o.sparse.outlier_fraction = 0.02;
        run<3, half, csr<>>(total, "exact 3-bit half csr 1 % + 2 %", W3, S3.view(), o);
    }
    {  // Lloyd, 4-bit, float LUT
        quantize_options o;
        o.method = lut_method::lloyd;
        run<4, float, no_sparse>(total, "lloyd 4-bit float dense", W, S.view(), o);
        o.sparse.sensitive_fraction = 0.002;
        o.sparse.outlier_fraction = 0.004;
        run<4, float, csr<>>(total, "lloyd 4-bit float csr", W2, S.view(), o);
    }
    {  // uniform with MSE clipping (weighted and unweighted), bf16 LUT
        quantize_options o;
        o.method = lut_method::uniform;
        o.uniform.range = uniform_range::mse;
        run<3, bfloat16, no_sparse>(total, "uniform mse 3-bit bf16", W, S.view(), o);
        run<4, float, no_sparse>(total, "uniform mse 4-bit float, no sensitivity", W2, {}, o);
        o.uniform.range = uniform_range::percentile;
        o.uniform.symmetric = true;
        run<3, half, no_sparse>(total, "uniform percentile symmetric 3-bit", W2, S.view(), o);
    }
    {  // exact 2-bit with the reference's IQR outlier rule
        quantize_options o;
        o.sparse.sensitive_fraction = 0.001;
        o.sparse.outlier_iqr_ratio = 1.5;
        run<2, half, csr<>>(total, "exact 2-bit half csr sensitive+IQR", W2, S.view(), o);
        run<2, float, csr<half>, reference_layout<2>>(total, "exact 2-bit reference layout csr<half>", W, S.view(), o);
    }
    {  // exact with activation second moments, broadcast to every row
        quantize_options o;
        run<3, half, no_sparse>(total, "exact 3-bit second moments", W, broadcast_rows(s2, rows), o);
        o.sparse.outlier_fraction = 0.005;
        run<4, half, balanced_csr<>>(total, "exact 4-bit second moments balanced_csr", W2, broadcast_rows(s2, rows), o);
        run<8, float, no_sparse>(total, "exact 8-bit second moments", W2, broadcast_rows(s2, rows), quantize_options{});
    }

    // kmeans_exact_1d directly, on rows of the matrices and k = 2..256; on
    // every target this CPU runs, bit for bit equal to the default.
    std::vector<target_id> targets;
    for (target_id t : {target_id::scalar, target_id::avx2, target_id::avx512, target_id::neon})
        if (target_supported(t)) targets.push_back(t);
    std::string names;
    for (target_id t : targets) names += std::string(" ") + to_string(t);
    std::printf("kmeans_exact_1d on the targets:%s\n", names.c_str());
    fnv1a hk;
    kmeans_exact_workspace ws;
    const int ks[] = {2, 3, 4, 8, 16, 256};
    for (std::size_t r = 0; r < rows; r += 3) {
        const int k = ks[r / 3 % 6];
        const float* w = W.v.data() + r * cols;
        const float* s = S.v.data() + r * cols;
        std::vector<float> c(static_cast<std::size_t>(k)), ct(static_cast<std::size_t>(k));
        const double obj = kmeans_exact_1d(w, s, cols, k, c.data(), ws);
        hk.f64(obj);
        for (float x : c) hk.f32(x);
        for (target_id t : targets) {
            const double ot = kmeans_exact_1d(t, w, s, cols, k, ct.data(), ws);
            if (std::memcmp(&ot, &obj, sizeof obj) != 0 || std::memcmp(ct.data(), c.data(), c.size() * 4) != 0) {
                std::printf("FAIL: kmeans_exact_1d row %zu k %d: target %s differs from the default\n", r, k,
                            to_string(t));
                ++failures;
            }
        }
    }
    std::printf("  %-44s %016" PRIx64 "\n", "kmeans_exact_1d rows, k = 2..256", hk.h);
    total.u64(hk.h);

    std::printf("sqllm-repro-hash %016" PRIx64 "\n", total.h);
    if (failures) std::printf("%d check(s) FAILED\n", failures);
    return failures ? 1 : 0;
}
