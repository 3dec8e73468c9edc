// quantized_linear.hpp — a linear layer of the llama2c example whose weights
// are a quantized layer of a safetensors checkpoint (sqllm::io::
// find_quantized_layers): a reference-layout layer (<name>.qweight) has its
// codes repacked once into sqllm::default_layout, the CPU kernels' striped
// layout; a striped-layout layer (<name>.striped_codes, sqllm-convert
// --layout striped) with an F32 LUT is used in place in the mapped file
// (sqllm::io::view_quantized: no copy), other striped layers are loaded.
// Both run the same kernels on the same codes, so they compute the same.
// set_int8 switches a layer to sqllm's approximate int8 path (gemv_int8,
// gemm_int8; docs/DESIGN.md §7.2) on the same codes: llama2c --int8.
//
// The kernels and loaders of all eight code widths are compiled once, in
// quantized_linear.cpp (CMake target llama2c_layers, linked by the example
// and its tests): every unit that included them used to instantiate them
// all, which made the example's units the costliest of the build.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <sqllm/error.hpp>
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors.hpp>
#include <sqllm/matrix/quantized_matrix.hpp>
#include <sqllm/sparse/csr.hpp>

#include "linear.hpp"

namespace llama2c {

/// A linear layer stored as Bits-bit codes into per-row fp32 LUTs plus the
/// reference's CSR sparse part; gemv/gemm run sqllm's kernels on the packed
/// codes (AVX-512/AVX2 where the CPU has them). The arrays are either owned
/// (a loaded matrix) or a view into a mapped checkpoint kept alive by the
/// layer (in_place()).
template <int Bits>
class quantized_linear final : public linear {
public:
    /// Layout: sqllm::default_layout<Bits> (striped), what load_quantized repacks into.
    using matrix = sqllm::quantized_matrix<Bits, float, sqllm::csr<float, std::int32_t>>;
    /// The same layout: what io::view_quantized gives for a striped-layout layer.
    using view_type = typename matrix::view_type;

    explicit quantized_linear(matrix m) : m_(std::move(m)), v_(m_.view()) {}
    /// Views `v`'s arrays where they are; `keep` owns them (the mapped file)
    /// and lives as long as this layer.
    quantized_linear(view_type v, std::shared_ptr<const void> keep) : v_(v), keep_(std::move(keep)) {}
    quantized_linear(const quantized_linear&) = delete;  // v_ may point into m_
    quantized_linear& operator=(const quantized_linear&) = delete;

    std::size_t rows() const override { return v_.rows(); }
    std::size_t cols() const override { return v_.cols(); }
    void gemv(const float* x, float* y) const override;  // quantized_linear.cpp
    void gemm(const float* X, std::size_t n, float* Y) const override;
    /// Runs the approximate int8 path (activations and LUTs in int8,
    /// integer dot products) instead of the exact fp32 kernels, or back.
    void set_int8(bool on) noexcept { int8_ = on; }
    bool int8() const noexcept { return int8_; }
    /// Codes as packed for the kernels (rows padded to the layout's multiple
    /// of 256 columns), LUTs and the CSR arrays: in memory, or in the mapped
    /// file (the same bytes either way).
    std::size_t storage_bytes() const override { return v_.storage_bytes(); }
    std::string describe() const override {
        const std::size_t nnz = v_.nonzeros();
        return std::to_string(Bits) + "-bit LUT" + (nnz ? " + CSR" : "") + (int8_ ? " (int8 path)" : "");
    }
    /// True when the arrays are the checkpoint's own bytes (no copy).
    bool in_place() const noexcept { return keep_ != nullptr; }

private:
    matrix m_;  // empty when in place
    view_type v_;
    std::shared_ptr<const void> keep_;
    bool int8_ = false;
};

extern template class quantized_linear<1>;
extern template class quantized_linear<2>;
extern template class quantized_linear<3>;
extern template class quantized_linear<4>;
extern template class quantized_linear<5>;
extern template class quantized_linear<6>;
extern template class quantized_linear<7>;
extern template class quantized_linear<8>;

/// Switches `l` to the int8 path (or back) if it is a quantized_linear;
/// returns whether it is one.
bool set_int8(linear& l, bool on);

/// Loads one quantized layer of `file` with its code width picked at run
/// time. A striped-layout layer with an F32 LUT is viewed in place when
/// `keep` is given: it must own `file` (or the model holding it), and the
/// layer keeps it alive; any other layer is loaded (copied, or repacked from
/// the reference layout; an F16/BF16 LUT widened to F32, exactly).
std::unique_ptr<linear> load_quantized_linear(const sqllm::io::safetensors_file& file,
                                              const sqllm::io::quantized_layer_info& info,
                                              const std::shared_ptr<const void>& keep = nullptr);

}  // namespace llama2c
