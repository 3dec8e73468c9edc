// quantized_linear.cpp — the kernels and loaders of quantized_linear.hpp's
// layers, for every code width, compiled once (CMake target llama2c_layers).
#include "quantized_linear.hpp"

#include <sqllm/kernels/gemm.hpp>
#include <sqllm/kernels/gemm_int8.hpp>
#include <sqllm/kernels/gemv.hpp>

namespace llama2c {

template <int Bits>
void quantized_linear<Bits>::gemv(const float* x, float* y) const {
    const sqllm::span<const float> xs(x, cols());
    const sqllm::span<float> ys(y, rows());
    if (int8_)
        sqllm::gemv_int8(v_, xs, ys);  // workspace allocated per call (cols bytes + scales)
    else
        sqllm::gemv(v_, xs, ys);
}

template <int Bits>
void quantized_linear<Bits>::gemm(const float* X, std::size_t n, float* Y) const {
    const sqllm::matrix_view<const float> Xv(X, n, cols());
    const sqllm::matrix_view<float> Yv(Y, n, rows());
    if (int8_)
        sqllm::gemm_int8(v_, Xv, Yv);
    else
        sqllm::gemm(v_, Xv, Yv);
}

template class quantized_linear<1>;
template class quantized_linear<2>;
template class quantized_linear<3>;
template class quantized_linear<4>;
template class quantized_linear<5>;
template class quantized_linear<6>;
template class quantized_linear<7>;
template class quantized_linear<8>;

bool set_int8(linear& l, bool on) {
    bool found = false;
    const auto one = [&](auto* q) {
        if (q) {
            q->set_int8(on);
            found = true;
        }
    };
    one(dynamic_cast<quantized_linear<1>*>(&l));
    one(dynamic_cast<quantized_linear<2>*>(&l));
    one(dynamic_cast<quantized_linear<3>*>(&l));
    one(dynamic_cast<quantized_linear<4>*>(&l));
    one(dynamic_cast<quantized_linear<5>*>(&l));
    one(dynamic_cast<quantized_linear<6>*>(&l));
    one(dynamic_cast<quantized_linear<7>*>(&l));
    one(dynamic_cast<quantized_linear<8>*>(&l));
    return found;
}

namespace {

template <int Bits>
std::unique_ptr<linear> load_bits(const sqllm::io::safetensors_file& file, const sqllm::io::quantized_layer_info& info,
                                  const std::shared_ptr<const void>& keep) {
    if (keep && info.layout == sqllm::io::checkpoint_layout::striped && info.lut_type == sqllm::io::dtype::f32)
        return std::make_unique<quantized_linear<Bits>>(sqllm::io::view_quantized<Bits>(file, info), keep);
    return std::make_unique<quantized_linear<Bits>>(sqllm::io::load_quantized<Bits>(file, info));
}

}  // namespace

std::unique_ptr<linear> load_quantized_linear(const sqllm::io::safetensors_file& file,
                                              const sqllm::io::quantized_layer_info& info,
                                              const std::shared_ptr<const void>& keep) {
    switch (info.bits) {
        case 1: return load_bits<1>(file, info, keep);
        case 2: return load_bits<2>(file, info, keep);
        case 3: return load_bits<3>(file, info, keep);
        case 4: return load_bits<4>(file, info, keep);
        case 5: return load_bits<5>(file, info, keep);
        case 6: return load_bits<6>(file, info, keep);
        case 7: return load_bits<7>(file, info, keep);
        case 8: return load_bits<8>(file, info, keep);
        default: break;
    }
    throw sqllm::error(sqllm::errc::corrupt_data,
                       file.path() + ": layer \"" + info.name + "\" has " + std::to_string(info.bits) + "-bit codes");
}

}  // namespace llama2c
