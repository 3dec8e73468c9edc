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
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <sqllm/error.hpp>
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors.hpp>
#include <sqllm/kernels/gemm.hpp>
#include <sqllm/kernels/gemm_int8.hpp>
#include <sqllm/kernels/gemv.hpp>
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
    void gemv(const float* x, float* y) const override {
        const sqllm::span<const float> xs(x, cols());
        const sqllm::span<float> ys(y, rows());
        if (int8_)
            sqllm::gemv_int8(v_, xs, ys);  // workspace allocated per call (cols bytes + scales)
        else
            sqllm::gemv(v_, xs, ys);
    }
    void gemm(const float* X, std::size_t n, float* Y) const override {
        const sqllm::matrix_view<const float> Xv(X, n, cols());
        const sqllm::matrix_view<float> Yv(Y, n, rows());
        if (int8_)
            sqllm::gemm_int8(v_, Xv, Yv);
        else
            sqllm::gemm(v_, Xv, Yv);
    }
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

/// Switches `l` to the int8 path (or back) if it is a quantized_linear;
/// returns whether it is one.
inline bool set_int8(linear& l, bool on) {
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

namespace detail {

template <int Bits>
std::unique_ptr<linear> load_quantized_linear_bits(const sqllm::io::safetensors_file& file,
                                                   const sqllm::io::quantized_layer_info& info,
                                                   const std::shared_ptr<const void>& keep) {
    if (keep && info.layout == sqllm::io::checkpoint_layout::striped && info.lut_type == sqllm::io::dtype::f32)
        return std::make_unique<quantized_linear<Bits>>(sqllm::io::view_quantized<Bits>(file, info), keep);
    return std::make_unique<quantized_linear<Bits>>(sqllm::io::load_quantized<Bits>(file, info));
}

}  // namespace detail

/// Loads one quantized layer of `file` with its code width picked at run
/// time. A striped-layout layer with an F32 LUT is viewed in place when
/// `keep` is given: it must own `file` (or the model holding it), and the
/// layer keeps it alive; any other layer is loaded (copied, or repacked from
/// the reference layout; an F16/BF16 LUT widened to F32, exactly).
inline std::unique_ptr<linear> load_quantized_linear(const sqllm::io::safetensors_file& file,
                                                     const sqllm::io::quantized_layer_info& info,
                                                     const std::shared_ptr<const void>& keep = nullptr) {
    switch (info.bits) {
        case 1: return detail::load_quantized_linear_bits<1>(file, info, keep);
        case 2: return detail::load_quantized_linear_bits<2>(file, info, keep);
        case 3: return detail::load_quantized_linear_bits<3>(file, info, keep);
        case 4: return detail::load_quantized_linear_bits<4>(file, info, keep);
        case 5: return detail::load_quantized_linear_bits<5>(file, info, keep);
        case 6: return detail::load_quantized_linear_bits<6>(file, info, keep);
        case 7: return detail::load_quantized_linear_bits<7>(file, info, keep);
        case 8: return detail::load_quantized_linear_bits<8>(file, info, keep);
        default: break;
    }
    throw sqllm::error(sqllm::errc::corrupt_data,
                       file.path() + ": layer \"" + info.name + "\" has " + std::to_string(info.bits) + "-bit codes");
}

}  // namespace llama2c
