// hf_checkpoint.hpp — a model in the Hugging Face LlamaForCausalLM layout:
// a model directory (config.json + model.safetensors, or shards and their
// model.safetensors.index.json), the index itself, or one .safetensors file
// with a config.json beside it. Weights are F32, F16 or BF16 tensors under
// HF names (hf_names.hpp), or quantized layers under their module names as
// sqllm-quantize writes them (`model.layers.0.self_attn.q_proj.qweight`,
// `.lookup_table`, `.rows`, `.cols`, `.vals`, sqllm::io::find_quantized_layers),
// in the reference layout or, after sqllm-convert --layout striped, the
// striped one (`.striped_codes`, viewed in place in the mapped shard; its
// padding tensors are skipped, as sqllm::io::safetensors_model does).
//
// RoPE: HF stores the rows of q_proj and k_proj permuted within each head so
// that it can rotate the halves of a head (rotate_half) instead of adjacent
// pairs (hf_names.hpp). The loader undoes the permutation rather than giving
// the engine a second RoPE: the attention sums q·k over a head's dimensions
// in order, so a permuted order would round differently, while un-permuted
// rows make an HF export compute exactly what the llama2.c model does (the
// tests check the perplexity bit for bit). Dense rows are reordered once at
// load; a quantized layer keeps its rows (a row's codes, LUT and sparse
// entries belong together) and its outputs are put back in order by
// row_permuted_linear, which moves floats and rounds nothing.
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <sqllm/error.hpp>
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors.hpp>
#include <sqllm/io/safetensors_model.hpp>

#include "hf_config.hpp"
#include "hf_names.hpp"
#include "linear.hpp"
#include "model.hpp"
#include "quantized_linear.hpp"

namespace llama2c {

/// A linear layer whose output rows are those of `inner` in HF's RoPE order
/// (hf_rope_row), handed out in llama2.c's: y[r] = inner_y[hf_rope_row(r)].
class row_permuted_linear final : public linear {
public:
    /// `inner`'s rows must be a multiple of head_size (even); throws
    /// errc::shape_mismatch otherwise.
    row_permuted_linear(std::unique_ptr<linear> inner, std::size_t head_size)
        : inner_(std::move(inner)) {
        if (!inner_ || head_size == 0 || head_size % 2 != 0 || inner_->rows() % head_size != 0)
            throw sqllm::error(sqllm::errc::shape_mismatch, "row_permuted_linear: rows are not whole heads of " +
                                                                std::to_string(head_size));
        from_.resize(inner_->rows());
        for (std::size_t r = 0; r < from_.size(); ++r)
            from_[r] = hf_rope_row(r, head_size);
    }
    std::size_t rows() const override { return inner_->rows(); }
    std::size_t cols() const override { return inner_->cols(); }
    void gemv(const float* x, float* y) const override {
        std::vector<float> hf(rows());  // per call: the model may be shared by several engines
        inner_->gemv(x, hf.data());
        scatter(hf.data(), 1, y);
    }
    void gemm(const float* X, std::size_t n, float* Y) const override {
        std::vector<float> hf(n * rows());
        inner_->gemm(X, n, hf.data());
        scatter(hf.data(), n, Y);
    }
    std::size_t storage_bytes() const override { return inner_->storage_bytes(); }
    std::string describe() const override { return inner_->describe(); }

private:
    /// Y row t = hf row t in llama2.c's order, for t < n.
    void scatter(const float* hf, std::size_t n, float* Y) const {
        const std::size_t rows = from_.size();
        for (std::size_t t = 0; t < n; ++t)
            for (std::size_t r = 0; r < rows; ++r)
                Y[t * rows + r] = hf[t * rows + from_[r]];
    }

