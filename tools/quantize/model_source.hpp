// The tensors of an input model, whatever the file format: safetensors (one
// file or a sharded Hugging Face directory, memory-mapped, walked tensor by
// tensor) or a llama2.c .bin. Padding tensors ("__padding__.<n>", the U8
// gaps that align a striped-layout file: io::is_padding_tensor) are not the
// model's: they are never listed, copied or quantized (an output file gets
// its own, where its layout needs them).
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sqllm/core/executor.hpp>
#include <sqllm/core/executor_ref.hpp>
#include <sqllm/error.hpp>
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors.hpp>
#include <sqllm/io/safetensors_model.hpp>

// The llama2.c .bin reader belongs to the llama2c example (examples/llama2c,
// on this target's include path; see tools/CMakeLists.txt).
#include "llama2c.hpp"
#include "llama2c_metadata.hpp"

namespace sqllm_tool {

namespace sio = sqllm::io;

/// One input tensor: its header and how to get its contents.
struct source_tensor {
    std::string name;
    sio::dtype type = sio::dtype::f32;
    std::vector<std::size_t> shape;
    std::size_t shard = 0;  ///< which of the model's files holds it
    std::size_t entry = 0;  ///< the source's own index of it (safetensors: in safetensors_model::tensors())
    bool is_float() const { return type == sio::dtype::f32 || type == sio::dtype::f16 || type == sio::dtype::bf16; }
    std::string describe() const {
        sio::tensor_info t;
        t.type = type;
        t.shape = shape;
        return t.describe();
    }
};

/// A model's tensors in file order, read one at a time.
class model_source {
public:
    virtual ~model_source() = default;
    virtual const std::vector<source_tensor>& tensors() const = 0;
    /// The tensor as float (float dtypes only).
    /// Converts on `exec` into `out`, resized to fit: a buffer reused from
    /// tensor to tensor is not page-faulted and zeroed afresh each time.
    virtual void to_float(std::size_t index, std::vector<float>& out, sqllm::executor_ref exec) const = 0;
    /// The tensor's raw little-endian bytes, as stored.
    virtual std::vector<unsigned char> raw(std::size_t index) const = 0;
    /// The tensor will not be needed again: drop what holds it in memory.
    virtual void release(std::size_t) const {}
    /// Metadata of input file `shard`, to carry into its output file.
    virtual std::map<std::string, std::string> metadata(std::size_t shard) const = 0;
    /// The model's files: one, or the shards of a Hugging Face directory.
    virtual std::size_t shard_count() const { return 1; }
    /// File `s`'s name (the output file of a directory output takes it).
    virtual std::string shard_name(std::size_t) const { return "model.safetensors"; }
    /// True when the model came with a shard index.
    virtual bool sharded() const { return false; }
    /// The directory of the model's files (its config.json and tokenizer, if any).
    virtual std::string directory() const = 0;
    /// "safetensors" or "llama2c".
    virtual std::string format() const = 0;
    /// Which tensors are arrays of an already-quantized layer
    /// (io::find_quantized_layers); none for formats that cannot hold one.
    virtual std::vector<bool> quantized_arrays() const { return std::vector<bool>(tensors().size(), false); }
    /// The code layout of file `shard`'s quantized layers ("sqllm.layout"
    /// metadata; reference when absent): its output file keeps it.
    virtual sio::checkpoint_layout layout(std::size_t) const { return sio::checkpoint_layout::reference; }
};

/// A safetensors model: one file, or a sharded Hugging Face directory
/// (io::safetensors_model), memory-mapped and walked tensor by tensor.
class safetensors_source final : public model_source {
public:
    explicit safetensors_source(const std::string& path) : model_(path) {
        const auto& all = model_.tensors();  // without padding tensors (safetensors_model skips them)
        for (std::size_t e = 0; e < all.size(); ++e)
            if (!sio::is_padding_tensor(all[e].info->name))
                tensors_.push_back({all[e].info->name, all[e].info->type, all[e].info->shape, all[e].shard, e});
    }
    const std::vector<source_tensor>& tensors() const override { return tensors_; }
    sio::checkpoint_layout layout(std::size_t shard) const override {
        const auto& md = model_.shard(shard).metadata();
        const auto it = md.find(sio::checkpoint_keys::layout);
        return it != md.end() && it->second == "striped" ? sio::checkpoint_layout::striped
                                                         : sio::checkpoint_layout::reference;
    }
    void to_float(std::size_t i, std::vector<float>& out, sqllm::executor_ref exec) const override {
        out.resize(info(i).numel());
        file(i).to_float(info(i), sqllm::span<float>(out.data(), out.size()), exec);
    }
    std::vector<unsigned char> raw(std::size_t i) const override {
        const auto b = file(i).bytes(info(i));
        return {b.data(), b.data() + b.size()};
    }
    void release(std::size_t i) const override { file(i).release(info(i)); }
    std::map<std::string, std::string> metadata(std::size_t shard) const override {
        return model_.shard(shard).metadata();
    }
    std::string format() const override { return "safetensors"; }
    std::size_t shard_count() const override { return model_.shard_count(); }
    std::string shard_name(std::size_t s) const override { return model_.shard_name(s); }
    bool sharded() const override { return model_.sharded(); }
    std::string directory() const override { return model_.directory(); }
    std::vector<bool> quantized_arrays() const override {
        std::vector<bool> out(tensors_.size(), false);
        std::map<std::string, std::size_t> index;
        for (std::size_t i = 0; i < tensors_.size(); ++i)
            index.emplace(tensors_[i].name, i);
        for (const sio::quantized_layer_info& L : model_.quantized_layers())
            for (const std::string& suffix : sio::quantized_suffixes()) {
                const auto it = index.find(L.name + suffix);
                if (it != index.end()) out[it->second] = true;
            }
        return out;
    }

private:
    const sio::safetensors_file& file(std::size_t i) const { return model_.shard(tensors_[i].shard); }
    const sio::tensor_info& info(std::size_t i) const { return *model_.tensors()[tensors_[i].entry].info; }

