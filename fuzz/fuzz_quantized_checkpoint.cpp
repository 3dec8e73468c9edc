// fuzz/fuzz_quantized_checkpoint.cpp — the quantized-checkpoint loader on
// arbitrary files: find_quantized_layers, load_quantized, then gemv and
// gemm on every layer that loads (check_kernels.hpp); for a striped-layout
// layer (<name>.striped_codes) also view_quantized in place, which must
// refuse a reference-layout layer, agree with load_quantized array for
// array when it succeeds, and run the kernels on the mapped file alike.
//
// The input is the file (through a temporary file: the loader takes a
// path); the bytes after the file's tensors are not read by the loader, so
// the activations for the kernels come from a reader over the whole input.
// Layers of 3, 4 and 8 bits are loaded at their width (8 in the reference
// layout, zero-copy's layout) and viewed at it; others are loaded and
// viewed as 3-bit, which must be refused.
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/sqllm.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include "check_kernels.hpp"
#include "fuzz_common.hpp"

using namespace sqllm;
using namespace sqllm::io;
using sqllm_fuzz::finding;

namespace {

template <int Bits, class Layout>
void load_and_multiply(const safetensors_file& f, const quantized_layer_info& L, sqllm_fuzz::reader& in) {
    quantized_matrix<Bits, float, csr<>, Layout> m;
    try {
        m = load_quantized<Bits, float, csr<>, Layout>(f, L);
    } catch (const error&) {
        return;
    }
    SQLLM_FUZZ_CHECK(m.rows() == L.rows && m.cols() == L.cols, "loaded shape differs from find_quantized_layers'");
    SQLLM_FUZZ_CHECK(m.view().nonzeros() == L.nnz, "loaded nnz differs from find_quantized_layers'");
    // The LUT as stored (F32 or F16, both exact in float).
    const std::vector<float> lut = f.to_float(f.at(L.name + ".lookup_table"));
    SQLLM_FUZZ_CHECK(lut == m.lut(), "loaded LUT differs from the file's");
    sqllm_fuzz::check_kernels(m.view(), in, L.name.c_str());
}

template <class T>
bool same_array(span<const T> a, span<const T> b) {
    return a.size() == b.size() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

/// view_quantized of layer L with the file's LUT type: refused for a
/// reference-layout layer; when it succeeds, load_quantized must too, to the
/// same words, LUT and CSR, and the view runs the kernels in place.
template <int Bits, class Lut>
void view_and_compare(const safetensors_file& f, const quantized_layer_info& L, sqllm_fuzz::reader& in) {
    quantized_view<Bits, Lut, csr<>, striped_layout<Bits>> v;
    try {
        v = view_quantized<Bits, Lut>(f, L);
    } catch (const error& e) {
        if (L.layout != checkpoint_layout::striped)
            SQLLM_FUZZ_CHECK(e.code() == errc::invalid_argument, std::string("reference layer viewed: ") + e.what());
        return;  // else misaligned, or corrupt (what load_quantized may refuse too, or copy around)
    }
    SQLLM_FUZZ_CHECK(L.layout == checkpoint_layout::striped, "a reference-layout layer " + L.name + " viewed");
    SQLLM_FUZZ_CHECK(v.rows() == L.rows && v.cols() == L.cols && v.nonzeros() == L.nnz,
                     "view's shape or nnz differs from find_quantized_layers'");
    const auto* codes = f.find(L.codes_tensor());
    SQLLM_FUZZ_CHECK(codes && static_cast<const void*>(v.words()) == static_cast<const void*>(f.bytes(*codes).data()),
                     "view of " + L.name + " is not in place");
    quantized_matrix<Bits, Lut, csr<>, striped_layout<Bits>> m;
    try {
        m = load_quantized<Bits, Lut, csr<>, striped_layout<Bits>>(f, L);
    } catch (const error& e) {
        finding("layer " + L.name + " viewed but not loaded: " + e.what());
    }
    const auto mv = m.view();
    SQLLM_FUZZ_CHECK(mv.rows() == v.rows() && mv.cols() == v.cols(), "view and load differ in shape");
    SQLLM_FUZZ_CHECK(same_array(span<const std::uint32_t>(v.words(), v.word_count()),
                                span<const std::uint32_t>(mv.words(), mv.word_count())),
                     "view and load differ in codes");
    const std::size_t lut_n = v.rows() * (std::size_t(1) << Bits);
    SQLLM_FUZZ_CHECK(same_array(span<const Lut>(v.lut(), lut_n), span<const Lut>(mv.lut(), lut_n)),
                     "view and load differ in the LUT");
    SQLLM_FUZZ_CHECK(same_array(v.sparse().row_ptr, mv.sparse().row_ptr) &&
                         same_array(v.sparse().col_idx, mv.sparse().col_idx) &&
                         same_array(v.sparse().values, mv.sparse().values),
                     "view and load differ in the CSR arrays");
    if (L.nnz != 0) {  // a view without a sparse part would drop them: refused
        try {
            (void)view_quantized<Bits, Lut, no_sparse>(f, L);
            finding("layer " + L.name + " with sparse values viewed as no_sparse");
        } catch (const error& e) {
            SQLLM_FUZZ_CHECK(e.code() == errc::invalid_argument, e.what());
        }
    }
    sqllm_fuzz::check_kernels(v, in, (L.name + " (in place)").c_str());
}

/// view_and_compare with the LUT type the layer has.
template <int Bits>
void view_layer(const safetensors_file& f, const quantized_layer_info& L, sqllm_fuzz::reader& in) {
    if (L.lut_type == dtype::f16) view_and_compare<Bits, half>(f, L, in);
    else if (L.lut_type == dtype::bf16) view_and_compare<Bits, bfloat16>(f, L, in);
    else view_and_compare<Bits, float>(f, L, in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sqllm_fuzz::reader in(data, size);
    const sqllm_fuzz::temp_file file(data, size);
    try {
        std::unique_ptr<safetensors_file> f;
        std::vector<quantized_layer_info> layers;
        try {
            f.reset(new safetensors_file(file.path()));
            layers = find_quantized_layers(*f);
        } catch (const error&) {
            return 0;
        }
        std::size_t n = 0;
        for (const quantized_layer_info& L : layers) {
            if (++n > 4) break;
            SQLLM_FUZZ_CHECK(L.bits >= 1 && L.bits <= 8 && L.rows > 0 && L.cols > 0, "layer " + L.name + " has a bad header");
            SQLLM_FUZZ_CHECK(is_quantized_array(layers, L.codes_tensor()), "is_quantized_array misses " + L.name);
            SQLLM_FUZZ_CHECK(f->find(L.codes_tensor()) != nullptr, "layer " + L.name + " has no " + L.codes_tensor());
            SQLLM_FUZZ_CHECK(!is_padding_tensor(L.name), "padding tensor taken for layer " + L.name);
            switch (L.bits) {
                case 3:
                    load_and_multiply<3, striped_layout<3>>(*f, L, in);
                    view_layer<3>(*f, L, in);
                    break;
                case 4:
                    load_and_multiply<4, striped_layout<4>>(*f, L, in);
                    view_layer<4>(*f, L, in);
                    break;
                case 8:
                    load_and_multiply<8, reference_layout<8>>(*f, L, in);
                    view_layer<8>(*f, L, in);
                    break;
                default:
                    try {
                        (void)load_quantized<3>(*f, L);
                        finding("a " + std::to_string(L.bits) + "-bit layer loaded as 3-bit");
                    } catch (const error& e) {
                        SQLLM_FUZZ_CHECK(e.code() == errc::invalid_argument, e.what());
                    }
                    try {
                        (void)view_quantized<3>(*f, L);
                        finding("a " + std::to_string(L.bits) + "-bit layer viewed as 3-bit");
                    } catch (const error& e) {
                        SQLLM_FUZZ_CHECK(e.code() == errc::invalid_argument, e.what());
                    }
            }
        }
    } catch (const sqllm::error& e) {
        finding(std::string("sqllm::error where the harness expected none: ") + e.what());
    } catch (const std::exception& e) {
        finding(std::string("non-sqllm exception ") + typeid(e).name() + ": " + e.what());
    }
    return 0;
}
