// sqllm/io/quant_config.hpp — `quant_config.json`, the file beside a
// quantized model that says how it was quantized.
//
// The SqueezeLLM reference (and the loaders written for it, vLLM's among
// them) read `{"wbits": 3}`; sqllm keeps that key, adds the
// `"quant_method": "squeezellm"` that Hugging Face-style loaders look for,
// and puts everything else under its own key, per layer:
//   {
//     "wbits": 3,
//     "quant_method": "squeezellm",
//     "sqllm": {
//       "producer": "sqllm-quantize 0.1.0",
//       "method": "exact", "sparsity": "sensitive=0.05%,outliers=0.40%", "sensitivity": "fisher:f.safetensors",
//       "layers": {
//         "model.layers.0.self_attn.q_proj": {"bits": 3, "shape": [4096, 4096], "nnz": 75497,
//                                            "lut": "F32", "sparsity": "sensitive=0.05%,outliers=0.40%"},
//         ...
//       }
//     }
//   }
// With mixed widths, "wbits" is the width of most weights (a reference
// loader can only take one; sqllm's loaders read each layer's own width
// from its lookup_table). Keys of an input quant_config.json that sqllm
// does not know are kept (quant_config::extra) and written back.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../config.hpp"
#include "../error.hpp"
#include "mapped_file.hpp"
#include "safetensors.hpp"

SQLLM_NAMESPACE_BEGIN
namespace io {

/// How one layer was quantized.
struct quantized_layer_config {
    std::string name;          ///< module name: the tensors are <name>.qweight, ...
    int bits = 0;              ///< code width, 1..8
    std::size_t rows = 0;      ///< output features
    std::size_t cols = 0;      ///< input features
    std::size_t nnz = 0;       ///< weights kept exactly in the sparse part
    dtype lut_type = dtype::f32;
    std::string sparsity;      ///< the rule that chose them ("none", "sensitive=P,outliers=P", ...)
};

/// The contents of a quant_config.json.
struct quant_config {
    int wbits = 0;               ///< the reference's key: the (most common) code width
    std::string producer;        ///< tool and version that wrote the model
    std::string method;          ///< LUT fit: "exact", "lloyd", "rtn", or "reference" for imports
    std::string sparsity;        ///< the run's default sparse rule
    std::string sensitivity;     ///< where sensitivities came from ("none", "fisher:<file>", ...)
    std::vector<quantized_layer_config> layers;  ///< sorted by name by dump()
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();  ///< unknown top-level keys, kept

    /// The width most weights have (ties: the smaller width); 0 without layers.
    int majority_bits() const {
        std::map<int, std::size_t> weights;
        for (const quantized_layer_config& L : layers)
            weights[L.bits] += L.rows * L.cols;
        int best = 0;
        std::size_t most = 0;
        for (const auto& kv : weights)
            if (kv.second > most) {
                most = kv.second;
                best = kv.first;
            }
        return best;
    }