    sio::safetensors_model model_;
    std::vector<source_tensor> tensors_;
};

/// A llama2.c model (about 1 MB to 100s of MB): read whole, tensors named as
/// in examples/llama2c/llama2c.hpp. Its config goes into the metadata ("llama2c.*"
/// keys) so the quantized checkpoint is a complete model.
class llama2c_source final : public model_source {
public:
    explicit llama2c_source(const std::string& path) : path_(path), model_(llama2c::read_llama2c(path)) {
        for (const auto& t : model_.tensors)
            tensors_.push_back({t.name, sio::dtype::f32, t.shape});
    }
    const std::vector<source_tensor>& tensors() const override { return tensors_; }
    void to_float(std::size_t i, std::vector<float>& out, sqllm::executor_ref) const override {
        out = model_.tensors[i].data;
    }
    std::vector<unsigned char> raw(std::size_t i) const override {
        const auto& d = model_.tensors[i].data;
        const auto* p = reinterpret_cast<const unsigned char*>(d.data());
        return {p, p + d.size() * sizeof(float)};
    }
    std::map<std::string, std::string> metadata(std::size_t) const override {
        return llama2c::llama2c_metadata(model_.config);
    }
    std::string format() const override { return "llama2c"; }
    std::string directory() const override {
        const std::filesystem::path p(path_);
        return p.has_parent_path() ? p.parent_path().string() : std::string(".");
    }

private:
    std::string path_;
    llama2c::llama2c_model_file model_;
    std::vector<source_tensor> tensors_;
};

/// True when `s` ends with `suffix`.
inline bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Opens `path`: a llama2.c .bin; else safetensors (a .safetensors file, a
/// Hugging Face model directory, or its model.safetensors.index.json).
inline std::unique_ptr<model_source> open_model(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec) || ends_with(path, ".safetensors") || ends_with(path, ".index.json"))
        return std::make_unique<safetensors_source>(path);
    if (ends_with(path, ".bin")) return std::make_unique<llama2c_source>(path);
    throw sqllm::error(sqllm::errc::invalid_argument,
                       path + ": unknown model format (expected a .safetensors file, a Hugging Face model directory "
                              "or its model.safetensors.index.json, or a llama2.c .bin)");
}

}  // namespace sqllm_tool
