// sqllm/io/safetensors_model.hpp — a model stored as safetensors: one file,
// or the shards of a Hugging Face model directory and their index.
//
// A model is opened from any of the three spellings users have:
//   - a `.safetensors` file;
//   - a directory holding `model.safetensors.index.json` (shards) or
//     `model.safetensors`;
//   - the index itself, `<dir>/model.safetensors.index.json`:
//       {"metadata": {"total_size": N, ...},
//        "weight_map": {"<tensor name>": "<shard file name>", ...}}
// The index is checked against the shards, which are authoritative: every
// tensor it maps is in the shard it names, every tensor of every shard is
// mapped to that shard, no name is in two shards. Shard names are plain file
// names in the index's directory (no '/', no "..": a hostile index cannot
// reach other files). Every shard is opened and validated up front (mapped,
// not read: opening costs one header parse per shard).
//
// Padding tensors ("__padding__.<n>", io::is_padding_tensor: the U8 gaps
// that align a striped-layout checkpoint's arrays) are not model tensors:
// tensors(), find() and the cross-checks skip them, so each shard may hold
// its own "__padding__.0". An index need not map them, and weight_map
// entries naming one are ignored (not even their file names are opened): a
// JSON object maps a name to one shard, so no index can map every shard's
// padding, and padding carries no data to find.
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../config.hpp"
#include "../error.hpp"
#include "quantized_checkpoint.hpp"
#include "safetensors.hpp"

SQLLM_NAMESPACE_BEGIN
namespace io {

/// File names of a Hugging Face model directory.
namespace model_files {
constexpr const char* single = "model.safetensors";           ///< an unsharded model
constexpr const char* index = "model.safetensors.index.json";  ///< the shards' index
}  // namespace model_files

/// Largest index accepted. A real one is ~100 bytes a tensor (DeepSeek-V3's
/// 92k tensors: 9 MB); the limit bounds what a hostile file can make us parse.
constexpr std::size_t max_index_bytes = std::size_t(64) << 20;

/// A model in one or more safetensors files, opened and cross-checked.
class safetensors_model {
public:
    /// One tensor of the model: which shard holds it, and its header entry.
    struct tensor_ref {
        std::size_t shard = 0;
        const tensor_info* info = nullptr;
    };

    /// Opens `path`: a .safetensors file, a model directory, or an index
    /// (see the file comment). Throws sqllm::error: errc::io_error when a
    /// file cannot be read, errc::corrupt_data (naming the file) when the
    /// index is malformed or disagrees with the shards.
    explicit safetensors_model(const std::string& path, mapped_file::mode m = mapped_file::mode::map) {
        namespace fs = std::filesystem;
        std::error_code ec;
        const fs::path p(path);
        if (fs::is_directory(p, ec)) {
            directory_ = p.string();
            if (fs::exists(p / model_files::index, ec)) open_index((p / model_files::index).string(), m);
            else if (fs::exists(p / model_files::single, ec)) open_single((p / model_files::single).string(), m);
            else
                sqllm::detail::fail(errc::invalid_argument, path + ": a model directory holds " + model_files::index +
                                                                " or " + model_files::single + "; this one has neither");
        } else {
            directory_ = p.has_parent_path() ? p.parent_path().string() : std::string(".");
            if (p.filename() == model_files::index || detail::ends_with(path, ".index.json")) open_index(path, m);
            else open_single(path, m);
        }
        for (std::size_t s = 0; s < shards_.size(); ++s)
            for (const tensor_info& t : shards_[s]->tensors())
                if (!is_padding_tensor(t.name)) tensors_.push_back({s, &t});
        by_name_.resize(tensors_.size());
        for (std::size_t i = 0; i < by_name_.size(); ++i)
            by_name_[i] = i;
        std::sort(by_name_.begin(), by_name_.end(),
                  [this](std::size_t a, std::size_t b) { return tensors_[a].info->name < tensors_[b].info->name; });
        for (std::size_t i = 1; i < by_name_.size(); ++i) {
            const tensor_ref& a = tensors_[by_name_[i - 1]];
            const tensor_ref& b = tensors_[by_name_[i]];
            if (a.info->name == b.info->name)
                sqllm::detail::fail(errc::corrupt_data, where() + ": tensor \"" + printable(a.info->name) +
                                                            "\" is in two shards, " + shard_names_[a.shard] + " and " +
                                                            shard_names_[b.shard]);
        }
    }
    safetensors_model(const safetensors_model&) = delete;
    safetensors_model& operator=(const safetensors_model&) = delete;

