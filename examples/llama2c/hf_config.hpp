// hf_config.hpp — a Hugging Face LlamaForCausalLM config.json as the
// example's llama2c_config, and back.
//
// Read: hidden_size → dim, intermediate_size → hidden_dim,
// num_hidden_layers → n_layers, num_attention_heads → n_heads,
// num_key_value_heads → n_kv_heads (default: num_attention_heads, as in
// transformers), vocab_size, max_position_embeddings → seq_len,
// tie_word_embeddings → shared_classifier (default false), rms_norm_eps →
// norm_eps (default 1e-6), rope_theta (default 10000). Everything the
// forward pass cannot honour is refused rather than ignored: another
// model_type or architecture, a head_dim other than hidden_size /
// num_attention_heads, rope_scaling, a hidden_act other than silu, attention
// or MLP biases. The sizes are then validated as a llama2.c header is
// (validate_llama2c_config).
//
// Errors: sqllm::error naming the file; errc::io_error when it cannot be
// read, errc::corrupt_data for malformed JSON, a missing or mistyped field, or
// an inconsistent or unsupported configuration.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sqllm/error.hpp>

#include "llama2c.hpp"
#include "open_file.hpp"

namespace llama2c {

/// Largest config.json read (real ones are ~1 KB).
constexpr std::uint64_t hf_max_config_bytes = std::uint64_t(1) << 20;

/// The config of a parsed config.json; `where` names it in errors.
inline llama2c_config hf_config_from_json(const nlohmann::json& j, const std::string& where) {
    const auto bad = [&](const std::string& what) {
        throw sqllm::error(sqllm::errc::corrupt_data, where + ": " + what);
    };
    if (!j.is_object()) bad("not a JSON object");
    const auto integer = [&](const char* key, const int* fallback) -> int {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) {
            if (fallback) return *fallback;
            bad(std::string("lacks \"") + key + "\"");
        }
        if (!it->is_number_integer()) bad(std::string("\"") + key + "\" is not an integer");
        const bool positive =
            it->is_number_unsigned() ? it->get<std::uint64_t>() > 0 : it->get<std::int64_t>() > 0;
        if (!positive) bad(std::string("\"") + key + "\" = " + it->dump() + " is not positive");
        if (it->get<std::uint64_t>() > std::uint64_t(llama2c_max_header_value))
            bad(std::string("\"") + key + "\" = " + it->dump() + " exceeds " +
                std::to_string(llama2c_max_header_value));
        return static_cast<int>(it->get<std::uint64_t>());
    };
    const auto number = [&](const char* key, double fallback) -> double {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) return fallback;
        if (!it->is_number()) bad(std::string("\"") + key + "\" is not a number");
        return it->get<double>();
    };
    const auto flag = [&](const char* key, bool fallback) -> bool {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) return fallback;
        if (!it->is_boolean()) bad(std::string("\"") + key + "\" is not true or false");
        return it->get<bool>();
    };
    const auto text = [&](const char* key) -> std::string {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) return "";
        if (!it->is_string()) bad(std::string("\"") + key + "\" is not a string");
        return it->get<std::string>();
    };

    const std::string type = text("model_type");
    if (!type.empty() && type != "llama") bad("model_type \"" + type + "\" is not \"llama\"");
    const auto arch = j.find("architectures");
    if (arch != j.end() && !arch->is_null()) {
        if (!arch->is_array()) bad("\"architectures\" is not a list");
        bool llama = false;
        for (const auto& a : *arch)
            llama = llama || (a.is_string() && a.get<std::string>() == "LlamaForCausalLM");
        if (!llama) bad("\"architectures\" does not name LlamaForCausalLM");
    }
    const std::string act = text("hidden_act");
    if (!act.empty() && act != "silu") bad("hidden_act \"" + act + "\" is not supported (only silu)");
    if (flag("attention_bias", false)) bad("attention_bias = true is not supported (no biases)");
    if (flag("mlp_bias", false)) bad("mlp_bias = true is not supported (no biases)");
    const auto scaling = j.find("rope_scaling");
    if (scaling != j.end() && !scaling->is_null()) bad("rope_scaling is not supported");

    llama2c_config c;
    c.dim = integer("hidden_size", nullptr);
    c.hidden_dim = integer("intermediate_size", nullptr);
    c.n_layers = integer("num_hidden_layers", nullptr);
    c.n_heads = integer("num_attention_heads", nullptr);
    c.n_kv_heads = integer("num_key_value_heads", &c.n_heads);
    c.vocab_size = integer("vocab_size", nullptr);
    c.seq_len = integer("max_position_embeddings", nullptr);
    c.shared_classifier = flag("tie_word_embeddings", false);
    const double eps = number("rms_norm_eps", 1e-6);
    if (!(eps > 0) || !std::isfinite(eps) || eps > 1) bad("rms_norm_eps " + std::to_string(eps) + " is not in (0, 1]");
    c.norm_eps = static_cast<float>(eps);  // transformers adds it to a float32 variance
    if (!(c.norm_eps > 0)) bad("rms_norm_eps " + std::to_string(eps) + " underflows float32");
    c.rope_theta = number("rope_theta", 10000.0);
    if (!(c.rope_theta > 1) || !std::isfinite(c.rope_theta))
        bad("rope_theta " + std::to_string(c.rope_theta) + " is not a finite number > 1");
    // The structure, in config.json's words (validate_llama2c_config repeats it in llama2.c's).
    if (c.dim % c.n_heads != 0)
        bad("hidden_size = " + std::to_string(c.dim) + " is not a multiple of num_attention_heads = " +
            std::to_string(c.n_heads));
    if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0)
        bad("num_attention_heads = " + std::to_string(c.n_heads) + " is not a multiple of num_key_value_heads = " +
            std::to_string(c.n_kv_heads));
    if (c.head_size() % 2 != 0)
        bad("the head size hidden_size / num_attention_heads = " + std::to_string(c.head_size()) +
            " is odd (RoPE rotates pairs)");
    validate_llama2c_config(c, where);
    if (j.contains("head_dim") && !j.at("head_dim").is_null()) {
        const int head_dim = integer("head_dim", nullptr);
        if (head_dim != c.head_size())
            bad("head_dim = " + std::to_string(head_dim) + " but hidden_size / num_attention_heads = " +
                std::to_string(c.head_size()) + " (only that is supported)");
    }
    return c;
}

