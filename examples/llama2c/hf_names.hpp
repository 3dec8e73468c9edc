// hf_names.hpp — how a llama2.c model's weights are named and ordered in a
// Hugging Face LlamaForCausalLM checkpoint.
//
// Names: tok_embeddings → model.embed_tokens.weight, rms_final →
// model.norm.weight, output → lm_head.weight, and per layer l
// (p = "model.layers.{l}."):
//     rms_att → p input_layernorm.weight     rms_ffn → p post_attention_layernorm.weight
//     wq, wk, wv, wo → p self_attn.{q,k,v,o}_proj.weight
//     w1, w3, w2 → p mlp.{gate,up,down}_proj.weight
// A quantized layer is stored under its module name, the weight name without
// ".weight" (the SqueezeLLM reference's buffers: p self_attn.q_proj.qweight).
//
// Row order: llama2.c's RoPE rotates the pairs (2j, 2j+1) of each head; HF's
// rotates (j, j + head_size/2) ("rotate_half"). transformers'
// convert_llama_weights_to_hf.py therefore permutes the rows of wq and wk
// within each head, `w.view(heads, head_size/2, 2, in).transpose(1, 2)`: row
// 2j + t of a head becomes row t·head_size/2 + j (t = 0, 1). hf_rope_row is
// that map; both directions of the conversion use it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include <sqllm/error.hpp>

#include "llama2c.hpp"

namespace llama2c {

/// The HF name of a canonical llama2.c tensor name (llama2c_tensor_names),
/// or "" when `name` is not one.
inline std::string hf_name_of(const std::string& name) {
    if (name == "tok_embeddings") return "model.embed_tokens.weight";
    if (name == "rms_final") return "model.norm.weight";
    if (name == "output") return "lm_head.weight";
    const std::string prefix = "layers.";
    if (name.compare(0, prefix.size(), prefix) != 0) return "";
    const std::size_t dot = name.find('.', prefix.size());
    if (dot == std::string::npos || dot == prefix.size()) return "";
    const std::string layer = name.substr(prefix.size(), dot - prefix.size());
    if (layer.find_first_not_of("0123456789") != std::string::npos || (layer.size() > 1 && layer[0] == '0'))
        return "";
    const std::string kind = name.substr(dot + 1);
    static const char* const map[][2] = {{"rms_att", "input_layernorm"},
                                         {"rms_ffn", "post_attention_layernorm"},
                                         {"wq", "self_attn.q_proj"},
                                         {"wk", "self_attn.k_proj"},
                                         {"wv", "self_attn.v_proj"},
                                         {"wo", "self_attn.o_proj"},
                                         {"w1", "mlp.gate_proj"},
                                         {"w2", "mlp.down_proj"},
                                         {"w3", "mlp.up_proj"}};
    for (const auto& m : map)
        if (kind == m[0]) return "model.layers." + layer + "." + m[1] + ".weight";
    return "";
}

/// True for the canonical names whose rows HF permutes (wq and wk).
inline bool hf_permutes_rows(const std::string& name) {
    const auto ends = [&](const char* s) {
        const std::string suffix = s;
        return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    return name.compare(0, 7, "layers.") == 0 && (ends(".wq") || ends(".wk"));
}

/// The HF row of llama2.c row `r` of wq or wk (heads of `head_size` rows,
/// head_size even): row 2j + t of a head goes to t·head_size/2 + j.
inline std::size_t hf_rope_row(std::size_t r, std::size_t head_size) {
    const std::size_t head = r / head_size, i = r % head_size, half = head_size / 2;
    return head * head_size + (i % 2) * half + i / 2;
}

/// Rows of `w` (rows × cols, row-major, rows a multiple of head_size)
/// reordered as HF stores them (to_hf) or back to llama2.c's order. Throws
/// errc::shape_mismatch when the sizes do not fit.
inline std::vector<float> hf_permute_rows(const std::vector<float>& w, std::size_t rows, std::size_t cols,
                                          std::size_t head_size, bool to_hf) {
    if (head_size == 0 || head_size % 2 != 0 || rows % head_size != 0 || cols == 0 || w.size() / cols != rows ||
        w.size() % cols != 0)
        throw sqllm::error(sqllm::errc::shape_mismatch,
                           "hf_permute_rows: " + std::to_string(w.size()) + " values are not " + std::to_string(rows) +
                               " x " + std::to_string(cols) + " rows of heads of " + std::to_string(head_size));
    std::vector<float> out(w.size());
    for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t h = hf_rope_row(r, head_size);
        const std::size_t from = to_hf ? r : h, to = to_hf ? h : r;
        std::copy_n(w.begin() + std::ptrdiff_t(from * cols), cols, out.begin() + std::ptrdiff_t(to * cols));
    }
    return out;
}

}  // namespace llama2c