    std::unique_ptr<linear> inner_;
    std::vector<std::size_t> from_;  // llama2.c row -> HF row
};

/// True when `f` holds tensors under HF names ("model." or "lm_head." prefixes).
inline bool has_hf_names(const sqllm::io::safetensors_file& f) {
    for (const auto& t : f.tensors())
        if (t.name.compare(0, 6, "model.") == 0 || t.name.compare(0, 8, "lm_head.") == 0) return true;
    return false;
}

/// The config.json of the HF model at `path` (a directory, an index or a
/// .safetensors file): the one in that directory.
inline std::string hf_config_path(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p(path);
    if (fs::is_directory(p, ec)) return (p / "config.json").string();
    return ((p.has_parent_path() ? p.parent_path() : fs::path(".")) / "config.json").string();
}

/// Loads an HF-layout model (see the file comment) from a directory, its
/// index, or a .safetensors file. The hyper-parameters come from config.json
/// (read_hf_config); every tensor must have the shape they imply and every
/// tensor must be used. Throws sqllm::error: errc::io_error when config.json
/// or a file cannot be read; errc::corrupt_data for a bad config.json, a
/// missing tensor or one the model does not use; errc::shape_mismatch for a
/// tensor whose shape or dtype does not fit.
inline model load_hf(const std::string& path) {
    const std::string config_path = hf_config_path(path);
    {
        std::error_code ec;
        if (!std::filesystem::exists(config_path, ec))
            throw sqllm::error(sqllm::errc::io_error,
                               config_path + ": missing; a Hugging Face model's hyper-parameters are in its config.json");
    }
    // Shared: a striped-layout layer views its shard in place and keeps the model mapped.
    const auto owner = std::make_shared<const sqllm::io::safetensors_model>(path);
    const sqllm::io::safetensors_model& st = *owner;
    model m;
    m.config = read_hf_config(config_path);
    const auto quantized = st.quantized_layers();
    std::set<std::string> used;

    const auto shape_text = [](const std::vector<std::size_t>& s) {
        std::string out = "[";
        for (std::size_t i = 0; i < s.size(); ++i)
            out += (i ? ", " : "") + std::to_string(s[i]);
        return out + "]";
    };
    const auto floats = [&](const std::string& name, const std::vector<std::size_t>& shape) {
        const sqllm::io::tensor_info* t = st.find(name);
        if (!t)
            throw sqllm::error(sqllm::errc::corrupt_data, path + ": no tensor \"" + name + "\" (" + config_path +
                                                              " describes a model that has one)");
        if (t->shape != shape)
            throw sqllm::error(sqllm::errc::shape_mismatch, path + ": \"" + name + "\" is " + t->describe() + ", but " +
                                                                config_path + " implies " + shape_text(shape));
        used.insert(name);
        return st.to_float(name);
    };
    const std::size_t head_size = std::size_t(m.config.head_size());
    // `name` is the weight's HF name; a quantized layer is under its module
    // name (or, as older sqllm-quantize versions wrote it, under `name`).
    const auto linear_named = [&](const std::string& name, std::size_t rows, std::size_t cols,
                                  bool permuted) -> std::unique_ptr<linear> {
        const std::string module = name.substr(0, name.size() - 7);  // without ".weight"
        for (const auto& q : quantized) {
            if (q.name != module && q.name != name) continue;
            if (q.rows != rows || q.cols != cols)
                throw sqllm::error(sqllm::errc::shape_mismatch,
                                   path + ": quantized layer \"" + q.name + "\" is " + std::to_string(q.rows) + " x " +
                                       std::to_string(q.cols) + ", but " + config_path + " implies " +
                                       std::to_string(rows) + " x " + std::to_string(cols));
            for (const std::string& s : sqllm::io::quantized_suffixes())
                used.insert(q.name + s);
            std::unique_ptr<linear> w = load_quantized_linear(st.file_of(q.codes_tensor()), q, owner);
            if (permuted) w = std::make_unique<row_permuted_linear>(std::move(w), head_size);
            return w;
        }
        std::vector<float> w = floats(name, {rows, cols});
        if (permuted) w = hf_permute_rows(w, rows, cols, head_size, /*to_hf=*/false);
        return std::make_unique<dense_linear>(rows, cols, w);
    };

    using sz = std::size_t;
    const auto& c = m.config;
    const sz dim = sz(c.dim), hidden = sz(c.hidden_dim), kv = sz(c.kv_dim()), vocab = sz(c.vocab_size);
    m.tok_embeddings = floats(hf_name_of("tok_embeddings"), {vocab, dim});
    m.rms_final = floats(hf_name_of("rms_final"), {dim});
    m.classifier = c.shared_classifier ? std::make_unique<dense_linear>(vocab, dim, m.tok_embeddings)
                                       : linear_named(hf_name_of("output"), vocab, dim, false);
    m.layers.resize(sz(c.n_layers));
    for (sz l = 0; l < m.layers.size(); ++l) {
        layer& L = m.layers[l];
        const std::string p = "layers." + std::to_string(l) + ".";
        const auto hf = [&p](const char* kind) { return hf_name_of(p + kind); };
        L.rms_att = floats(hf("rms_att"), {dim});
        L.rms_ffn = floats(hf("rms_ffn"), {dim});
        L.wq = linear_named(hf("wq"), dim, dim, true);
        L.wk = linear_named(hf("wk"), kv, dim, true);
        L.wv = linear_named(hf("wv"), kv, dim, false);
        L.wo = linear_named(hf("wo"), dim, dim, false);
        L.w1 = linear_named(hf("w1"), hidden, dim, false);
        L.w2 = linear_named(hf("w2"), dim, hidden, false);
        L.w3 = linear_named(hf("w3"), hidden, dim, false);
    }
    const std::string inv_freq = ".rotary_emb.inv_freq";  // a buffer older transformers saved; recomputed here
    for (const auto& ref : st.tensors()) {
        const std::string& name = ref.info->name;
        if (used.count(name)) continue;
        if (name.size() > inv_freq.size() && name.compare(name.size() - inv_freq.size(), inv_freq.size(), inv_freq) == 0)
            continue;
        throw sqllm::error(sqllm::errc::corrupt_data, path + ": tensor \"" + sqllm::io::printable(name) +
                                                          "\" is not part of the model" +
                                                          (name == "lm_head.weight" ? " (config.json ties the "
                                                                                      "classifier to the embedding)"
                                                                                    : ""));
    }
    validate(m);
    return m;
}

}  // namespace llama2c
