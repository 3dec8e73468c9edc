// checkpoint.hpp — a llama2.c model from a safetensors checkpoint, as written
// by sqllm-quantize: quantized linear layers run sqllm's LUT kernels
// (codes repacked once into sqllm::default_layout, the CPU kernels' striped
// layout), every other tensor (embedding, norms, any linear left unquantized)
// stays fp32.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <sqllm/error.hpp>
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors.hpp>
#include <sqllm/kernels/gemm.hpp>
#include <sqllm/kernels/gemv.hpp>
#include <sqllm/matrix/quantized_matrix.hpp>
#include <sqllm/sparse/csr.hpp>

#include "linear.hpp"
#include "llama2c_metadata.hpp"
#include "model.hpp"

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

/// Loads a model from a safetensors checkpoint carrying the llama2c.* config
/// metadata (sqllm-quantize writes it when its input is a llama2.c .bin).
/// Each linear weight is either quantized (<name>.qweight, ...) or a plain
/// float tensor <name>. Throws sqllm::error for a missing or inconsistent
/// tensor and for tensors the model does not use (a misnamed layer would
/// otherwise be ignored silently).
inline model load_checkpoint(const std::string& path) {
    const sqllm::io::safetensors_file file(path);
    const auto quantized = sqllm::io::find_quantized_layers(file);
    model m;
    m.config = llama2c_config_from_metadata(file.metadata(), path);
    std::vector<std::string> used;

    const auto floats = [&](const std::string& name, const std::vector<std::size_t>& shape) {
        const sqllm::io::tensor_info& t = file.at(name);
        if (t.shape != shape)
            throw sqllm::error(sqllm::errc::shape_mismatch, path + ": \"" + name + "\" is " + t.describe());
        used.push_back(name);
        return file.to_float(t);
    };
    const auto linear_named = [&](const std::string& name, std::size_t rows, std::size_t cols) -> std::unique_ptr<linear> {
        for (const auto& q : quantized)
            if (q.name == name) {
                for (const std::string& s : sqllm::io::quantized_suffixes())
                    used.push_back(name + s);
                return load_quantized_linear(file, q);
            }
        return std::make_unique<dense_linear>(rows, cols, floats(name, {rows, cols}));
    };

    using sz = std::size_t;
    const auto& c = m.config;
    const sz dim = sz(c.dim), hidden = sz(c.hidden_dim), kv = sz(c.kv_dim()), vocab = sz(c.vocab_size);
    m.tok_embeddings = floats("tok_embeddings", {vocab, dim});
    m.rms_final = floats("rms_final", {dim});
    m.classifier = c.shared_classifier ? std::make_unique<dense_linear>(vocab, dim, m.tok_embeddings)
                                       : linear_named("output", vocab, dim);
    m.layers.resize(sz(c.n_layers));
    for (sz l = 0; l < m.layers.size(); ++l) {
        layer& L = m.layers[l];
        const std::string p = "layers." + std::to_string(l) + ".";
        L.rms_att = floats(p + "rms_att", {dim});
        L.rms_ffn = floats(p + "rms_ffn", {dim});
        L.wq = linear_named(p + "wq", dim, dim);
        L.wk = linear_named(p + "wk", kv, dim);
        L.wv = linear_named(p + "wv", kv, dim);
        L.wo = linear_named(p + "wo", dim, dim);
        L.w1 = linear_named(p + "w1", hidden, dim);
        L.w2 = linear_named(p + "w2", dim, hidden);
        L.w3 = linear_named(p + "w3", hidden, dim);
    }
    for (const auto& t : file.tensors())
        if (std::find(used.begin(), used.end(), t.name) == used.end())
            throw sqllm::error(sqllm::errc::corrupt_data,
                               path + ": tensor \"" + t.name + "\" is not part of the model");
    validate(m);
    return m;
}

/// Loads a model from `path`, by its extension: `.bin` — an fp32 llama2.c
/// checkpoint (load_bin); `.safetensors` — a checkpoint as sqllm-quantize
/// writes it (load_checkpoint). The one place formats are dispatched.
/// Throws sqllm::error (errc::invalid_argument for an unknown extension).
inline model load_model(const std::string& path) {
    const auto ends_with = [&path](const std::string& suffix) {
        return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with(".bin")) return load_bin(path);
    if (ends_with(".safetensors")) return load_checkpoint(path);
    throw sqllm::error(sqllm::errc::invalid_argument,
                       path + ": unknown model format (expected a llama2.c .bin or a .safetensors checkpoint)");
}

}  // namespace llama2c
