// quickstart — quantize an LLM-like weight matrix with sqllm, multiply from the
// packed form, and compare with fp32: error and bits per weight.
//
// The matrix is synthetic but shaped like a transformer projection: Laplacian
// weights with rare large outliers, and input channels whose activation scales
// differ by orders of magnitude. The sensitivity is the forward-only one,
// S[r][c] = E[x_c²], so the LUTs spend precision where activations are large.
#include <sqllm/sqllm.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

struct result {
    double output_error;  // ‖y − y_fp32‖ / ‖y_fp32‖ over a batch of activations
    double bits_per_weight;
    double seconds;
};

template <int Bits, class Sparse>
result run(const std::vector<float>& W, const std::vector<float>& S, std::size_t rows, std::size_t cols,
           const std::vector<float>& X, std::size_t batch, const std::vector<float>& Y_ref,
           const sqllm::quantize_options& opt) {
    const sqllm::thread_executor threads;  // one std::thread per core, only during the call
    const auto t0 = std::chrono::steady_clock::now();
    const auto q =
        sqllm::quantize<Bits, sqllm::half, Sparse>({W.data(), rows, cols}, {S.data(), rows, cols}, opt, threads);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<float> Y(batch * rows);
    sqllm::gemm(q.view(), {X.data(), batch, cols}, {Y.data(), batch, rows}, threads);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < Y.size(); ++i) {
        num += (Y[i] - Y_ref[i]) * (Y[i] - Y_ref[i]);
        den += Y_ref[i] * Y_ref[i];
    }
    return {std::sqrt(num / den), q.bits_per_weight(), secs};
}

}  // namespace

int main() {
    const std::size_t rows = 1024, cols = 1024, batch = 16;
    std::mt19937_64 rng(42);
    std::exponential_distribution<float> laplace(40.0f);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    std::lognormal_distribution<float> channel_scale(0.0f, 1.0f);
    std::normal_distribution<float> normal;

    std::vector<float> W(rows * cols), scale(cols), S(rows * cols), X(batch * cols);
    for (auto& w : W) {
        w = (unit(rng) < 0.5f ? -1.0f : 1.0f) * laplace(rng);
        if (unit(rng) < 0.002f) w *= 10.0f;
    }
    for (auto& s : scale)
        s = channel_scale(rng);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c)
            S[r * cols + c] = scale[c] * scale[c];
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t c = 0; c < cols; ++c)
            X[b * cols + c] = scale[c] * normal(rng);

    // fp32 reference: Y = W·X in double, rounded to float.
    std::vector<float> Y_ref(batch * rows);
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t r = 0; r < rows; ++r) {
            double acc = 0;
            for (std::size_t c = 0; c < cols; ++c)
                acc += static_cast<double>(W[r * cols + c]) * X[b * cols + c];
            Y_ref[b * rows + r] = static_cast<float>(acc);
        }

    sqllm::quantize_options rtn, dense, sparse;
    rtn.method = sqllm::lut_method::uniform;
    sparse.sparse.sensitive_fraction = 0.0005;  // the paper's 0.05 % sensitive + 0.40 % outliers
    sparse.sparse.outlier_fraction = 0.004;

    std::printf("sqllm %s quickstart: %zu x %zu matrix, fp16 LUTs, batch of %zu activations\n", SQLLM_VERSION_STRING,
                rows, cols, batch);
    std::printf("fp32 weights: 32.00 bits/weight, output error 0\n\n");
    std::printf("%-34s %12s %14s %10s\n", "method", "bits/weight", "output error", "quantize");
    auto row = [](const char* name, const result& r) {
        std::printf("%-34s %12.3f %13.4f%% %9.2fs\n", name, r.bits_per_weight, 100 * r.output_error, r.seconds);
    };
    row("4-bit RTN (uniform min-max)", run<4, sqllm::no_sparse>(W, S, rows, cols, X, batch, Y_ref, rtn));
    row("4-bit sqllm, dense-only", run<4, sqllm::no_sparse>(W, S, rows, cols, X, batch, Y_ref, dense));
    row("4-bit sqllm, 0.45% sparse", run<4, sqllm::csr<>>(W, S, rows, cols, X, batch, Y_ref, sparse));
    row("3-bit RTN (uniform min-max)", run<3, sqllm::no_sparse>(W, S, rows, cols, X, batch, Y_ref, rtn));
    row("3-bit sqllm, dense-only", run<3, sqllm::no_sparse>(W, S, rows, cols, X, batch, Y_ref, dense));
    row("3-bit sqllm, 0.45% sparse", run<3, sqllm::csr<>>(W, S, rows, cols, X, batch, Y_ref, sparse));
    return 0;
}