    /// True when the model came with an index (even an index of one shard).
    bool sharded() const noexcept { return !index_path_.empty(); }
    /// The directory holding the model's files (and its config.json, if any).
    const std::string& directory() const noexcept { return directory_; }
    /// The index's path; empty for a single file.
    const std::string& index_path() const noexcept { return index_path_; }
    /// The index's "metadata" object (empty for a single file).
    const nlohmann::json& index_metadata() const noexcept { return index_metadata_; }

    std::size_t shard_count() const noexcept { return shards_.size(); }
    /// Shard `i`, in the order of the sorted shard file names.
    const safetensors_file& shard(std::size_t i) const { return *shards_.at(i); }
    /// Shard `i`'s file name, relative to directory().
    const std::string& shard_name(std::size_t i) const { return shard_names_.at(i); }

    /// Every tensor but the padding ones (see the file comment), shard by
    /// shard, each shard's in file order.
    const std::vector<tensor_ref>& tensors() const noexcept { return tensors_; }

    /// The tensor called `name`, or nullptr (also for a padding tensor's
    /// name); `shard` (if given) receives its shard. O(log n).
    const tensor_info* find(const std::string& name, std::size_t* shard = nullptr) const noexcept {
        const auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                                         [this](std::size_t i, const std::string& n) { return tensors_[i].info->name < n; });
        if (it == by_name_.end() || tensors_[*it].info->name != name) return nullptr;
        if (shard) *shard = tensors_[*it].shard;
        return tensors_[*it].info;
    }
    /// The tensor called `name`; throws errc::invalid_argument if there is none.
    const tensor_info& at(const std::string& name) const {
        const tensor_info* t = find(name);
        if (!t) sqllm::detail::fail(errc::invalid_argument, where() + ": no tensor named \"" + printable(name) + "\"");
        return *t;
    }
    /// The shard holding tensor `name`; throws errc::invalid_argument if there is none.
    const safetensors_file& file_of(const std::string& name) const {
        std::size_t s = 0;
        if (!find(name, &s))
            sqllm::detail::fail(errc::invalid_argument, where() + ": no tensor named \"" + printable(name) + "\"");
        return *shards_[s];
    }
    /// Tensor `name` converted to float (F32, F16, BF16).
    std::vector<float> to_float(const std::string& name) const {
        std::size_t s = 0;
        const tensor_info* t = find(name, &s);
        if (!t) sqllm::detail::fail(errc::invalid_argument, where() + ": no tensor named \"" + printable(name) + "\"");
        return shards_[s]->to_float(*t);
    }

    /// Every quantized layer of every shard (io::find_quantized_layers), shard
    /// by shard. A layer's arrays must share a shard (sqllm writes them so).
    std::vector<quantized_layer_info> quantized_layers() const {
        std::vector<quantized_layer_info> out;
        for (const auto& s : shards_) {
            auto layers = find_quantized_layers(*s);
            out.insert(out.end(), std::make_move_iterator(layers.begin()), std::make_move_iterator(layers.end()));
        }
        return out;
    }
    /// Loads quantized layer `L` (of either layout) from the shard holding
    /// its codes (io::load_quantized; a reference layer is repacked through
    /// `exec`). Throws errc::invalid_argument if the model has no such layer.
    template <int Bits, class Lut = float, class Sparse = default_sparse, class Layout = default_layout<Bits>,
              class Executor = sequential_executor>
    quantized_matrix<Bits, Lut, Sparse, Layout> load_quantized(const quantized_layer_info& L,
                                                               const Executor& exec = Executor{}) const {
        return io::load_quantized<Bits, Lut, Sparse, Layout>(file_of(L.codes_tensor()), L, exec);
    }
    /// A view of striped-layout layer `L` in place in the shard holding it
    /// (io::view_quantized: no copy; valid while the model is alive). A
    /// reference-layout layer is refused with errc::invalid_argument, as is
    /// a layer the model does not have.
    template <int Bits, class Lut = float, class Sparse = default_sparse>
    quantized_view<Bits, Lut, Sparse, striped_layout<Bits>> view_quantized(const quantized_layer_info& L) const {
        return io::view_quantized<Bits, Lut, Sparse>(file_of(L.codes_tensor()), L);
    }

private:
    std::string where() const { return index_path_.empty() ? (shards_.empty() ? directory_ : shards_[0]->path()) : index_path_; }

