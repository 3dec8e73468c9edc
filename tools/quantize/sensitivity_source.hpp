// Where sqllm-quantize's sensitivities come from (--sensitivity FILE):
// - a safetensors file of tensors named like the weights, [rows, cols]
//   (e.g. diagonal Fisher information) or [cols] (per input column, e.g.
//   activation E[x²]), F32/F16/BF16; every tensor must be a quantized weight;
// - a llama.cpp importance matrix (GGUF imatrix or legacy .dat,
//   sqllm/io/imatrix.hpp): per input column E[x²] = in_sum2 / counts; entries
//   are found by the weight's name or its llama.cpp equivalent
//   (io::gguf_weight_name), entries for weights not quantized are ignored.
//
// Usage (main.cpp):
//   auto sens = sqllm_tool::open_sensitivity(path);
//   sens->check(selected_names_and_shapes, model_path);  // before any work
//   bool per_column = false;
//   std::vector<float> s = sens->load(name, rows, cols, per_column, executor);
//   // per_column: s has cols values (broadcast_rows), else rows × cols
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <sqllm/core/executor.hpp>
#include <sqllm/core/executor_ref.hpp>
#include <sqllm/error.hpp>
#include <sqllm/io/imatrix.hpp>
#include <sqllm/io/mapped_file.hpp>
#include <sqllm/io/safetensors.hpp>

namespace sqllm_tool {

/// Names and shapes of the weights to quantize.
using weight_list = std::vector<std::pair<std::string, std::vector<std::size_t>>>;

/// A file of sensitivities for the weights being quantized.
class sensitivity_source {
public:
    virtual ~sensitivity_source() = default;
    /// Checks, before any work, that every weight of `selected` (2-D) has a
    /// sensitivity of a usable shape, and for a safetensors file that the
    /// file holds nothing else. `model` names the model in messages.
    /// Throws sqllm::error naming the file and the weight.
    virtual void check(const weight_list& selected, const std::string& model = "the model") = 0;
    /// The sensitivities of `weight` ([rows, cols]): rows × cols values, or
    /// cols values (per_column = true) to broadcast over the rows; large ones
    /// are converted on `exec`.
    virtual std::vector<float> load(const std::string& weight, std::size_t rows, std::size_t cols,
                                    bool& per_column, sqllm::executor_ref exec) {
        std::vector<float> out;
        load(weight, rows, cols, per_column, exec, out);
        return out;
    }
    /// The same into `out` (resized to fit; a buffer reused across weights
    /// is not page-faulted and zeroed afresh for each).
    virtual void load(const std::string& weight, std::size_t rows, std::size_t cols, bool& per_column,
                      sqllm::executor_ref exec, std::vector<float>& out) = 0;
    /// What the sensitivities are, for the output's metadata:
    /// "fisher:<file>" or "imatrix:<file> (N chunks of M tokens)".
    virtual std::string describe() const = 0;
    /// The file.
    virtual const std::string& path() const = 0;
};

/// Sensitivities in a safetensors file named like the weights.
class safetensors_sensitivity final : public sensitivity_source {
public:
    explicit safetensors_sensitivity(const std::string& path) : file_(path) {}

    void check(const weight_list& selected, const std::string& model) override {
        std::set<std::string> wanted;
        for (const auto& w : selected)
            wanted.insert(w.first);
        for (const auto& t : file_.tensors())
            if (!sqllm::io::is_padding_tensor(t.name) && !wanted.count(t.name))  // padding only aligns
                throw sqllm::error(sqllm::errc::invalid_argument, path() + ": tensor \"" + sqllm::io::printable(t.name) +
                                                                      "\" is not a quantized tensor of " + model);
        for (const auto& w : selected)
            info(w.first, w.second);
    }

    using sensitivity_source::load;
    void load(const std::string& weight, std::size_t rows, std::size_t cols, bool& per_column,
              sqllm::executor_ref exec, std::vector<float>& out) override {
        const sqllm::io::tensor_info& t = info(weight, {rows, cols});
        out.resize(t.numel());
        file_.to_float(t, sqllm::span<float>(out.data(), out.size()), exec);
        file_.release(t);
        per_column = t.shape.size() == 1;
    }

