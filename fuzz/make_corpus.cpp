// fuzz/make_corpus.cpp — writes the seed corpora under fuzz/corpus/<target>/:
// a few small valid inputs per target, made with the library itself.
//   build-fuzz/make_corpus fuzz/corpus
// Deterministic: rerunning it rewrites the same files.
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors_writer.hpp>
#include <sqllm/sqllm.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace sqllm;
using namespace sqllm::io;

namespace {

std::string out_dir;

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& b) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::vector<float> weights(std::size_t n, int seed) {
    std::vector<float> w(n);
    for (std::size_t i = 0; i < n; ++i)
        w[i] = 0.05f * std::sin(0.37f * static_cast<float>(i) + static_cast<float>(seed)) +
               (i % 23 == 5 ? 0.4f : 0.0f);  // a few outliers
    return w;
}

template <int Bits, class Sparse = csr<>>
quantized_matrix<Bits, float, Sparse> make(std::size_t rows, std::size_t cols, bool sparse, int seed) {
    const auto w = weights(rows * cols, seed);
    quantize_options o;
    o.method = lut_method::uniform;
    if (sparse) o.sparse.outlier_fraction = 0.03;
    return quantize<Bits, float, Sparse>(w.data(), rows, cols, nullptr, o);
}

// --- safetensors and quantized_checkpoint: files -----------------------------

