// The tensors of an input model, whatever the file format: a safetensors
// file (memory-mapped, walked tensor by tensor) or a llama2.c .bin.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sqllm/error.hpp>
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors.hpp>

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
    virtual std::vector<float> to_float(std::size_t index) const = 0;
    /// The tensor's raw little-endian bytes, as stored.
    virtual std::vector<unsigned char> raw(std::size_t index) const = 0;
    /// The tensor will not be needed again: drop what holds it in memory.
    virtual void release(std::size_t) const {}
    /// Metadata to carry into the output.
    virtual std::map<std::string, std::string> metadata() const = 0;
    /// "safetensors" or "llama2c".
    virtual std::string format() const = 0;
    /// Which tensors are arrays of an already-quantized layer
    /// (io::find_quantized_layers); none for formats that cannot hold one.
    virtual std::vector<bool> quantized_arrays() const { return std::vector<bool>(tensors().size(), false); }
};

class safetensors_source final : public model_source {
public:
    explicit safetensors_source(const std::string& path) : file_(path) {
        for (const sio::tensor_info& t : file_.tensors())
            tensors_.push_back({t.name, t.type, t.shape});
    }
    const std::vector<source_tensor>& tensors() const override { return tensors_; }
    std::vector<float> to_float(std::size_t i) const override { return file_.to_float(file_.tensors()[i]); }
    std::vector<unsigned char> raw(std::size_t i) const override {
        const auto b = file_.bytes(file_.tensors()[i]);
        return {b.data(), b.data() + b.size()};
    }
    void release(std::size_t i) const override { file_.release(file_.tensors()[i]); }
    std::map<std::string, std::string> metadata() const override { return file_.metadata(); }
    std::string format() const override { return "safetensors"; }
    std::vector<bool> quantized_arrays() const override {
        std::vector<bool> out(tensors_.size(), false);
        for (const sio::quantized_layer_info& L : sio::find_quantized_layers(file_))
            for (const std::string& suffix : sio::quantized_suffixes())
                if (const sio::tensor_info* t = file_.find(L.name + suffix))
                    out[static_cast<std::size_t>(t - file_.tensors().data())] = true;
        return out;
    }

private:
    sio::safetensors_file file_;
    std::vector<source_tensor> tensors_;
};

/// A llama2.c model (about 1 MB to 100s of MB): read whole, tensors named as
/// in examples/llama2c/llama2c.hpp. Its config goes into the metadata ("llama2c.*"
/// keys) so the quantized checkpoint is a complete model.
class llama2c_source final : public model_source {
public:
    explicit llama2c_source(const std::string& path) : model_(llama2c::read_llama2c(path)) {
        for (const auto& t : model_.tensors)
            tensors_.push_back({t.name, sio::dtype::f32, t.shape});
    }
    const std::vector<source_tensor>& tensors() const override { return tensors_; }
    std::vector<float> to_float(std::size_t i) const override { return model_.tensors[i].data; }
    std::vector<unsigned char> raw(std::size_t i) const override {
        const auto& d = model_.tensors[i].data;
        const auto* p = reinterpret_cast<const unsigned char*>(d.data());
        return {p, p + d.size() * sizeof(float)};
    }
    std::map<std::string, std::string> metadata() const override { return llama2c::llama2c_metadata(model_.config); }
    std::string format() const override { return "llama2c"; }

private:
    llama2c::llama2c_model_file model_;
    std::vector<source_tensor> tensors_;
};

/// True when `s` ends with `suffix`.
inline bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Opens `path` by its extension: .safetensors, or .bin for llama2.c.
inline std::unique_ptr<model_source> open_model(const std::string& path) {
    if (ends_with(path, ".safetensors")) return std::make_unique<safetensors_source>(path);
    if (ends_with(path, ".bin")) return std::make_unique<llama2c_source>(path);
    throw sqllm::error(sqllm::errc::invalid_argument,
                       path + ": unknown model format (expected a .safetensors file or a llama2.c .bin)");
}

}  // namespace sqllm_tool
