// perplexity.hpp — token files and the perplexity protocol of the llama2c
// example (see data/stories260K/README.md).
//
// A token file is a stream of little-endian uint16 ids in which BOS (= 1)
// starts each story. Each story is cut into windows of at most 257 tokens
// that overlap by one (window k covers tokens [256k, 256k + 257) of its
// story); each window is evaluated from an empty context; every token after
// the first of each story is predicted exactly once. Perplexity is
// exp(mean next-token cross-entropy).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <sqllm/error.hpp>

#include "model.hpp"

namespace llama2c {

/// Reads a file of little-endian uint16 token ids. Throws sqllm::error:
/// errc::io_error when it cannot be read, errc::corrupt_data for an odd size.
inline std::vector<int> read_tokens_u16(const std::string& path) {
    std::ifstream in;
    detail::llama2c_open(in, path);
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw sqllm::error(sqllm::errc::io_error, path + ": read error");
    if (bytes.size() % 2 != 0)
        throw sqllm::error(sqllm::errc::corrupt_data, path + ": " + std::to_string(bytes.size()) +
                                                          " bytes is not a whole number of uint16 tokens");
    std::vector<int> tokens(bytes.size() / 2);
    for (std::size_t i = 0; i < tokens.size(); ++i)
        tokens[i] = bytes[2 * i] | bytes[2 * i + 1] << 8;
    return tokens;
}

/// Splits `tokens` into stories, each starting at a `bos` token (tokens before
/// the first BOS form a story of their own), and cuts each story into windows
/// of at most `window` tokens overlapping by one: window k covers tokens
/// [(window - 1)·k, (window - 1)·k + window) of its story. Every token after
/// the first of each story is the last-but-not-first token of exactly one
/// window, so predicting tokens 1 ... size - 1 of every window predicts each
/// once. Stories of one token yield no window. Throws errc::invalid_argument
/// for window < 2.
inline std::vector<std::vector<int>> story_windows(const std::vector<int>& tokens, std::size_t window = 257,
                                                   int bos = 1) {
    if (window < 2)
        throw sqllm::error(sqllm::errc::invalid_argument,
                           "story_windows: window " + std::to_string(window) + " < 2 predicts nothing");
    std::vector<std::vector<int>> out;
    for (std::size_t begin = 0; begin < tokens.size();) {
        std::size_t end = begin + 1;
        while (end < tokens.size() && tokens[end] != bos)
            ++end;
        for (std::size_t s = begin; s + 1 < end; s += window - 1)
            out.emplace_back(tokens.begin() + std::ptrdiff_t(s),
                             tokens.begin() + std::ptrdiff_t(std::min(end, s + window)));
        begin = end;
    }
    return out;
}

/// A sum of next-token negative log-likelihoods (natural log).
struct nll_sum {
    std::size_t predicted = 0;  ///< tokens predicted
    double total = 0.0;         ///< Σ −log p(token | context)

    /// Mean NLL per predicted token (0 when none).
    double mean() const { return predicted ? total / double(predicted) : 0.0; }
    /// exp(mean NLL).
    double perplexity() const { return std::exp(mean()); }
};

/// −log softmax(logits)[target] over `vocab` logits, in double.
inline double token_nll(const float* logits, std::size_t vocab, int target) {
    const float max = *std::max_element(logits, logits + vocab);
    double sum = 0.0;
    for (std::size_t v = 0; v < vocab; ++v)
        sum += std::exp(double(logits[v]) - double(max));
    return std::log(sum) - (double(logits[target]) - double(max));
}

/// Evaluates each window from an empty context (engine::forward_window) and
/// sums the NLL of its tokens 1 ... size - 1; stops after `max_predicted`
/// predictions when that is not 0 (the last window is shortened). Throws
/// what the engine throws (bad token ids, windows longer than its context).
inline nll_sum evaluate(engine& e, const std::vector<std::vector<int>>& windows, std::size_t max_predicted = 0) {
    const std::size_t vocab = std::size_t(e.get_model().config.vocab_size);
    nll_sum result;
    for (const auto& w : windows) {
        std::size_t n = w.size();
        if (max_predicted) {
            if (result.predicted >= max_predicted) break;
            n = std::min(n, max_predicted - result.predicted + 1);
        }
        const float* logits = e.forward_window(w.data(), n);
        for (std::size_t i = 0; i + 1 < n; ++i)
            result.total += token_nll(logits + i * vocab, vocab, w[i + 1]);
        result.predicted += n - 1;
    }
    return result;
}

}  // namespace llama2c
