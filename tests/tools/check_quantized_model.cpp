// check_quantized_model: compares a model with its quantized output, for the
// CLI tests.
//
//   check_quantized_model INPUT OUTPUT [MAX_RELATIVE_RMS]
//
// INPUT and OUTPUT are anything io::safetensors_model opens (a file, a
// model directory, an index). Every input tensor must either be in the
// output under its own name with the same dtype, shape and bytes, or be a
// quantized layer there (under its module name: "x.weight" -> "x.qweight"
// or "x.striped_codes", ...) that loads (io::safetensors_model::load_quantized)
// and dequantizes to within MAX_RELATIVE_RMS (default 0.3) of the input's
// weights. Every output tensor must be accounted for. Padding tensors
// ("__padding__.<n>", io::is_padding_tensor) on either side are not model
// tensors: their bytes and count differ with each file's layout. Prints one line per quantized layer and a
// summary; exit status 0 when everything holds, 1 otherwise.
#include <sqllm/io/safetensors_model.hpp>
#include <sqllm/matrix/dequantize.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

namespace sio = sqllm::io;

template <int Bits>
std::vector<float> dequantized(const sio::safetensors_model& m, const sio::quantized_layer_info& L) {
    return sqllm::dequantize<float>(m.load_quantized<Bits>(L).view());
}

std::vector<float> dequantized(const sio::safetensors_model& m, const sio::quantized_layer_info& L) {
    switch (L.bits) {
        case 1: return dequantized<1>(m, L);
        case 2: return dequantized<2>(m, L);
        case 3: return dequantized<3>(m, L);
        case 4: return dequantized<4>(m, L);
        case 5: return dequantized<5>(m, L);
        case 6: return dequantized<6>(m, L);
        case 7: return dequantized<7>(m, L);
        default: return dequantized<8>(m, L);
    }
}

std::string module_of(const std::string& weight) {
    const std::string w = ".weight";
    if (weight.size() > w.size() && weight.compare(weight.size() - w.size(), w.size(), w) == 0)
        return weight.substr(0, weight.size() - w.size());
    return weight;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: check_quantized_model INPUT OUTPUT [MAX_RELATIVE_RMS]\n");
        return 2;
    }
    const double limit = argc > 3 ? std::atof(argv[3]) : 0.3;
    try {
        const sio::safetensors_model in(argv[1]), out(argv[2]);
        std::set<std::string> accounted;
        int failures = 0, copied = 0;
        auto fail = [&](const std::string& what) {
            std::printf("FAIL: %s\n", what.c_str());
            ++failures;
        };
        std::vector<sio::quantized_layer_info> layers = out.quantized_layers();
        for (const auto& r : in.tensors()) {
            const sio::tensor_info& t = *r.info;
            if (sio::is_padding_tensor(t.name)) continue;  // (safetensors_model lists none; a file would)
            if (const sio::tensor_info* o = out.find(t.name)) {
                accounted.insert(t.name);
                ++copied;
                if (o->type != t.type || o->shape != t.shape) fail(t.name + ": " + o->describe() + ", was " + t.describe());
                const auto a = in.shard(r.shard).bytes(t);
                const auto b = out.file_of(t.name).bytes(*o);
                if (a.size() != b.size() || (a.size() && std::memcmp(a.data(), b.data(), a.size()) != 0))
                    fail(t.name + ": bytes differ from the input's");
                continue;
            }
            const std::string module = module_of(t.name);
            const sio::quantized_layer_info* L = nullptr;
            for (const auto& q : layers)
                if (q.name == module) L = &q;
            if (!L) {
                fail(t.name + ": neither copied nor quantized (no " + module + ".qweight or .striped_codes)");
                continue;
            }
            for (const std::string& s : sio::quantized_suffixes())
                if (out.find(module + s)) accounted.insert(module + s);
            if (t.shape.size() != 2 || L->rows != t.shape[0] || L->cols != t.shape[1]) {
                fail(module + ": quantized as " + std::to_string(L->rows) + "x" + std::to_string(L->cols) + ", was " +
                     t.describe());
                continue;
            }
            const std::vector<float> w = in.to_float(t.name), q = dequantized(out, *L);
            double err = 0, norm = 0;
            for (std::size_t i = 0; i < w.size(); ++i) {
                err += (double(q[i]) - w[i]) * (double(q[i]) - w[i]);
                norm += double(w[i]) * w[i];
            }
            const double rel = norm > 0 ? std::sqrt(err / norm) : std::sqrt(err);
            std::printf("%s: %d-bit %zux%zu, %zu kept exactly, relative RMS error %.4f\n", module.c_str(), L->bits,
                        L->rows, L->cols, L->nnz, rel);
            if (!(rel <= limit)) fail(module + ": relative RMS error " + std::to_string(rel) + " over " + std::to_string(limit));
        }
        for (const auto& r : out.tensors())
            if (!sio::is_padding_tensor(r.info->name) && !accounted.count(r.info->name)) fail(r.info->name + ": in the output but from no input tensor");
        std::printf("%d tensors copied bit for bit, %zu layers quantized, %d failures\n", copied, layers.size(), failures);
        return failures ? 1 : 0;
    } catch (const std::exception& e) {
        std::printf("FAIL: %s\n", e.what());
        return 1;
    }
}
