// A minimal engine-side program: quantize, multiply, check against fp32.
#include <sqllm/sqllm.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

#ifdef CONSUMER_WITH_IO
#include <sqllm/io/quantized_checkpoint.hpp>

#include <cstdlib>
#include <string>
#include <unistd.h>
#endif
#ifdef CONSUMER_WITH_RUNTIME
#include <sqllm/runtime/model_file.hpp>
#endif

int main() {
    const std::size_t rows = 19, cols = 45;
    std::vector<float> w(rows * cols), x(cols);
    for (std::size_t i = 0; i < w.size(); ++i)
        w[i] = std::sin(0.37f * static_cast<float>(i));
    for (std::size_t c = 0; c < cols; ++c)
        x[c] = std::cos(0.11f * static_cast<float>(c));
    const auto q = sqllm::quantize<4>(w.data(), rows, cols);
    std::vector<float> y(rows);
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
#ifdef CONSUMER_WITH_IO
    {  // sqllm::io: write the layer as a checkpoint and read it back
        const std::string path = "consumer_" + std::to_string(::getpid()) + ".safetensors";
        sqllm::io::safetensors_writer out(path);
        sqllm::io::write_quantized(out, "layer", q.view());
        out.finish();
        const sqllm::io::safetensors_file in(path);
        const auto layers = sqllm::io::find_quantized_layers(in);
        const auto back = sqllm::io::load_quantized<4>(in, layers.at(0));
        std::remove(path.c_str());
        if (sqllm::dequantize<float>(back.view()) != sqllm::dequantize<float>(q.view())) return 1;
        std::printf("sqllm::io round trip: ok\n");
    }
#endif
#ifdef CONSUMER_WITH_RUNTIME
    {  // sqllm::runtime: the layer from a striped-layout file, in place, multiplies as q does
        const std::string path = "consumer_rt_" + std::to_string(::getpid()) + ".safetensors";
        sqllm::io::safetensors_writer out(path);
        sqllm::io::write_quantized(out, "layer", q.view(), sqllm::io::dtype::f32, sqllm::io::checkpoint_layout::striped);
        out.finish();
        const sqllm::linear layer = sqllm::model_file::open(path).load("layer");
        std::remove(path.c_str());
        std::vector<float> y2(rows);
        layer.gemv(x, y2);
        if (!layer.info().zero_copy || y2 != y) return 1;
        std::printf("sqllm::runtime zero-copy layer: ok\n");
    }
#endif
    std::printf("sqllm %s consumer: relative error %.4f at %.2f bits/weight\n", SQLLM_VERSION_STRING, rel,
                q.bits_per_weight());
    return rel < 0.1 ? 0 : 1;
}
