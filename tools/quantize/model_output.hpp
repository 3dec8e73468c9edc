// What sqllm-quantize writes besides the tensors: a model directory's shard
// index, quant_config.json, the input's config and tokenizer files, and the
// record a partial run (--part K/N) leaves for --merge.
//
// A run over all shards and N partial runs plus a merge produce the same
// bytes: both describe what they wrote as shard_records and layer configs,
// and the index and quant_config.json are computed from those alone
// (sorted, no times, no host names).
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sqllm/error.hpp>
#include <sqllm/io/mapped_file.hpp>
#include <sqllm/io/quant_config.hpp>
#include <sqllm/io/safetensors_model.hpp>
#include <sqllm/io/safetensors_writer.hpp>

namespace sqllm_tool {

namespace sio = sqllm::io;

/// Files of a Hugging Face model directory that are copied unchanged into
/// the output directory: the model's config and its tokenizer.
inline const std::vector<std::string>& carried_files() {
    static const std::vector<std::string> names{
        "config.json",          "generation_config.json", "tokenizer.json",    "tokenizer.model",
        "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
        "merges.txt",           "chat_template.json",     "chat_template.jinja"};
    return names;
}

/// One output file of a run: its name in the output directory, the tensors
/// it holds in order, and their total bytes (the index's total_size).
struct shard_record {
    std::string file;
    std::vector<std::string> tensors;
    std::size_t data_bytes = 0;
};

/// What a run (or one part of it) wrote.
struct run_record {
    std::string settings;       ///< every option that changes the output, canonical: parts must agree
    std::size_t part = 1, parts = 1;
    bool sharded = false;       ///< the input had an index, so the output gets one
    std::vector<std::string> input_shards;  ///< all of the input's file names, in order
    std::vector<shard_record> shards;       ///< the files this run wrote
    sio::quant_config config;               ///< producer, settings and the layers this run wrote
};

/// The index of a sharded output: weight_map sorted by name (as Hugging Face
/// writes it), total_size the bytes of all tensors.
inline std::string index_json(const std::vector<shard_record>& shards) {
    nlohmann::json wm = nlohmann::json::object();  // std::map: sorted keys
    std::size_t total = 0;
    for (const shard_record& s : shards) {
        total += s.data_bytes;
        for (const std::string& t : s.tensors)
            wm[t] = s.file;
    }
    nlohmann::ordered_json j;
    j["metadata"] = {{"total_size", total}};
    j["weight_map"] = wm;
    return j.dump(2) + "\n";
}

/// The name of part K of N's record in the output directory.
inline std::string part_record_name(std::size_t part, std::size_t parts) {
    return ".sqllm-part-" + std::to_string(part) + "-of-" + std::to_string(parts) + ".json";
}

inline std::string to_json(const run_record& r) {
    nlohmann::ordered_json j;
    j["sqllm_part"] = r.part;
    j["parts"] = r.parts;
    j["settings"] = r.settings;
    j["sharded"] = r.sharded;
    j["input_shards"] = r.input_shards;
    j["shards"] = nlohmann::ordered_json::array();
    for (const shard_record& s : r.shards)
        j["shards"].push_back({{"file", s.file}, {"tensors", s.tensors}, {"data_bytes", s.data_bytes}});
    j["quant_config"] = nlohmann::ordered_json::parse(r.config.dump());
    return j.dump(1) + "\n";
}

/// Reads a part record; throws errc::corrupt_data naming the file.
inline run_record read_part_record(const std::string& path) {
    const sio::mapped_file f(path);
    auto bad = [&](const std::string& what) {
        throw sqllm::error(sqllm::errc::corrupt_data, path + ": not a record of a partial run (" + what + ")");
    };
    if (f.size() > (std::size_t(256) << 20)) bad("over 256 MiB");
    const auto j = nlohmann::json::parse(f.data(), f.data() + f.size(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) bad("not a JSON object");
    run_record r;
    try {
        r.part = j.at("sqllm_part").get<std::size_t>();
        r.parts = j.at("parts").get<std::size_t>();
        r.settings = j.at("settings").get<std::string>();
        r.sharded = j.at("sharded").get<bool>();
        r.input_shards = j.at("input_shards").get<std::vector<std::string>>();
        for (const auto& s : j.at("shards")) {
            shard_record sr;
            sr.file = s.at("file").get<std::string>();
            sr.tensors = s.at("tensors").get<std::vector<std::string>>();
            sr.data_bytes = s.at("data_bytes").get<std::size_t>();
            r.shards.push_back(std::move(sr));
        }
        r.config = sio::quant_config::parse(j.at("quant_config").dump(), path);
    } catch (const nlohmann::json::exception& e) {
        bad(e.what());
    }
    return r;
}

/// Which input shards part K of N quantizes: contiguous runs of the sorted
/// shard list, as even as the count allows (shard i goes to part i·N/S + 1).
inline std::vector<bool> shards_of_part(std::size_t shards, std::size_t part, std::size_t parts) {
    std::vector<bool> mine(shards, false);
    for (std::size_t i = 0; i < shards; ++i)
        mine[i] = i * parts / shards + 1 == part;
    return mine;
}

/// Parses "K/N" (1 <= K <= N).
inline void parse_part(const std::string& text, std::size_t& part, std::size_t& parts) {
    const auto slash = text.find('/');
    auto bad = [&] {
        throw sqllm::error(sqllm::errc::invalid_argument,
                           "--part \"" + text + "\": expected K/N with 1 <= K <= N, e.g. 2/4");
    };
    if (slash == std::string::npos) bad();
    try {
        std::size_t a = 0, b = 0;
        const unsigned long k = std::stoul(text.substr(0, slash), &a);
        const unsigned long n = std::stoul(text.substr(slash + 1), &b);
        if (a != slash || b != text.size() - slash - 1 || k < 1 || n < 1 || k > n || n > 100000) bad();
        part = k;
        parts = n;
    } catch (const std::logic_error&) {
        bad();
    }
}

/// A small text file written as a temporary and renamed into place by commit().
inline std::unique_ptr<sio::temporary_output> prepare_text(const std::string& path, const std::string& text) {
    auto t = std::make_unique<sio::temporary_output>(path);
    t->write(text.data(), text.size());
    t->seal();
    return t;
}

/// A copy of `from`, as a sealed temporary of `to`.
inline std::unique_ptr<sio::temporary_output> prepare_copy(const std::string& from, const std::string& to) {
    const sio::mapped_file f(from, sio::mapped_file::mode::read);
    auto t = std::make_unique<sio::temporary_output>(to);
    if (f.size()) t->write(f.data(), f.size());
    t->seal();
    return t;
}

/// The quant_config.json of a run: its record, "wbits" the width most weights have.
inline std::string quant_config_json(sio::quant_config qc) {
    qc.wbits = qc.majority_bits();
    return qc.dump();
}

}  // namespace sqllm_tool
