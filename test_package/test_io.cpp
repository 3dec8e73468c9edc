// sqllm::io: a quantized layer written as a safetensors checkpoint and read back bit for bit.
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/sqllm.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
    const std::size_t rows = 8, cols = 32;
    std::vector<float> w(rows * cols);
    for (std::size_t i = 0; i < w.size(); ++i)
        w[i] = std::sin(0.37f * static_cast<float>(i));
    const auto q = sqllm::quantize<3>(w.data(), rows, cols);
    const char* path = "sqllm_test_package.safetensors";
    {
        sqllm::io::safetensors_writer out(path);
        sqllm::io::write_quantized(out, "layer", q.view());
        out.finish();
    }
    const sqllm::io::safetensors_file in(path);
    const auto layers = sqllm::io::find_quantized_layers(in);
    const auto back = sqllm::io::load_quantized<3>(in, layers.at(0));
    std::remove(path);
    const bool same = sqllm::dequantize<float>(back.view()) == sqllm::dequantize<float>(q.view());
    std::printf("sqllm %s test_package (sqllm::io): round trip %s\n", SQLLM_VERSION_STRING, same ? "ok" : "FAILED");
    return same ? 0 : 1;
}
