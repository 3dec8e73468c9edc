// fuzz/fuzz_quantized_checkpoint.cpp — the quantized-checkpoint loader on
// arbitrary files: find_quantized_layers, load_quantized, then gemv and
// gemm on every layer that loads (check_kernels.hpp).
//
// The input is the file (through a temporary file: the loader takes a
// path); the bytes after the file's tensors are not read by the loader, so
// the activations for the kernels come from a reader over the whole input.
// Layers of 3, 4 and 8 bits are loaded at their width (8 in the reference
// layout, zero-copy's layout); others are loaded as 3-bit, which must be refused.
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/sqllm.hpp>

#include <cstddef>
#include <cstdint>
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
            SQLLM_FUZZ_CHECK(is_quantized_array(layers, L.name + ".qweight"), "is_quantized_array misses " + L.name);
            switch (L.bits) {
                case 3:
                    load_and_multiply<3, striped_layout<3>>(*f, L, in);
                    break;
                case 4:
                    load_and_multiply<4, striped_layout<4>>(*f, L, in);
                    break;
                case 8:
                    load_and_multiply<8, reference_layout<8>>(*f, L, in);
                    break;
                default:
                    try {
                        (void)load_quantized<3>(*f, L);
                        finding("a " + std::to_string(L.bits) + "-bit layer loaded as 3-bit");
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