    std::string describe() const override { return "fisher:" + path(); }
    const std::string& path() const override { return file_.path(); }

private:
    /// The tensor for `weight` of `shape`, checked.
    const sqllm::io::tensor_info& info(const std::string& weight, const std::vector<std::size_t>& shape) const {
        namespace sio = sqllm::io;
        const sio::tensor_info* st = file_.find(weight);
        if (!st)
            throw sqllm::error(sqllm::errc::invalid_argument,
                               path() + ": no sensitivity for \"" + sio::printable(weight) + "\"");
        const bool full = st->shape == shape, per_col = shape.size() == 2 && st->shape.size() == 1 && st->shape[0] == shape[1];
        if (!full && !per_col) {
            sio::tensor_info w;
            w.type = st->type;
            w.shape = shape;
            throw sqllm::error(sqllm::errc::shape_mismatch,
                               path() + ": \"" + sio::printable(weight) + "\" is " + st->describe() +
                                   " but the weight is " + w.describe() + " (expected the same shape, or [cols])");
        }
        if (st->type != sio::dtype::f32 && st->type != sio::dtype::f16 && st->type != sio::dtype::bf16)
            throw sqllm::error(sqllm::errc::shape_mismatch, path() + ": \"" + sio::printable(weight) + "\" is " +
                                                                st->describe() + ", not floating point");
        return *st;
    }

    sqllm::io::safetensors_file file_;
};

/// Per-column sensitivities from a llama.cpp importance matrix.
class imatrix_sensitivity final : public sensitivity_source {
public:
    explicit imatrix_sensitivity(const std::string& path) : file_(path) {}

    void check(const weight_list& selected, const std::string& model) override {
        for (const auto& w : selected) {
            if (w.second.size() != 2)
                throw sqllm::error(sqllm::errc::shape_mismatch,
                                   path() + ": \"" + sqllm::io::printable(w.first) + "\" of " + model +
                                       " is not 2-D; an importance matrix covers 2-D weights only");
            file_.mean_squares(entry(w.first, w.second[1]));  // values checked now, not mid-run
        }
    }

    using sensitivity_source::load;
    void load(const std::string& weight, std::size_t, std::size_t cols, bool& per_column,
              sqllm::executor_ref, std::vector<float>& out) override {
        per_column = true;
        out = file_.mean_squares(entry(weight, cols));
    }

    std::string describe() const override {
        std::string s = "imatrix:" + path();
        const auto& i = file_.info();
        if (i.chunk_count && i.chunk_size)
            s += " (" + std::to_string(i.chunk_count) + " chunks of " + std::to_string(i.chunk_size) + " tokens)";
        else if (i.chunk_count)
            s += " (" + std::to_string(i.chunk_count) + " chunks)";
        return s;
    }
    const std::string& path() const override { return file_.path(); }

private:
    /// The entry of `weight`, checked against its column count.
    const sqllm::io::imatrix_entry& entry(const std::string& weight, std::size_t cols) const {
        namespace sio = sqllm::io;
        const sio::imatrix_entry* e = file_.find(weight);
        if (!e) {
            const std::string g = sio::gguf_weight_name(weight);
            throw sqllm::error(sqllm::errc::invalid_argument,
                               path() + ": no sensitivity for \"" + sio::printable(weight) + "\" (no imatrix entry" +
                                   (g.empty() ? std::string(" of that name") : " \"" + g + "\"") + ")");
        }
        if (e->matrices != 1)
            throw sqllm::error(sqllm::errc::shape_mismatch,
                               path() + ": \"" + sio::printable(e->name) + "\" holds " + std::to_string(e->matrices) +
                                   " expert matrices; per-expert (3-D MoE) entries are not supported");
        if (e->cols != cols)
            throw sqllm::error(sqllm::errc::shape_mismatch,
                               path() + ": imatrix entry \"" + sio::printable(e->name) + "\" has " +
                                   std::to_string(e->cols) + " columns but the weight \"" + sio::printable(weight) +
                                   "\" has " + std::to_string(cols) + " (expected the same shape, or [cols])");
        return *e;
    }

    sqllm::io::imatrix file_;
};

/// Opens a sensitivity file, by content and name: "GGUF" magic or a .dat
/// name → importance matrix; else a .safetensors name or a safetensors
/// header (8-byte length, then '{') → safetensors; else a legacy .dat
/// importance matrix. Throws sqllm::error naming the file.
inline std::unique_ptr<sensitivity_source> open_sensitivity(const std::string& path) {
    bool gguf = false, safetensors = false;
    {
        const sqllm::io::mapped_file f(path);  // refuses non-regular files without blocking
        const unsigned char* p = f.data();
        gguf = f.size() >= 4 && std::memcmp(p, "GGUF", 4) == 0;
        safetensors = f.size() >= 9 && p[8] == '{';
    }
    const auto ends_with = [&path](const std::string& ext) {
        return path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
    };
    if (gguf || ends_with(".dat")) return std::make_unique<imatrix_sensitivity>(path);
    if (ends_with(".safetensors") || safetensors) return std::make_unique<safetensors_sensitivity>(path);
    return std::make_unique<imatrix_sensitivity>(path);
}

}  // namespace sqllm_tool
