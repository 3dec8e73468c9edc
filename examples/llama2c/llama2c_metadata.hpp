// llama2c_metadata.hpp — a llama2.c model's configuration as safetensors
// "__metadata__" entries, so a converted or quantized checkpoint is a complete
// model on its own. Part of the llama2c example, not of the installed library;
// sqllm-quantize writes these entries, checkpoint.hpp reads them.
//
// Keys: "llama2c.dim", "llama2c.hidden_dim", "llama2c.n_layers",
// "llama2c.n_heads", "llama2c.n_kv_heads", "llama2c.vocab_size",
// "llama2c.seq_len" (decimal integers) and "llama2c.shared_classifier"
// ("true"/"false"). The tensors keep the names of llama2c.hpp.
#pragma once

#include <cstdlib>
#include <map>
#include <string>

#include <sqllm/error.hpp>

#include "llama2c.hpp"

namespace llama2c {

/// The config as metadata entries.
inline std::map<std::string, std::string> llama2c_metadata(const llama2c_config& c) {
    return {{"llama2c.dim", std::to_string(c.dim)},
            {"llama2c.hidden_dim", std::to_string(c.hidden_dim)},
            {"llama2c.n_layers", std::to_string(c.n_layers)},
            {"llama2c.n_heads", std::to_string(c.n_heads)},
            {"llama2c.n_kv_heads", std::to_string(c.n_kv_heads)},
            {"llama2c.vocab_size", std::to_string(c.vocab_size)},
            {"llama2c.seq_len", std::to_string(c.seq_len)},
            {"llama2c.shared_classifier", c.shared_classifier ? "true" : "false"}};
}

/// Reads the config back; throws errc::corrupt_data (naming `where`) if a
/// key is missing or malformed or the config is inconsistent.
inline llama2c_config llama2c_config_from_metadata(const std::map<std::string, std::string>& m,
                                                   const std::string& where) {
    auto get = [&](const char* key) -> int {
        const auto it = m.find(key);
        if (it == m.end())
            throw sqllm::error(sqllm::errc::corrupt_data,
                               where + ": metadata lacks \"" + key + "\" (not a llama2.c model?)");
        char* end = nullptr;
        const long v = std::strtol(it->second.c_str(), &end, 10);
        if (it->second.empty() || *end != '\0' || v <= 0 || v > (1L << 30))
            throw sqllm::error(sqllm::errc::corrupt_data,
                               where + ": metadata \"" + key + "\" = \"" + it->second + "\" is not a positive integer");
        return static_cast<int>(v);
    };
    llama2c_config c;
    c.dim = get("llama2c.dim");
    c.hidden_dim = get("llama2c.hidden_dim");
    c.n_layers = get("llama2c.n_layers");
    c.n_heads = get("llama2c.n_heads");
    c.n_kv_heads = get("llama2c.n_kv_heads");
    c.vocab_size = get("llama2c.vocab_size");
    c.seq_len = get("llama2c.seq_len");
    const auto shared = m.find("llama2c.shared_classifier");
    if (shared == m.end() || (shared->second != "true" && shared->second != "false"))
        throw sqllm::error(sqllm::errc::corrupt_data,
                           where + ": metadata \"llama2c.shared_classifier\" is missing or not true/false");
    c.shared_classifier = shared->second == "true";
    validate_llama2c_config(c, where);
    return c;
}

}  // namespace llama2c
