// hf_export.hpp — a llama2.c model written as a Hugging Face
// LlamaForCausalLM directory (what `llama2c export-hf` does):
//
//   <out>/config.json                    hf_config_json
//   <out>/model.safetensors              every weight under its HF name (hf_names.hpp),
//                                        q/k rows permuted as transformers'
//                                        convert_llama_weights_to_hf.py does, in F32, BF16 or F16
//   or, with shards = N > 1,
//   <out>/model-0000i-of-0000N.safetensors   the same tensors, in order, split into N
//                                            runs of about equal bytes
//   <out>/model.safetensors.index.json       {"metadata": {"total_size": bytes of all tensors},
//                                             "weight_map": {name: shard file}}
//   <out>/fisher.safetensors             (only with a Fisher file) the llama2.c-named
//                                        sensitivities under the HF weight names, q/k rows
//                                        permuted the same way, F32
//
// Safetensors files carry the metadata {"format": "pt"} transformers asks for.
// Every file is written to a temporary and renamed into place only after all
// of them were written; then model files of an earlier export in another
// layout (a model.safetensors beside new shards, an index beside a new single
// file, shards of another count) are removed, so the directory holds one model.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <sqllm/error.hpp>
#include <sqllm/io/safetensors.hpp>
#include <sqllm/io/safetensors_model.hpp>
#include <sqllm/io/safetensors_writer.hpp>
#include <sqllm/types/bfloat16.hpp>
#include <sqllm/types/half.hpp>

#include "hf_config.hpp"
#include "hf_names.hpp"
#include "llama2c.hpp"

namespace llama2c {

/// What export_hf writes.
struct hf_export_options {
    sqllm::io::dtype type = sqllm::io::dtype::f32;  ///< weights as F32, BF16 or F16 (rounded to nearest even)
    std::size_t shards = 1;                         ///< 1: model.safetensors; N > 1: N shards and an index
    std::string fisher;                             ///< a llama2.c-named Fisher file to convert too ("" for none)
};

/// The files export_hf wrote.
struct hf_export_result {
    std::vector<std::string> files;  ///< paths, config.json first
    std::size_t total_size = 0;      ///< bytes of tensor data over all model files
};

/// The shard file name HF uses: model-00001-of-00003.safetensors.
inline std::string hf_shard_name(std::size_t i, std::size_t n) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
    return buf;
}

namespace detail {

/// One tensor to write: its HF name, shape and float values (already in HF row order).
struct hf_tensor {
    std::string name;
    std::vector<std::size_t> shape;
    std::vector<float> data;
};

/// Adds `t` to `out` as `type`; throws errc::out_of_range for a value the
/// type cannot hold (F16 overflows at 65504).
inline void hf_add(sqllm::io::safetensors_writer& out, const hf_tensor& t, sqllm::io::dtype type) {
    using sqllm::io::dtype;
    if (type == dtype::f32) {
        out.add(t.name, type, t.shape, t.data.data(), t.data.size() * sizeof(float));
        return;
    }
    std::vector<std::uint16_t> bits(t.data.size());
    for (std::size_t i = 0; i < bits.size(); ++i) {
        float back = 0.0f;
        if (type == dtype::bf16) {
            const sqllm::bfloat16 b(t.data[i]);
            bits[i] = b.bits;
            back = static_cast<float>(b);
        } else {
            const sqllm::half h(t.data[i]);
            bits[i] = h.bits;
            back = static_cast<float>(h);
        }
        if (!std::isfinite(back))
            throw sqllm::error(sqllm::errc::out_of_range, "export-hf: tensor \"" + t.name + "\": value " +
                                                              std::to_string(t.data[i]) + " overflows " +
                                                              sqllm::io::to_string(type));
    }
    // Little-endian bytes, as the format stores them, whatever the host.
    std::vector<unsigned char> bytes(2 * bits.size());
    for (std::size_t i = 0; i < bits.size(); ++i) {
        bytes[2 * i] = static_cast<unsigned char>(bits[i] & 0xff);
        bytes[2 * i + 1] = static_cast<unsigned char>(bits[i] >> 8);
    }
    out.add(t.name, type, t.shape, bytes.data(), bytes.size());
}

/// Writes `text` to `path` through a temporary; commit() renames it.
inline std::unique_ptr<sqllm::io::temporary_output> hf_prepare_text(const std::string& path, const std::string& text) {
    auto f = std::make_unique<sqllm::io::temporary_output>(path);
    f->write(text.data(), text.size());
    f->seal();
    return f;
}

}  // namespace detail