/// Reads and parses `path` (a config.json): see hf_config_from_json.
inline llama2c_config read_hf_config(const std::string& path) {
    std::ifstream in;
    const std::uint64_t size = detail::llama2c_open(in, path);
    if (size > hf_max_config_bytes)
        throw sqllm::error(sqllm::errc::corrupt_data, path + ": " + std::to_string(size) +
                                                          " bytes, over the 1 MiB limit for a config.json");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw sqllm::error(sqllm::errc::io_error, path + ": read error");
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw sqllm::error(sqllm::errc::corrupt_data, path + ": not valid JSON");
    return hf_config_from_json(j, path);
}

namespace detail {

/// The shortest decimal that reads back as `f` in float, as a double: 1e-5f
/// is written 1e-05, which transformers rounds to the same float32.
inline double hf_shortest_double(float f) {
    char buf[32];
    for (int digits = 1; digits <= 9; ++digits) {
        std::snprintf(buf, sizeof buf, "%.*g", digits, double(f));
        if (std::strtof(buf, nullptr) == f) break;
    }
    return std::strtod(buf, nullptr);
}

}  // namespace detail

/// A LlamaForCausalLM config.json for `c` (weights stored as `torch_dtype`:
/// "float32", "bfloat16" or "float16"; BOS = 1 and EOS = 2 as llama2.c's
/// tokenizer has them).
inline nlohmann::ordered_json hf_config_json(const llama2c_config& c, const std::string& torch_dtype) {
    nlohmann::ordered_json j;
    j["architectures"] = {"LlamaForCausalLM"};
    j["model_type"] = "llama";
    j["hidden_size"] = c.dim;
    j["intermediate_size"] = c.hidden_dim;
    j["num_attention_heads"] = c.n_heads;
    j["num_key_value_heads"] = c.n_kv_heads;
    j["num_hidden_layers"] = c.n_layers;
    j["vocab_size"] = c.vocab_size;
    j["max_position_embeddings"] = c.seq_len;
    j["rms_norm_eps"] = detail::hf_shortest_double(c.norm_eps);
    j["rope_theta"] = c.rope_theta;
    j["hidden_act"] = "silu";
    j["attention_bias"] = false;
    j["mlp_bias"] = false;
    j["tie_word_embeddings"] = c.shared_classifier;
    j["torch_dtype"] = torch_dtype;
    j["bos_token_id"] = 1;
    j["eos_token_id"] = 2;
    return j;
}

}  // namespace llama2c
