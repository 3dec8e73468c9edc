// llama2c — run a llama2.c model through sqllm's linear-layer interface:
// perplexity over a token file, or story generation from a prompt.
//
//   llama2c perplexity <model> <tokens.u16> [--max-tokens N] [--int8]
//   llama2c generate <model> <tokenizer.bin> [--prompt TEXT] [--steps N]
//                    [--temperature T] [--seed S] [--int8]
//   llama2c calibrate <model> <tokens.u16> <out.safetensors>
//   llama2c export-hf <model.bin> <out_dir> [--dtype f32|bf16|f16] [--shards N]
//                     [--fisher IN.safetensors]
//
// Exit status: 0 on success, 2 for a usage error, 1 for any other failure
// (unreadable or malformed files, bad token ids, ...).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "calibrate.hpp"
#include "checkpoint.hpp"
#include "hf_export.hpp"
#include "llama2c_tokenizer.hpp"
#include "model.hpp"
#include "perplexity.hpp"
#include "quantized_linear.hpp"

namespace {

constexpr const char* usage_text =
    "usage:\n"
    "  llama2c perplexity <model> <tokens.u16> [--max-tokens N] [--int8]\n"
    "      perplexity of the model over a file of uint16 tokens (stories starting with BOS = 1),\n"
    "      windows of <= 257 tokens from an empty context; N > 0 stops after N predicted tokens\n"
    "  llama2c generate <model> <tokenizer.bin> [--prompt TEXT] [--steps N] [--temperature T] [--seed S] [--int8]\n"
    "      continue TEXT (default \"Once upon a time\") by up to N tokens (default 200);\n"
    "      T = 0 (default) is greedy, T > 0 samples from softmax(logits / T) seeded by S (default 42)\n"
    "  --int8: the quantized layers run sqllm's approximate int8 path (gemv_int8/gemm_int8: activations\n"
    "      and LUTs in int8, integer dot products) instead of the exact fp32 kernels\n"
    "  llama2c calibrate <model> <tokens.u16> <out.safetensors>\n"
    "      per linear layer, the sum over all tokens of each input channel's x^2: forward-only\n"
    "      sensitivities for sqllm-quantize --sensitivity (instead of Fisher information); named like\n"
    "      the model's weights (Hugging Face names for an HF model)\n"
    "  llama2c export-hf <model.bin> <out_dir> [--dtype f32|bf16|f16] [--shards N] [--fisher IN.safetensors]\n"
    "      write the model as a Hugging Face LlamaForCausalLM directory (config.json, model.safetensors or\n"
    "      N shards and their index; q/k rows permuted for HF's RoPE); --fisher also converts a llama2.c-named\n"
    "      Fisher file to <out_dir>/fisher.safetensors under the HF weight names\n"
    "<model>: a llama2.c legacy .bin checkpoint, a .safetensors checkpoint from sqllm-quantize, or a\n"
    "         Hugging Face Llama model (a directory with config.json, its index.json, or one of its\n"
    "         .safetensors files), dense (F32/F16/BF16) or quantized by sqllm-quantize\n";

/// A command-line mistake: reported with the usage text, exit status 2.
struct usage_error {
    std::string message;
};

/// Positional arguments and `--name value` options of one subcommand.
struct arguments {
    std::vector<std::string> positional;
    std::map<std::string, std::string> options;

    /// Parses argv[first, argc); options must be among `known` (`--name
    /// value`) or `flags` (`--name`, stored with the value "1").
    arguments(int argc, char** argv, int first, const std::vector<std::string>& known,
              const std::vector<std::string>& flags = {}) {
        for (int i = first; i < argc; ++i) {
            const std::string a = argv[i];
            if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
                const std::string name = a.substr(2);
                if (std::find(flags.begin(), flags.end(), name) != flags.end()) {
                    options[name] = "1";
                    continue;
                }
                if (std::find(known.begin(), known.end(), name) == known.end())
                    throw usage_error{"unknown option " + a};
                if (i + 1 >= argc) throw usage_error{"option " + a + " needs a value"};
                options[name] = argv[++i];
            } else {
                positional.push_back(a);
            }
        }
    }

    /// The value of option `name` as an integer in [lo, hi], or `fallback`.
    long long integer(const std::string& name, long long fallback, long long lo, long long hi) const {
        const auto it = options.find(name);
        if (it == options.end()) return fallback;
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(it->second.c_str(), &end, 10);
        if (it->second.empty() || *end != '\0' || errno == ERANGE || v < lo || v > hi)
            throw usage_error{"--" + name + " " + it->second + ": expected an integer in [" + std::to_string(lo) +
                              ", " + std::to_string(hi) + "]"};
        return v;
    }

