// checkpoint.hpp — a llama2.c model from a safetensors checkpoint, as written
// by sqllm-quantize (or rewritten by sqllm-convert --layout striped):
// quantized linear layers run sqllm's LUT kernels (reference-layout codes
// repacked once into sqllm::default_layout, the CPU kernels' striped layout;
// striped-layout codes used in place in the mapped file), every other
// tensor (embedding, norms, any linear left unquantized) stays fp32.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <sqllm/error.hpp>
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors.hpp>

#include "hf_checkpoint.hpp"
#include "linear.hpp"
#include "llama2c_metadata.hpp"
#include "model.hpp"
#include "quantized_linear.hpp"

namespace llama2c {

/// Loads a model from a safetensors checkpoint carrying the llama2c.* config
/// metadata (sqllm-quantize writes it when its input is a llama2.c .bin).
/// Each linear weight is either quantized (<name>.qweight or
/// <name>.striped_codes, ...) or a plain float tensor <name>. Throws
/// sqllm::error for a missing or inconsistent tensor and for tensors the
/// model does not use (a misnamed layer would otherwise be ignored
/// silently); padding tensors (sqllm::io::is_padding_tensor) are not model
/// tensors. The file stays mapped while a layer views it in place.
inline model load_checkpoint(const std::string& path) {
    const auto owner = std::make_shared<const sqllm::io::safetensors_file>(path);
    const sqllm::io::safetensors_file& file = *owner;
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
                return load_quantized_linear(file, q, owner);
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
        if (!sqllm::io::is_padding_tensor(t.name) && std::find(used.begin(), used.end(), t.name) == used.end())
            throw sqllm::error(sqllm::errc::corrupt_data,
                               path + ": tensor \"" + t.name + "\" is not part of the model");
    validate(m);
    return m;
}

/// Whether load_model reads `path` as a Hugging Face model: a directory, an
/// `.index.json`, or a `.safetensors` file with HF tensor names (has_hf_names).
inline bool is_hf_model(const std::string& path) {
    const auto ends_with = [&path](const std::string& suffix) {
        return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec) || ends_with(".index.json")) return true;
    return ends_with(".safetensors") && has_hf_names(sqllm::io::safetensors_file(path));
}

/// Loads a model from `path`: `.bin` — an fp32 llama2.c checkpoint
/// (load_bin); a directory or a `.index.json` — a Hugging Face model
/// (load_hf); `.safetensors` — an HF-layout file (tensor names starting
/// "model." or "lm_head.", config.json beside it: load_hf), else a llama2.c
/// checkpoint as sqllm-quantize writes it (load_checkpoint). The one place
/// formats are dispatched. Throws sqllm::error (errc::invalid_argument for
/// an unknown format).
inline model load_model(const std::string& path) {
    const auto ends_with = [&path](const std::string& suffix) {
        return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with(".bin")) return load_bin(path);
    if (is_hf_model(path)) return load_hf(path);
    if (ends_with(".safetensors")) return load_checkpoint(path);
    throw sqllm::error(sqllm::errc::invalid_argument,
                       path + ": unknown model format (expected a llama2.c .bin, a .safetensors checkpoint, or a "
                              "Hugging Face model directory)");
}

}  // namespace llama2c
