// quantized_linear.hpp — a linear layer of the llama2c example whose weights
// are a quantized layer of a safetensors checkpoint (SqueezeLLM reference
// names and layout, sqllm::io::find_quantized_layers): codes repacked once
// into sqllm::default_layout, the CPU kernels' striped layout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <sqllm/error.hpp>
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors.hpp>
#include <sqllm/kernels/gemm.hpp>
#include <sqllm/kernels/gemv.hpp>
#include <sqllm/matrix/quantized_matrix.hpp>
#include <sqllm/sparse/csr.hpp>

#include "linear.hpp"

namespace llama2c {

/// A linear layer stored as Bits-bit codes into per-row fp32 LUTs plus the
/// reference's CSR sparse part; gemv/gemm run sqllm's kernels on the packed
/// codes (AVX-512/AVX2 where the CPU has them).
template <int Bits>
class quantized_linear final : public linear {
public:
    /// Layout: sqllm::default_layout<Bits> (striped), what load_quantized repacks into.
    using matrix = sqllm::quantized_matrix<Bits, float, sqllm::csr<float, std::int32_t>>;

    explicit quantized_linear(matrix m) : m_(std::move(m)) {}

    std::size_t rows() const override { return m_.rows(); }
    std::size_t cols() const override { return m_.cols(); }
    void gemv(const float* x, float* y) const override {
        sqllm::gemv(m_.view(), sqllm::span<const float>(x, cols()), sqllm::span<float>(y, rows()));
    }
    void gemm(const float* X, std::size_t n, float* Y) const override {
        sqllm::gemm(m_.view(), sqllm::matrix_view<const float>(X, n, cols()), sqllm::matrix_view<float>(Y, n, rows()));
    }
    /// In memory: codes as packed for the kernels (rows padded to the layout's
    /// multiple of 256 columns), LUTs and the CSR arrays.
    std::size_t storage_bytes() const override { return m_.storage_bytes(); }
    std::string describe() const override {
        const std::size_t nnz = m_.view().nonzeros();
        return std::to_string(Bits) + "-bit LUT" + (nnz ? " + CSR" : "");
    }

private:
    matrix m_;
};

/// Loads one quantized layer of `file` with its code width picked at run time.
inline std::unique_ptr<linear> load_quantized_linear(const sqllm::io::safetensors_file& file,
                                                     const sqllm::io::quantized_layer_info& info) {
    using sqllm::io::load_quantized;
    switch (info.bits) {
        case 1: return std::make_unique<quantized_linear<1>>(load_quantized<1>(file, info));
        case 2: return std::make_unique<quantized_linear<2>>(load_quantized<2>(file, info));
        case 3: return std::make_unique<quantized_linear<3>>(load_quantized<3>(file, info));
        case 4: return std::make_unique<quantized_linear<4>>(load_quantized<4>(file, info));
        case 5: return std::make_unique<quantized_linear<5>>(load_quantized<5>(file, info));
        case 6: return std::make_unique<quantized_linear<6>>(load_quantized<6>(file, info));
        case 7: return std::make_unique<quantized_linear<7>>(load_quantized<7>(file, info));
        case 8: return std::make_unique<quantized_linear<8>>(load_quantized<8>(file, info));
        default: break;
    }
    throw sqllm::error(sqllm::errc::corrupt_data,
                       file.path() + ": layer \"" + info.name + "\" has " + std::to_string(info.bits) + "-bit codes");
}

}  // namespace llama2c
