// sqllm::sqllm alone: quantize a small matrix to 4 bits, multiply, compare with fp32.
#include <sqllm/sqllm.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
    const std::size_t rows = 8, cols = 32;
    std::vector<float> w(rows * cols), x(cols), y(rows);
    for (std::size_t i = 0; i < w.size(); ++i)
        w[i] = std::sin(0.37f * static_cast<float>(i));
    for (std::size_t c = 0; c < cols; ++c)
        x[c] = std::cos(0.11f * static_cast<float>(c));
    const auto q = sqllm::quantize<4>(w.data(), rows, cols);
    sqllm::gemv(q.view(), x, y);
    double err = 0, ref = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        double exact = 0;
        for (std::size_t c = 0; c < cols; ++c)
            exact += static_cast<double>(w[r * cols + c]) * x[c];
        err += (y[r] - exact) * (y[r] - exact);
        ref += exact * exact;
    }
    const double rel = std::sqrt(err / ref);
    std::printf("sqllm %s test_package (sqllm::sqllm): relative error %.4f\n", SQLLM_VERSION_STRING, rel);
    return rel < 0.1 ? 0 : 1;
}