    /// The JSON text (2-space indent, trailing newline). Deterministic:
    /// layers sorted by name, so equal configs give equal bytes.
    std::string dump() const {
        nlohmann::ordered_json j;
        j["wbits"] = wbits;
        j["quant_method"] = "squeezellm";
        for (auto it = extra.begin(); it != extra.end(); ++it)
            if (it.key() != "wbits" && it.key() != "quant_method" && it.key() != "sqllm") j[it.key()] = it.value();
        nlohmann::ordered_json s;
        s["producer"] = producer;
        s["method"] = method;
        s["sparsity"] = sparsity;
        s["sensitivity"] = sensitivity;
        std::vector<const quantized_layer_config*> sorted;
        for (const quantized_layer_config& L : layers)
            sorted.push_back(&L);
        std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->name < b->name; });
        nlohmann::ordered_json ls = nlohmann::ordered_json::object();
        for (const quantized_layer_config* L : sorted)
            ls[L->name] = {{"bits", L->bits},
                           {"shape", {L->rows, L->cols}},
                           {"nnz", L->nnz},
                           {"lut", to_string(L->lut_type)},
                           {"sparsity", L->sparsity}};
        s["layers"] = std::move(ls);
        j["sqllm"] = std::move(s);
        return j.dump(2) + "\n";
    }

    /// Parses a quant_config.json: the reference's `{"wbits": N}` or sqllm's
    /// full form. Throws errc::corrupt_data naming `where` when the text is
    /// not JSON, "wbits" is missing or not 1..8, or a layer entry is malformed.
    static quant_config parse(const std::string& text, const std::string& where) {
        auto bad = [&](const std::string& what) { sqllm::detail::fail(errc::corrupt_data, where + ": " + what); };
        const nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, false);
        if (j.is_discarded() || !j.is_object()) bad("not a JSON object");
        quant_config c;
        const auto wb = j.find("wbits");
        if (wb == j.end() || !wb->is_number_integer() || wb->get<long long>() < 1 || wb->get<long long>() > 8)
            bad("\"wbits\" is missing or not a code width 1..8");
        c.wbits = wb->get<int>();
        for (auto it = j.begin(); it != j.end(); ++it)
            if (it.key() != "wbits" && it.key() != "quant_method" && it.key() != "sqllm") c.extra[it.key()] = it.value();
        const auto s = j.find("sqllm");
        if (s == j.end()) return c;
        if (!s->is_object()) bad("\"sqllm\" is not an object");
        auto str = [&](const char* key) -> std::string {
            const auto v = s->find(key);
            if (v == s->end()) return {};
            if (!v->is_string()) bad(std::string("\"sqllm.") + key + "\" is not a string");
            return v->get<std::string>();
        };
        c.producer = str("producer");
        c.method = str("method");
        c.sparsity = str("sparsity");
        c.sensitivity = str("sensitivity");
        const auto ls = s->find("layers");
        if (ls == s->end()) return c;
        if (!ls->is_object()) bad("\"sqllm.layers\" is not an object");
        for (auto it = ls->begin(); it != ls->end(); ++it) {
            const auto& v = it.value();
            const std::string at = "layer \"" + printable(it.key()) + "\"";
            if (!v.is_object()) bad(at + " is not an object");
            quantized_layer_config L;
            L.name = it.key();
            const auto b = v.find("bits");
            if (b == v.end() || !b->is_number_integer() || b->get<long long>() < 1 || b->get<long long>() > 8)
                bad(at + ": \"bits\" is missing or not 1..8");
            L.bits = b->get<int>();
            const auto sh = v.find("shape");
            if (sh == v.end() || !sh->is_array() || sh->size() != 2 || !(*sh)[0].is_number_unsigned() ||
                !(*sh)[1].is_number_unsigned())
                bad(at + ": \"shape\" is not [rows, cols]");
            L.rows = (*sh)[0].get<std::size_t>();
            L.cols = (*sh)[1].get<std::size_t>();
            const auto nz = v.find("nnz");
            if (nz != v.end()) {
                if (!nz->is_number_unsigned()) bad(at + ": \"nnz\" is not a count");
                L.nnz = nz->get<std::size_t>();
            }
            const auto lut = v.find("lut");
            if (lut != v.end() && (!lut->is_string() || !parse_dtype(lut->get<std::string>(), L.lut_type) ||
                                   (L.lut_type != dtype::f32 && L.lut_type != dtype::f16)))
                bad(at + ": \"lut\" is not F32 or F16");
            const auto sp = v.find("sparsity");
            if (sp != v.end()) {
                if (!sp->is_string()) bad(at + ": \"sparsity\" is not a string");
                L.sparsity = sp->get<std::string>();
            }
            c.layers.push_back(std::move(L));
        }
        return c;
    }

    /// Reads and parses `path` (at most 64 MiB).
    static quant_config read(const std::string& path) {
        const mapped_file f(path);  // mapped: the size is checked before any byte is read
        if (f.size() > (std::size_t(64) << 20))
            sqllm::detail::fail(errc::corrupt_data, path + ": " + std::to_string(f.size()) + " bytes, over the 64 MiB limit");
        return parse(std::string(reinterpret_cast<const char*>(f.data()), f.size()), path);
    }
};

}  // namespace io
SQLLM_NAMESPACE_END
