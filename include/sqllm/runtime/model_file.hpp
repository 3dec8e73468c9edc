// sqllm/runtime/model_file.hpp — the quantized layers of a checkpoint, as
// run-time-typed layers (runtime/linear.hpp).
//
// Opens what sqllm writes — a .safetensors file, a Hugging Face model
// directory (one file or an index and shards), or an index — memory-mapped,
// and hands out each quantized layer as a sqllm::linear whose code width,
// LUT type and sparse part come from the file. A layer stored in the
// kernels' layout (docs/FORMAT.md, "striped layout") is a view of the mapped
// bytes: validation, no copy, no repack. A layer in the SqueezeLLM
// reference's layout is copied and repacked, in parallel through the
// executor. A `<name>.bias` tensor beside the layer (F32, F16 or BF16,
// [rows]) becomes its bias. Layers keep the mapping alive: the model_file
// may be destroyed before them.
//
// Light, as runtime/linear.hpp: with the compiled library (sqllm::runtime)
// the loading code is compiled there, not in the including unit.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../core/executor_ref.hpp"
#include "linear.hpp"

SQLLM_NAMESPACE_BEGIN

/// How model_file::load builds a layer.
struct load_options {
    /// The schedule of a layer's sparse part, if it has one: csr (with the
    /// dense row blocks) or balanced_csr (split by nonzeros, for skewed rows).
    sparse_kind sparse = sparse_kind::csr;
    /// Load `<name>.bias` when the file has it.
    bool bias = true;
    /// Refuse layers that would need a copy (reference layout): for engines
    /// that require zero-copy loading. Throws sqllm::error(invalid_argument).
    bool require_zero_copy = false;
};

namespace detail {
struct model_file_state;
}

/// A checkpoint's quantized layers (see the file comment). Cheap to copy:
/// copies share the open files.
class model_file {
public:
    /// Opens `path` (a .safetensors file, a model directory or its index)
    /// and checks every layer's header. Throws sqllm::error: errc::io_error
    /// when a file cannot be read, errc::corrupt_data naming the file and the
    /// problem otherwise.
    static model_file open(const std::string& path);

    /// The quantized layers' names (e.g. "model.layers.0.self_attn.q_proj"), in file order.
    std::vector<std::string> layer_names() const;
    /// True if the checkpoint has a quantized layer `name`.
    bool contains(const std::string& name) const noexcept;
    /// True if layer `name` is stored in the kernels' layout (loads without a copy).
    bool is_zero_copy(const std::string& name) const;

    /// Layer `name` as a run-time-typed layer; reference-layout layers are
    /// repacked through `exec`. Throws sqllm::error: errc::invalid_argument
    /// if there is no such layer or its code width is not compiled in this
    /// build, errc::corrupt_data (naming the layer) for inconsistent arrays,
    /// errc::non_finite for NaN/Inf in its LUT, sparse values or bias.
    linear load(const std::string& name, executor_ref exec = {}, const load_options& opt = {}) const;

private:
    std::shared_ptr<const detail::model_file_state> state_;
};

SQLLM_NAMESPACE_END

#if !defined(SQLLM_COMPILED_LIB)
#include "model_file_impl.hpp"
#endif