/// Writes the llama2.c model `bin` (legacy .bin, read_llama2c) as an HF
/// directory `out_dir` (created if missing; see the file comment). Throws
/// sqllm::error: what read_llama2c and the writers throw; errc::invalid_argument
/// for a dtype other than F32/BF16/F16 or shards outside [1, tensors];
/// errc::corrupt_data for a Fisher tensor that is not a weight of the model,
/// errc::shape_mismatch for one of the wrong shape; errc::out_of_range for a
/// weight that overflows F16.
inline hf_export_result export_hf(const std::string& bin, const std::string& out_dir, const hf_export_options& opt) {
    using sqllm::io::dtype;
    namespace fs = std::filesystem;
    if (opt.type != dtype::f32 && opt.type != dtype::bf16 && opt.type != dtype::f16)
        throw sqllm::error(sqllm::errc::invalid_argument, std::string("export-hf: weights are F32, BF16 or F16, not ") +
                                                              sqllm::io::to_string(opt.type));
    const llama2c_model_file file = read_llama2c(bin);
    const llama2c_config& c = file.config;
    const std::size_t head_size = std::size_t(c.head_size());

    // The HF order: embedding; per layer its norm, attention, norm, MLP; final norm; head.
    std::vector<std::string> order{"tok_embeddings"};
    for (int l = 0; l < c.n_layers; ++l)
        for (const char* kind : {"rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w3", "w2"})
            order.push_back("layers." + std::to_string(l) + "." + kind);
    order.push_back("rms_final");
    if (!c.shared_classifier) order.push_back("output");
    const auto to_hf = [&](const std::string& name, const std::vector<std::size_t>& shape, std::vector<float> data) {
        if (hf_permutes_rows(name)) data = hf_permute_rows(data, shape[0], shape[1], head_size, /*to_hf=*/true);
        return detail::hf_tensor{hf_name_of(name), shape, std::move(data)};
    };
    std::vector<detail::hf_tensor> tensors;
    for (const std::string& name : order) {
        const llama2c_tensor& t = file.at(name);
        tensors.push_back(to_hf(name, t.shape, t.data));
    }
    if (opt.shards < 1 || opt.shards > tensors.size())
        throw sqllm::error(sqllm::errc::invalid_argument, "export-hf: " + std::to_string(opt.shards) +
                                                              " shards for " + std::to_string(tensors.size()) +
                                                              " tensors (1 ... " + std::to_string(tensors.size()) + ")");

    std::vector<detail::hf_tensor> fisher;
    if (!opt.fisher.empty()) {
        const sqllm::io::safetensors_file f(opt.fisher);
        for (const auto& t : f.tensors()) {
            if (sqllm::io::is_padding_tensor(t.name)) continue;  // alignment only, no data
            const llama2c_tensor* w = file.find(t.name);
            if (!w || hf_name_of(t.name).empty())
                throw sqllm::error(sqllm::errc::corrupt_data, opt.fisher + ": tensor \"" + sqllm::io::printable(t.name) +
                                                                  "\" is not a weight of " + bin);
            if (t.shape != w->shape)
                throw sqllm::error(sqllm::errc::shape_mismatch, opt.fisher + ": \"" + t.name + "\" is " +
                                                                    t.describe() + " but the weight is " +
                                                                    std::to_string(w->shape[0]) +
                                                                    (w->shape.size() > 1 ? " x " + std::to_string(w->shape[1]) : ""));
            fisher.push_back(to_hf(t.name, t.shape, f.to_float(t)));
        }
        if (fisher.empty())
            throw sqllm::error(sqllm::errc::corrupt_data, opt.fisher + ": holds no tensor");
    }

    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (!fs::is_directory(out_dir, ec))
        throw sqllm::error(sqllm::errc::io_error, out_dir + ": cannot create the output directory");
    const auto in_dir = [&](const std::string& name) { return (fs::path(out_dir) / name).string(); };

    // Shards: consecutive runs of about total / N bytes, none empty.
    const std::size_t n = opt.shards, elem = sqllm::io::size_of(opt.type);
    std::size_t total = 0;
    for (const auto& t : tensors)
        total += t.data.size() * elem;
    std::vector<std::size_t> shard_of(tensors.size());
    {
        std::size_t shard = 0, bytes = 0;  // bytes: of tensors 0 ... i - 1
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            // Move on once this shard has its share, or when every tensor left must start a shard of its own.
            const std::size_t left = tensors.size() - i, unstarted = n - 1 - shard;
            if (i > 0 && unstarted > 0 && (left <= unstarted || bytes >= total / n * (shard + 1))) ++shard;
            shard_of[i] = shard;
            bytes += tensors[i].data.size() * elem;
        }
    }

    hf_export_result result;
    result.total_size = total;
    const std::string type_name = opt.type == dtype::f32 ? "float32" : opt.type == dtype::bf16 ? "bfloat16" : "float16";
    std::vector<std::unique_ptr<sqllm::io::temporary_output>> texts;
    texts.push_back(detail::hf_prepare_text(in_dir("config.json"), hf_config_json(c, type_name).dump(2) + "\n"));
    result.files.push_back(in_dir("config.json"));

    std::vector<std::unique_ptr<sqllm::io::safetensors_writer>> writers;
    std::map<std::string, std::string> weight_map;
    std::vector<std::string> model_files;
    for (std::size_t s = 0; s < n; ++s) {
        const std::string name = n == 1 ? std::string(sqllm::io::model_files::single) : hf_shard_name(s, n);
        model_files.push_back(name);
        writers.push_back(std::make_unique<sqllm::io::safetensors_writer>(in_dir(name)));
        writers.back()->set_metadata("format", "pt");
        for (std::size_t i = 0; i < tensors.size(); ++i)
            if (shard_of[i] == s) {
                detail::hf_add(*writers.back(), tensors[i], opt.type);
                weight_map[tensors[i].name] = name;
            }
        writers.back()->prepare();
        result.files.push_back(in_dir(name));
    }
    if (n > 1) {
        nlohmann::ordered_json index;
        index["metadata"] = {{"total_size", total}};
        index["weight_map"] = weight_map;  // sorted by name, as transformers writes it
        texts.push_back(detail::hf_prepare_text(in_dir("model.safetensors.index.json"), index.dump(2) + "\n"));
        result.files.push_back(in_dir("model.safetensors.index.json"));
    }
    if (!fisher.empty()) {
        writers.push_back(std::make_unique<sqllm::io::safetensors_writer>(in_dir("fisher.safetensors")));
        writers.back()->set_metadata("format", "pt");
        for (const auto& t : fisher)
            detail::hf_add(*writers.back(), t, dtype::f32);
        writers.back()->prepare();
        result.files.push_back(in_dir("fisher.safetensors"));
    }
    for (auto& w : writers)
        w->commit();
    for (auto& t : texts)
        t->commit();

    // Model files of an earlier export in another layout would shadow or confuse this one.
    static const std::regex shard_pattern("model-[0-9]{5}-of-[0-9]{5}\\.safetensors");
    for (const auto& entry : fs::directory_iterator(out_dir, ec)) {
        const std::string name = entry.path().filename().string();
        const bool ours = std::find(model_files.begin(), model_files.end(), name) != model_files.end();
        const bool stale = !ours && (std::regex_match(name, shard_pattern) || name == "model.safetensors" ||
                                     (n == 1 && name == "model.safetensors.index.json"));
        if (stale && entry.is_regular_file(ec)) fs::remove(entry.path(), ec);
    }
    return result;
}

}  // namespace llama2c
