// What sqllm-quantize will do with each tensor of a model: quantize it (at
// which width, with which sparse rule, under which output name) or copy it.
// Decided once, before any work, so --dry-run can print it and a run over a
// subset of the shards makes the same decisions as a run over all of them.
#pragma once

#include <cstddef>
#include <cstdio>
#include <regex>
#include <string>
#include <vector>

#include <sqllm/core/bits.hpp>
#include <sqllm/error.hpp>
#include <sqllm/io/safetensors.hpp>

#include "model_source.hpp"
#include "sparsity.hpp"

namespace sqllm_tool {

/// One `REGEX=VALUE` of --tensor-bits / --tensor-sparsity.
struct tensor_rule {
    std::string pattern, value;
    std::regex re;
};

/// Splits `REGEX=VALUE` at the first '=' (sparsity values contain '=' themselves).
inline tensor_rule parse_rule(const std::string& text, const char* option) {
    const auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
        throw sqllm::error(sqllm::errc::invalid_argument,
                           std::string(option) + " \"" + text + "\": expected REGEX=VALUE, e.g. 'mlp\\.down_proj=4'");
    tensor_rule r;
    r.pattern = text.substr(0, eq);
    r.value = text.substr(eq + 1);
    try {
        r.re = std::regex(r.pattern, std::regex::extended);
    } catch (const std::regex_error& e) {
        throw sqllm::error(sqllm::errc::invalid_argument,
                           std::string(option) + " \"" + text + "\": bad regular expression: " + e.what());
    }
    return r;
}

/// The first rule whose regex matches `name` (regex_search), or nullptr.
inline const tensor_rule* first_match(const std::vector<tensor_rule>& rules, const std::string& name) {
    for (const tensor_rule& r : rules)
        if (std::regex_search(name, r.re)) return &r;
    return nullptr;
}

/// The name of a weight's quantized arrays: the SqueezeLLM reference stores
/// them as buffers of the layer's module, `<module>.qweight`, so a trailing
/// ".weight" goes (`...q_proj.weight` → `...q_proj`); other names (llama2.c's
/// `layers.0.wq`) are the module name already.
inline std::string module_name(const std::string& weight) {
    const std::string suffix = ".weight";
    if (weight.size() > suffix.size() && weight.compare(weight.size() - suffix.size(), suffix.size(), suffix) == 0)
        return weight.substr(0, weight.size() - suffix.size());
    return weight;
}

/// The decision for one tensor.
struct tensor_plan {
    bool quantize = false;
    int bits = 0;
    std::string sparsity;         ///< the rule's text as given
    sqllm::sparse_options sparse; ///< ... parsed
    std::string out_name;         ///< module name (quantized) or the tensor's own name (copied)
};

/// Bytes of a quantized layer as stored: codes, LUT, and the CSR arrays with
/// `nnz` kept weights (expected_nnz estimates it before quantizing).
inline std::size_t quantized_bytes(std::size_t rows, std::size_t cols, int bits, std::size_t lut_bytes, std::size_t nnz) {
    const std::size_t words = sqllm::group_count(cols) * static_cast<std::size_t>(bits);
    std::size_t b = words * 4 * rows + rows * (std::size_t(1) << bits) * lut_bytes;
    if (nnz) b += (rows + 1) * 4 + nnz * 8;
    return b;
}

/// The weights a sparse rule will keep, roughly: the fractions it names (an
/// IQR rule's count depends on the data; it is estimated as none).
inline std::size_t expected_nnz(const sqllm::sparse_options& o, std::size_t rows, std::size_t cols) {
    const double n = static_cast<double>(rows) * static_cast<double>(cols);
    return static_cast<std::size_t>(n * (o.sensitive_fraction + o.outlier_fraction) + 0.5);
}

/// Prints the plan (--dry-run): per tensor its action, then the totals.
inline void print_plan(const model_source& model, const std::vector<tensor_plan>& plan, std::size_t lut_bytes,
                       const std::vector<bool>& in_part) {
    const auto& tensors = model.tensors();
    std::size_t name_w = 6;
    for (const auto& t : tensors)
        name_w = std::max(name_w, t.name.size());
    const int w = static_cast<int>(std::min<std::size_t>(name_w, 80));
    std::printf("%-*s %-18s %-6s  %s\n", w, "tensor", "shape", "dtype", "action");
    std::size_t in_bytes = 0, out_bytes = 0, quantized = 0, copied = 0, weights = 0;
    std::size_t shard = static_cast<std::size_t>(-1);
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        if (!in_part[t.shard]) continue;
        if (model.shard_count() > 1 && t.shard != shard) {
            shard = t.shard;
            std::printf("# %s\n", model.shard_name(shard).c_str());
        }
        std::string shape;
        for (std::size_t d = 0; d < t.shape.size(); ++d)
            shape += (d ? "x" : "") + std::to_string(t.shape[d]);
        std::size_t numel = 1;
        for (std::size_t d : t.shape)
            numel *= d;
        const std::size_t bytes = numel * sqllm::io::size_of(t.type);
        in_bytes += bytes;
        const tensor_plan& p = plan[i];
        if (p.quantize) {
            const std::size_t est = quantized_bytes(t.shape[0], t.shape[1], p.bits, lut_bytes,
                                                    expected_nnz(p.sparse, t.shape[0], t.shape[1]));
            out_bytes += est;
            weights += numel;
            ++quantized;
            const char* codes = model.layout(t.shard) == sqllm::io::checkpoint_layout::striped ? "striped_codes" : "qweight";
            std::printf("%-*s %-18s %-6s  quantize %d-bit, sparsity %s -> %s.%s (~%zu bytes)\n", w,
                        sqllm::io::printable(t.name).c_str(), shape.c_str(), sqllm::io::to_string(t.type), p.bits,
                        p.sparsity.c_str(), sqllm::io::printable(p.out_name).c_str(), codes, est);
        } else {
            out_bytes += bytes;
            ++copied;
            std::printf("%-*s %-18s %-6s  copy\n", w, sqllm::io::printable(t.name).c_str(), shape.c_str(),
                        sqllm::io::to_string(t.type));
        }
    }
    std::printf("\n%zu tensors to quantize (%zu weights), %zu to copy; input %zu bytes, estimated output %zu bytes "
                "(%.1f%%)\n",
                quantized, weights, copied, in_bytes, out_bytes,
                in_bytes ? 100.0 * static_cast<double>(out_bytes) / static_cast<double>(in_bytes) : 0.0);
}

}  // namespace sqllm_tool