    /// The value of option `name` as a finite number ≥ 0, or `fallback`.
    double non_negative(const std::string& name, double fallback) const {
        const auto it = options.find(name);
        if (it == options.end()) return fallback;
        char* end = nullptr;
        const double v = std::strtod(it->second.c_str(), &end);
        if (it->second.empty() || *end != '\0' || !std::isfinite(v) || v < 0)
            throw usage_error{"--" + name + " " + it->second + ": expected a finite number >= 0"};
        return v;
    }
};

/// With --int8, switches every quantized linear layer of m to the int8 path
/// (a Hugging Face model's q/k layers, wrapped to undo the RoPE permutation,
/// stay exact); says how many it switched. A model without one is an error.
void apply_int8_option(const arguments& args, llama2c::model& m) {
    if (!args.options.count("int8")) return;
    std::size_t on = 0, total = 0;
    for (llama2c::layer& l : m.layers)
        for (const char* kind : llama2c::linear_kinds()) {
            ++total;
            on += llama2c::set_int8(*llama2c::linear_of(l, kind), true);
        }
    if (m.classifier) on += llama2c::set_int8(*m.classifier, true);
    if (on == 0) throw usage_error{"--int8: the model has no quantized linear layer"};
    std::fprintf(stderr, "int8 path: %zu quantized linear layers (of %zu in the blocks)\n", on, total);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run_perplexity(const arguments& args) {
    if (args.positional.size() != 2) throw usage_error{"perplexity takes <model> <tokens.u16>"};
    const long long max_tokens = args.integer("max-tokens", 0, 0, 1LL << 62);

    llama2c::model m = llama2c::load_model(args.positional[0]);
    apply_int8_option(args, m);
    const auto windows = llama2c::story_windows(llama2c::read_tokens_u16(args.positional[1]));
    // A cache for the longest window, not the model's whole context (an HF
    // config may give 128k positions); evaluate refuses windows beyond it.
    std::size_t longest = 1;
    for (const auto& w : windows)
        longest = std::max(longest, w.size());
    llama2c::engine e(m, std::min(longest, std::size_t(m.config.seq_len)));
    std::printf("model: %s\n  %s\n", args.positional[0].c_str(), llama2c::summary(m).c_str());

    const auto t0 = std::chrono::steady_clock::now();
    const llama2c::nll_sum r = llama2c::evaluate(e, windows, std::size_t(max_tokens));
    const double seconds = seconds_since(t0);
    if (r.predicted == 0) {
        std::fprintf(stderr, "llama2c: %s has no token to predict\n", args.positional[1].c_str());
        return 1;
    }
    std::printf("predicted tokens: %zu\n", r.predicted);
    std::printf("mean NLL: %.6f\n", r.mean());
    std::printf("perplexity: %.4f\n", r.perplexity());
    std::printf("tokens/s: %.0f (%.3f s)\n", double(r.predicted) / seconds, seconds);
    return 0;
}

/// Index of the largest logit (the first on ties).
int argmax(const float* logits, int vocab) {
    int best = 0;
    for (int v = 1; v < vocab; ++v)
        if (logits[v] > logits[best]) best = v;
    return best;
}

/// A sample from softmax(logits / temperature), temperature > 0.
int sample(const float* logits, int vocab, double temperature, std::mt19937_64& rng) {
    const float max = logits[argmax(logits, vocab)];
    std::vector<double> p(std::size_t(vocab), 0.0);
    double sum = 0.0;
    for (int v = 0; v < vocab; ++v) {
        p[std::size_t(v)] = std::exp((double(logits[v]) - max) / temperature);
        sum += p[std::size_t(v)];
    }
    const double u = double(rng() >> 11) * 0x1.0p-53 * sum;  // uniform in [0, sum)
    double acc = 0.0;
    for (int v = 0; v < vocab; ++v) {
        acc += p[std::size_t(v)];
        if (u < acc) return v;
    }
    return argmax(logits, vocab);  // rounding put u past the last sum
}

int run_generate(const arguments& args) {
    if (args.positional.size() != 2) throw usage_error{"generate takes <model> <tokenizer.bin>"};
    const auto pos_prompt = args.options.find("prompt");
    const std::string prompt = pos_prompt == args.options.end() ? "Once upon a time" : pos_prompt->second;
    const long long steps = args.integer("steps", 200, 0, 1LL << 30);
    const double temperature = args.non_negative("temperature", 0.0);
    const long long seed = args.integer("seed", 42, 0, (1LL << 62));

    llama2c::model m = llama2c::load_model(args.positional[0]);
    apply_int8_option(args, m);
    const auto tok = llama2c::read_llama2c_tokenizer(args.positional[1], m.config.vocab_size);
    llama2c::engine e(m);
    std::mt19937_64 rng(static_cast<std::uint64_t>(seed));

    std::vector<int> tokens = tok.encode(prompt, /*bos=*/true, /*eos=*/false);
    if (tokens.size() >= e.max_positions()) {
        std::fprintf(stderr, "llama2c: the prompt has %zu tokens; the model's context is %zu\n", tokens.size(),
                     e.max_positions());
        return 1;
    }
    const std::size_t limit = std::min(e.max_positions(), tokens.size() + std::size_t(steps));
    std::fputs(tok.decode(tokens).c_str(), stdout);
    std::fflush(stdout);

    // Prefill the prompt in one batch, then decode one token at a time.
    const auto t_prefill = std::chrono::steady_clock::now();
    const float* logits =
        e.forward_window(tokens.data(), tokens.size()) + (tokens.size() - 1) * std::size_t(m.config.vocab_size);
    const double prefill_seconds = seconds_since(t_prefill);

    const auto t0 = std::chrono::steady_clock::now();
    std::size_t generated = 0;
    while (tokens.size() < limit) {
        const int next = temperature == 0.0 ? argmax(logits, m.config.vocab_size)
                                            : sample(logits, m.config.vocab_size, temperature, rng);
        if (next == llama2c::llama2c_tokenizer::bos_id || next == llama2c::llama2c_tokenizer::eos_id)
            break;  // the model ends a story by starting the next one
        std::fputs(tok.decode(tokens.back(), next).c_str(), stdout);
        std::fflush(stdout);
        tokens.push_back(next);
        ++generated;
        if (tokens.size() < limit) logits = e.forward_token(next, tokens.size() - 1);
    }
    const double seconds = seconds_since(t0);
    std::printf("\n");
    std::fprintf(stderr, "prompt: %zu tokens (prefill %.2f ms); generated %zu tokens, %.0f tokens/s\n",
                 tokens.size() - generated, prefill_seconds * 1e3, generated,
                 generated ? double(generated) / seconds : 0.0);
    return 0;
}

}  // namespace

