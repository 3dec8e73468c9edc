// sqllm/runtime/model_file_impl.hpp — the definitions behind
// runtime/model_file.hpp (included by it in header-only use; compiled into
// the sqllm::runtime library otherwise).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "../io/quantized_checkpoint.hpp"
#include "../io/safetensors_model.hpp"
#include "linear_impl.hpp"
#include "model_file.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {

struct model_file_state {
    std::shared_ptr<const io::safetensors_model> model;
    std::vector<io::quantized_layer_info> layers;
    std::map<std::string, std::size_t> by_name;  ///< index into layers

    const io::quantized_layer_info& at(const std::string& name) const {
        const auto it = by_name.find(name);
        if (it == by_name.end())
            fail(errc::invalid_argument, "the checkpoint has no quantized layer \"" + io::printable(name) + "\"");
        return layers[it->second];
    }
};

/// The layer's bias `<name>.bias`, if present and wanted: checked against
/// the layer's rows and type, a view of the mapped file when aligned for its
/// type, else a copy kept by `keep`.
inline bias_ref model_bias(const io::safetensors_file& f, const io::quantized_layer_info& L,
                           std::shared_ptr<const void>& keep) {
    const io::tensor_info* t = f.find(L.name + ".bias");
    if (!t) return {};
    const std::string where = f.path() + ": \"" + io::printable(t->name) + "\"";
    scalar_type type;
    switch (t->type) {
        case io::dtype::f32: type = scalar_type::f32; break;
        case io::dtype::f16: type = scalar_type::f16; break;
        case io::dtype::bf16: type = scalar_type::bf16; break;
        default: fail(errc::corrupt_data, where + " is " + t->describe() + ", a bias is F32, F16 or BF16");
    }
    if (t->shape.size() != 1 || t->shape[0] != L.rows)
        fail(errc::corrupt_data,
             where + " is " + t->describe() + ", expected [" + detail::to_string(L.rows) + "] (the layer's rows)");
    const auto bytes = f.bytes(*t);
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % size_of(type) == 0) return {bytes.data(), type};
    auto copy = std::make_shared<std::vector<unsigned char>>(bytes.begin(), bytes.end());
    const void* data = copy->data();
    keep = std::move(copy);
    return {data, type};
}

/// Layer L's arrays as a CSR-typed view, and what keeps them alive: the
/// mapped file (striped layout: a view, no copy) or a repacked copy
/// (reference layout). One instantiation per Bits × Lut: the sparse
/// schedules share the arrays (as_sparse below), which keeps the loading
/// code a small part of what the runtime compiles.
template <int Bits, class Lut>
quantized_view<Bits, Lut, csr<>, striped_layout<Bits>> load_arrays(
    const std::shared_ptr<const io::safetensors_model>& model, const io::safetensors_file& f,
    const io::quantized_layer_info& L, executor_ref exec, const load_options& opt, std::shared_ptr<const void>& keep) {
    if (L.layout == io::checkpoint_layout::striped) {
        keep = model;
        return io::view_quantized<Bits, Lut, csr<>>(f, L);
    }
    if (opt.require_zero_copy)
        fail(errc::invalid_argument, f.path() + ": layer \"" + io::printable(L.name) +
                                         "\" is in the reference layout, which loads only by a copy and a repack "
                                         "(sqllm-convert --layout striped writes the zero-copy layout)");
    auto m = std::make_shared<const quantized_matrix<Bits, Lut, csr<>, striped_layout<Bits>>>(
        io::load_quantized<Bits, Lut, csr<>, striped_layout<Bits>>(f, L, exec));
    keep = m;
    return m->view();
}

/// W's arrays viewed with sparse format Sparse (no_sparse, csr<> or
/// balanced_csr<>: the last two store alike).
template <class Sparse, int Bits, class Lut>
quantized_view<Bits, Lut, Sparse, striped_layout<Bits>> as_sparse(
    const quantized_view<Bits, Lut, csr<>, striped_layout<Bits>>& W) {
    if constexpr (std::is_same<Sparse, no_sparse>::value)
        return {unchecked, W.rows(), W.cols(), W.lut(), W.words()};
    else
        return {unchecked, W.rows(), W.cols(), W.lut(), W.words(), W.sparse()};
}