void files() {
    const std::string st = out_dir + "/safetensors/", qc = out_dir + "/quantized_checkpoint/";
    {
        safetensors_writer w(st + "dtypes.safetensors");
        w.set_metadata("format", "pt");
        const std::vector<float> f{1.0f, -2.5f, 0.0f, 3.25f, 1e-3f, 7.0f};
        w.add<float>("a.weight", {2, 3}, f);
        const std::vector<half> h{half(1.0f), half(-0.5f), half(65504.0f)};
        w.add<half>("b", {3}, h);
        const std::vector<bfloat16> bf{bfloat16(2.0f), bfloat16(-3.0f)};
        w.add<bfloat16>("c", {1, 2}, bf);
        const std::vector<std::int32_t> i{1, -2, 3};
        w.add<std::int32_t>("d", {3}, i);
        const std::vector<std::uint8_t> u{1, 2};
        w.add<std::uint8_t>("e", {2, 1}, u);
        const std::vector<double> dd{0.5};
        w.add<double>("scalar", {}, dd);
        w.finish();
    }
    {
        safetensors_writer w(st + "empty_tensor.safetensors");
        const std::vector<float> none;
        w.add<float>("nothing", {0, 4}, none);
        const std::vector<std::int64_t> one{42};
        w.add<std::int64_t>("one", {1}, one);
        w.finish();
    }
    {
        safetensors_writer w(qc + "3bit_csr.safetensors");
        w.set_metadata(checkpoint_keys::format, "squeezellm");
        write_quantized(w, "layers.0.wq", make<3>(5, 40, true, 1).view());
        w.finish();
    }
    {
        safetensors_writer w(qc + "4bit_dense_f16.safetensors");
        const auto m = make<4, no_sparse>(3, 70, false, 2);
        // F16 LUT: round the LUT to halves first so it is exact.
        std::vector<float> lut(m.lut().size());
        for (std::size_t i = 0; i < lut.size(); ++i)
            lut[i] = static_cast<float>(half(m.lut()[i]));
        std::sort(lut.begin(), lut.end());
        const quantized_matrix<4, float, no_sparse> m2(3, 70, lut, m.words());
        write_quantized(w, "mlp.up", m2.view(), dtype::f16);
        w.finish();
    }
    {
        safetensors_writer w(qc + "8bit_and_3bit.safetensors");
        write_quantized(w, "a", make<8>(2, 33, true, 3).view());
        write_quantized(w, "b", make<3>(4, 32, false, 4).view());
        const std::vector<float> norm{1.0f, 1.0f};
        w.add<float>("norm.weight", {2}, norm);
        w.finish();
    }
    {
        safetensors_writer w(qc + "5bit.safetensors");
        write_quantized(w, "five", make<5>(2, 64, true, 5).view());
        w.finish();
    }
    // The checkpoints are safetensors files too.
    for (const char* f : {"3bit_csr.safetensors", "8bit_and_3bit.safetensors"}) {
        std::ifstream in(qc + f, std::ios::binary);
        std::vector<char> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::ofstream(st + f, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
    }
}

// --- import_reference: fuzz_import_reference.cpp's encoding -------------------

struct encoder {
    std::vector<std::uint8_t> b;
    void u8(unsigned v) { b.push_back(static_cast<std::uint8_t>(v)); }
    void u32(std::uint32_t v) {
        for (int i = 0; i < 4; ++i)
            u8((v >> (8 * i)) & 0xff);
    }
    void u16(unsigned v) {
        u8(v & 0xff);
        u8((v >> 8) & 0xff);
    }
    void f32(float f) {
        std::uint32_t v;
        std::memcpy(&v, &f, 4);
        u32(v);
    }
};

template <int Bits, class Sparse>
void import_seed(unsigned config, std::size_t rows, std::size_t cols, bool sparse, bool half_lut, const char* name) {
    const auto m = make<Bits>(rows, cols, sparse, static_cast<int>(config));
    const reference_checkpoint ck = export_reference(m.view());
    encoder e;
    e.u8(config);
    const bool has_sparse = !ck.sparse_rows.empty();
    e.u8((half_lut ? 1 : 0) | (has_sparse ? 4 | 8 : 0));  // lengths from the shape; CSR raw
    e.u8(static_cast<unsigned>(rows));                        // small sizes: tag < 0xF0
    e.u8(static_cast<unsigned>(cols));
    if (has_sparse) e.u8(static_cast<unsigned>(ck.sparse_cols.size()));
    e.u32(12345);
    for (std::int32_t w : ck.qweight)
        e.u32(static_cast<std::uint32_t>(w));
    for (float v : ck.lookup_table)
        if (half_lut)
            e.u16(half(v).bits);
        else
            e.f32(v);
    for (std::int32_t v : ck.sparse_rows)
        e.u32(static_cast<std::uint32_t>(v));
    for (std::int32_t v : ck.sparse_cols)
        e.u32(static_cast<std::uint32_t>(v));
    for (float v : ck.sparse_vals)
        e.f32(v);
    e.u8(2);  // batch 3
    for (std::size_t i = 0; i < 3 * cols; ++i)
        e.u8(static_cast<unsigned>(i * 37 + 11));
    e.u8(1);  // 3 workers
    write_bytes(out_dir + "/import_reference/" + name, e.b);
}

// --- quantize: fuzz_quantize.cpp's encoding ------------------------------------

void quantize_seed(unsigned config, unsigned method, unsigned rows, unsigned cols, unsigned smode, unsigned sens,
                   unsigned outl, const char* name) {
    encoder e;
    e.u8(config);
    e.u8(method);
    e.u8(rows - 1);
    e.u8(cols - 1);
    e.u8(smode);
    e.u8(sens);  // option table indices (fuzz_quantize.cpp's option())
    e.u8(0);
    e.u8(outl);
    e.u8(20);  // lloyd: 20 iterations
    e.u8(1);   // tolerance 0.0005
    e.u8(7);   // seed
    e.u8(0);   // uniform: minmax
    e.u8(0);   // asymmetric
    e.u8(7);   // percentile 0.999
    e.u8(50);  // grid
    e.u8(6);   // min_ratio 0.5
    e.u8(2);   // 3 workers
    const unsigned n = rows * cols, ns = smode == 1 ? n : smode == 2 ? cols : 0;
    for (unsigned i = 0; i < n + ns; ++i) {
        // value(): (tag & 31) - 16 scaled by 2^(3·(tag >> 5) − 12); sensitivities positive.
        const unsigned mant = i < n ? (i * 7 + 3) % 32 : 17 + i % 15;
        const unsigned scale = i < n ? (i % 9 == 4 ? 4u : 2u) : 3u;
        e.u8(scale << 5 | mant);
    }
    write_bytes(out_dir + "/quantize/" + name, e.b);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_corpus <fuzz/corpus>\n");
        return 2;
    }
    out_dir = argv[1];
    files();
    import_seed<3, csr<>>(0, 5, 40, true, false, "config0_3bit_csr");
    import_seed<3, csr<>>(0, 2, 300, false, false, "config0_3bit_dense_wide");
    import_seed<4, csr<>>(1, 4, 33, true, true, "config1_4bit_f16");
    import_seed<4, csr<>>(2, 3, 64, false, false, "config2_4bit_dense");
    import_seed<6, csr<>>(3, 6, 50, true, false, "config3_6bit_csr");
    quantize_seed(0, 0, 4, 40, 1, 2, 2, "config0_exact_sparse");
    quantize_seed(1, 1, 3, 33, 0, 0, 3, "config1_lloyd_outliers");
    quantize_seed(2, 2, 2, 64, 2, 0, 0, "config2_uniform_dense");
    quantize_seed(3, 0, 5, 20, 1, 4, 1, "config3_exact_sparse");
    std::printf("corpora written under %s\n", out_dir.c_str());
    return 0;
}