    void open_single(const std::string& path, mapped_file::mode m) {
        shards_.push_back(std::make_unique<safetensors_file>(path, m));
        shard_names_.push_back(std::filesystem::path(path).filename().string());
    }

    void open_index(const std::string& path, mapped_file::mode m) {
        index_path_ = path;
        const mapped_file text(path);  // mapped: the size is checked before any byte is read
        auto bad = [&](const std::string& what) { sqllm::detail::fail(errc::corrupt_data, path + ": " + what); };
        if (text.size() > max_index_bytes)
            bad("index is " + std::to_string(text.size()) + " bytes, over the 64 MiB limit");
        nlohmann::json j = nlohmann::json::parse(text.data(), text.data() + text.size(), nullptr, false);
        if (j.is_discarded()) bad("index is not valid JSON");
        if (!j.is_object()) bad("index is not a JSON object");
        const auto wm = j.find("weight_map");
        if (wm == j.end() || !wm->is_object()) bad("index has no \"weight_map\" object");
        std::size_t named = 0;  // entries that are not padding (those are ignored: see the file comment)
        for (auto it = wm->begin(); it != wm->end(); ++it)
            named += is_padding_tensor(it.key()) ? 0 : 1;
        if (named == 0) bad("index maps no tensor");
        const auto md = j.find("metadata");
        if (md != j.end()) {
            if (!md->is_object()) bad("index \"metadata\" is not an object");
            index_metadata_ = *md;
        }
        // Shard names: plain file names, sorted (HF numbers them in order).
        std::map<std::string, std::size_t> shard_of_name;
        for (auto it = wm->begin(); it != wm->end(); ++it) {
            if (is_padding_tensor(it.key())) continue;
            if (!it.value().is_string()) bad("weight_map entry \"" + printable(it.key()) + "\" is not a file name");
            const std::string f = it.value().get<std::string>();
            if (f.empty() || f == "." || f == ".." || f.find('/') != std::string::npos ||
                f.find('\\') != std::string::npos || f.find('\0') != std::string::npos)
                bad("weight_map entry \"" + printable(it.key()) + "\" names \"" + printable(f) +
                    "\", not a file in the index's directory");
            shard_of_name.emplace(f, 0);
        }
        for (auto& kv : shard_of_name) {
            kv.second = shard_names_.size();
            shard_names_.push_back(kv.first);
            shards_.push_back(std::make_unique<safetensors_file>(
                (std::filesystem::path(directory_) / kv.first).string(), m));
        }
        // The index against the shards, both ways.
        std::size_t mapped = 0;
        for (auto it = wm->begin(); it != wm->end(); ++it) {
            if (is_padding_tensor(it.key())) continue;
            const std::size_t s = shard_of_name.at(it.value().get<std::string>());
            if (!shards_[s]->find(it.key()))
                bad("maps \"" + printable(it.key()) + "\" to " + shard_names_[s] + ", which has no such tensor");
            ++mapped;
        }
        std::size_t present = 0;
        for (std::size_t s = 0; s < shards_.size(); ++s)
            for (const tensor_info& t : shards_[s]->tensors()) {
                if (is_padding_tensor(t.name)) continue;
                const auto it = wm->find(t.name);
                if (it == wm->end())
                    bad(shard_names_[s] + " holds \"" + printable(t.name) + "\", which the index does not map");
                if (it->get<std::string>() != shard_names_[s])
                    bad(shard_names_[s] + " holds \"" + printable(t.name) + "\", which the index maps to " +
                        printable(it->get<std::string>()));
                ++present;
            }
        if (present != mapped) bad("maps " + std::to_string(mapped) + " tensors, the shards hold " + std::to_string(present));
    }

    std::string directory_, index_path_;
    nlohmann::json index_metadata_ = nlohmann::json::object();
    std::vector<std::unique_ptr<safetensors_file>> shards_;
    std::vector<std::string> shard_names_;
    std::vector<tensor_ref> tensors_;
    std::vector<std::size_t> by_name_;  // indices of tensors_ sorted by name
};

}  // namespace io
SQLLM_NAMESPACE_END