/// Layer L as linear_model<Bits, Lut, Sparse> with its bias, if wanted.
template <int Bits, class Lut>
linear load_model(const std::shared_ptr<const io::safetensors_model>& model, const io::quantized_layer_info& L,
                  executor_ref exec, const load_options& opt) {
    const io::safetensors_file& f = model->file_of(L.codes_tensor());
    std::shared_ptr<const void> arrays, bias_copy;
    const auto W = load_arrays<Bits, Lut>(model, f, L, exec, opt, arrays);
    const bias_ref bias = opt.bias ? model_bias(f, L, bias_copy) : bias_ref{};
    // The layer keeps its arrays alive, and its bias: a copy, or the mapping.
    using keep_both = std::pair<std::shared_ptr<const void>, std::shared_ptr<const void>>;
    std::shared_ptr<const void> owner = std::make_shared<const keep_both>(
        arrays, bias_copy ? bias_copy : bias ? std::shared_ptr<const void>(model) : nullptr);
    const bool zero_copy = L.layout == io::checkpoint_layout::striped;
    const sparse_kind s = L.has_sparse ? opt.sparse : sparse_kind::none;
    switch (s) {
        case sparse_kind::csr: return make_linear(W, std::move(owner), bias, zero_copy);
        case sparse_kind::balanced_csr:
            return make_linear(as_sparse<balanced_csr<>>(W), std::move(owner), bias, zero_copy);
        case sparse_kind::none: break;
    }
    return make_linear(as_sparse<no_sparse>(W), std::move(owner), bias, zero_copy);
}

template <int Bits>
linear load_width(const std::shared_ptr<const io::safetensors_model>& model, const io::quantized_layer_info& L,
                  executor_ref exec, const load_options& opt) {
    if constexpr (!runtime_has_bits(Bits)) {
        (void)model, (void)exec, (void)opt;
        fail(errc::invalid_argument, "layer \"" + io::printable(L.name) + "\" has " + detail::to_string(Bits) +
                                         "-bit codes, which this build leaves out (SQLLM_RUNTIME_BITS_MASK)");
    } else {
        switch (L.lut_type) {
            case io::dtype::f16: return load_model<Bits, half>(model, L, exec, opt);
            case io::dtype::bf16: return load_model<Bits, bfloat16>(model, L, exec, opt);
            default: return load_model<Bits, float>(model, L, exec, opt);
        }
    }
}

}  // namespace detail

// Defined here in header-only use; with the compiled library, only in its source.
#if !defined(SQLLM_COMPILED_LIB) || defined(SQLLM_RUNTIME_SOURCE)
SQLLM_RUNTIME_INLINE model_file model_file::open(const std::string& path) {
    auto state = std::make_shared<detail::model_file_state>();
    state->model = std::make_shared<const io::safetensors_model>(path);
    state->layers = state->model->quantized_layers();
    for (std::size_t i = 0; i < state->layers.size(); ++i) state->by_name.emplace(state->layers[i].name, i);
    model_file out;
    out.state_ = std::move(state);
    return out;
}

SQLLM_RUNTIME_INLINE std::vector<std::string> model_file::layer_names() const {
    std::vector<std::string> out;
    if (!state_) return out;
    for (const io::quantized_layer_info& L : state_->layers) out.push_back(L.name);
    return out;
}

SQLLM_RUNTIME_INLINE bool model_file::contains(const std::string& name) const noexcept {
    return state_ && state_->by_name.count(name) != 0;
}

SQLLM_RUNTIME_INLINE bool model_file::is_zero_copy(const std::string& name) const {
    if (!state_) detail::fail(errc::invalid_argument, "an empty sqllm::model_file has no layers");
    return state_->at(name).layout == io::checkpoint_layout::striped;
}

SQLLM_RUNTIME_INLINE linear model_file::load(const std::string& name, executor_ref exec, const load_options& opt) const {
    if (!state_) detail::fail(errc::invalid_argument, "an empty sqllm::model_file has no layers");
    const io::quantized_layer_info& L = state_->at(name);
    switch (L.bits) {
        case 1: return detail::load_width<1>(state_->model, L, exec, opt);
        case 2: return detail::load_width<2>(state_->model, L, exec, opt);
        case 3: return detail::load_width<3>(state_->model, L, exec, opt);
        case 4: return detail::load_width<4>(state_->model, L, exec, opt);
        case 5: return detail::load_width<5>(state_->model, L, exec, opt);
        case 6: return detail::load_width<6>(state_->model, L, exec, opt);
        case 7: return detail::load_width<7>(state_->model, L, exec, opt);
        case 8: return detail::load_width<8>(state_->model, L, exec, opt);
        default: break;
    }
    detail::fail(errc::corrupt_data, "layer \"" + io::printable(name) + "\" has " + detail::to_string(L.bits) +
                                         "-bit codes, not 1..8");
}
#endif  // members

SQLLM_NAMESPACE_END