int run_calibrate(const arguments& args) {
    if (args.positional.size() != 3) throw usage_error{"calibrate takes <model> <tokens.u16> <out.safetensors>"};
    const llama2c::model m = llama2c::load_model(args.positional[0]);
    const std::vector<int> tokens = llama2c::read_tokens_u16(args.positional[1]);
    const auto start = std::chrono::steady_clock::now();
    auto sums = llama2c::activation_second_moments(m, tokens);
    if (llama2c::is_hf_model(args.positional[0])) {
        // Named like the HF weights, for sqllm-quantize on the HF model. Sums
        // are per input channel: the q/k row order does not enter.
        std::map<std::string, std::vector<double>> renamed;
        for (auto& kv : sums)
            renamed[llama2c::hf_name_of(kv.first)] = std::move(kv.second);
        sums = std::move(renamed);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    llama2c::write_second_moments(args.positional[2], sums, tokens.size(), args.positional[1]);
    std::printf("wrote %zu per-channel sensitivities from %zu tokens to %s (%.2f s)\n", sums.size(), tokens.size(),
                args.positional[2].c_str(), seconds);
    return 0;
}

int run_export_hf(const arguments& args) {
    if (args.positional.size() != 2) throw usage_error{"export-hf takes <model.bin> <out_dir>"};
    llama2c::hf_export_options opt;
    const auto type = args.options.find("dtype");
    if (type != args.options.end()) {
        if (type->second == "f32") opt.type = sqllm::io::dtype::f32;
        else if (type->second == "bf16") opt.type = sqllm::io::dtype::bf16;
        else if (type->second == "f16") opt.type = sqllm::io::dtype::f16;
        else throw usage_error{"--dtype " + type->second + ": expected f32, bf16 or f16"};
    }
    opt.shards = std::size_t(args.integer("shards", 1, 1, 99999));
    const auto fisher = args.options.find("fisher");
    if (fisher != args.options.end()) opt.fisher = fisher->second;
    const llama2c::hf_export_result r = llama2c::export_hf(args.positional[0], args.positional[1], opt);
    for (const std::string& f : r.files)
        std::printf("wrote %s\n", f.c_str());
    std::printf("%zu bytes of weights\n", r.total_size);
    return 0;
}

int main(int argc, char** argv) {
    try {
        if (argc < 2) throw usage_error{"missing subcommand"};
        const std::string command = argv[1];
        if (command == "perplexity") return run_perplexity(arguments(argc, argv, 2, {"max-tokens"}, {"int8"}));
        if (command == "calibrate") return run_calibrate(arguments(argc, argv, 2, {}));
        if (command == "export-hf") return run_export_hf(arguments(argc, argv, 2, {"dtype", "shards", "fisher"}));
        if (command == "generate")
            return run_generate(arguments(argc, argv, 2, {"prompt", "steps", "temperature", "seed"}, {"int8"}));
        if (command == "--help" || command == "-h" || command == "help") {
            std::fputs(usage_text, stdout);
            return 0;
        }
        throw usage_error{"unknown subcommand \"" + command + "\""};
    } catch (const usage_error& e) {
        std::fprintf(stderr, "llama2c: %s\n%s", e.message.c_str(), usage_text);
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "llama2c: %s\n", e.what());
        return 1;
    }
}
