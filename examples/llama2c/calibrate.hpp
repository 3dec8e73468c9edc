// calibrate.hpp — forward-only sensitivities for sqllm-quantize: the second
// moment Σ_t x_c² of every linear layer's input, per input channel c,
// accumulated over calibration windows (docs/DESIGN.md §1: the diagonal of XᵀX).
// Written as a safetensors file of F32 [cols] tensors named like the weights,
// which sqllm-quantize --sensitivity broadcasts over each layer's rows.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <sqllm/io/safetensors.hpp>
#include <sqllm/io/safetensors_writer.hpp>

#include "model.hpp"
#include "perplexity.hpp"

namespace llama2c {

/// Runs every window of `tokens` (stories cut as for perplexity) through
/// `m` and returns, per linear layer name, Σ x² of each input channel in
/// double. The classifier ("output") is left out: it is never quantized.
inline std::map<std::string, std::vector<double>> activation_second_moments(const model& m,
                                                                           const std::vector<int>& tokens) {
    std::map<std::string, std::vector<double>> sums;
    engine e(m);
    e.set_observer([&sums](const std::string& name, const float* X, std::size_t n, std::size_t cols) {
        if (name == "output") return;
        auto& s = sums[name];
        s.resize(cols, 0.0);
        for (std::size_t t = 0; t < n; ++t)
            for (std::size_t c = 0; c < cols; ++c)
                s[c] += double(X[t * cols + c]) * X[t * cols + c];
    });
    for (const auto& w : story_windows(tokens, std::min<std::size_t>(257, e.max_positions())))
        e.forward_window(w.data(), w.size());
    return sums;
}

/// Writes the sums as F32 [cols] tensors to `path` (atomically: see
/// sqllm::io::safetensors_writer), with the token count in the metadata.
inline void write_second_moments(const std::string& path, const std::map<std::string, std::vector<double>>& sums,
                                 std::size_t tokens, const std::string& source) {
    sqllm::io::safetensors_writer out(path);
    out.set_metadata("sqllm.sensitivity.kind", "activation second moments: sum over tokens of x_c^2");
    out.set_metadata("sqllm.sensitivity.tokens", std::to_string(tokens));
    out.set_metadata("sqllm.sensitivity.source", source);
    for (const auto& kv : sums) {
        std::vector<float> v(kv.second.begin(), kv.second.end());
        out.add<float>(kv.first, {v.size()}, v);
    }
    out.finish();
}

}  // namespace llama2c
