// The llama2c example on a quantized checkpoint: stories260K quantized by the
// library, written as a SqueezeLLM-layout safetensors file, loaded back
// (codes repacked into the CPU layout), and run through sqllm's kernels; and
// the same layers in the striped layout (viewed in place, padding tensors
// skipped), which must give the very same logits.
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors.hpp>
#include <sqllm/io/safetensors_writer.hpp>
#include <sqllm/matrix/dequantize.hpp>
#include <sqllm/quantize/quantize.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

#include "../examples/llama2c/calibrate.hpp"
#include "../examples/llama2c/checkpoint.hpp"
#include "../examples/llama2c/llama2c_metadata.hpp"
#include "../examples/llama2c/model.hpp"
#include "../examples/llama2c/perplexity.hpp"
#include "catch.hpp"
#include "test_util.hpp"

using sqllm::errc;
using sqllm_test::throws_code;

namespace {

const std::string data_dir = std::string(SQLLM_DATA_DIR) + "/stories260K/";

std::string temp_file(const std::string& stem) {
    return "/tmp/sqllm_q_" + std::to_string(::getpid()) + "_" + stem + ".safetensors";
}

bool is_linear(const std::string& name) {
    for (const char* k : llama2c::linear_kinds())
        if (name.size() > 3 && name.compare(name.size() - 3, 3, std::string(".") + k) == 0) return true;
    return false;
}

using qmatrix = sqllm::quantized_matrix<3, float, sqllm::csr<float, std::int32_t>, sqllm::reference_layout<3>>;

/// Writes stories260K with its 35 linear matrices quantized (3-bit, Fisher,
/// 0.45% sparse) as sqllm-quantize would; `edit` may add or change tensors.
/// Returns the dequantized matrices by name.
template <class Edit>
std::map<std::string, std::vector<float>> write_quantized_model(
    const std::string& path, Edit edit, sqllm::io::checkpoint_layout layout = sqllm::io::checkpoint_layout::reference) {
    const auto file = llama2c::read_llama2c(data_dir + "stories260K.bin");
    const sqllm::io::safetensors_file fisher(data_dir + "fisher.safetensors");
    sqllm::io::safetensors_writer out(path);
    for (const auto& kv : llama2c::llama2c_metadata(file.config))
        out.set_metadata(kv.first, kv.second);
    std::map<std::string, std::vector<float>> dequantized;
    sqllm::quantize_options opt;
    opt.sparse.sensitive_fraction = 0.0005;
    opt.sparse.outlier_fraction = 0.004;
    for (const auto& t : file.tensors) {
        if (!is_linear(t.name)) {
            out.add<float>(t.name, t.shape, t.data);
            continue;
        }
        const auto S = fisher.to_float(fisher.at(t.name));
        const auto q = sqllm::quantize<3, float, sqllm::csr<float, std::int32_t>, sqllm::reference_layout<3>>(
            {t.data.data(), t.shape[0], t.shape[1]}, {S.data(), t.shape[0], t.shape[1]}, opt);
        if (edit(out, t.name, q)) continue;
        sqllm::io::write_quantized(out, t.name, q.view(), sqllm::io::dtype::f32, layout);
        dequantized[t.name] = sqllm::dequantize<float>(q.view());
    }
    out.finish();
    return dequantized;
}

const auto no_edit = [](sqllm::io::safetensors_writer&, const std::string&, const qmatrix&) { return false; };

}  // namespace

TEST_CASE("a quantized checkpoint runs through sqllm's kernels like its dequantized fp32 twin", "[llama2c][quantized]") {
    const std::string path = temp_file("model");
    const auto dequantized = write_quantized_model(path, no_edit);
    REQUIRE(dequantized.size() == 35);

    const llama2c::model q = llama2c::load_model(path);
    std::remove(path.c_str());
    CHECK(q.layers[0].wq->describe() == "3-bit LUT + CSR");
    CHECK(q.classifier->describe() == "fp32");

    // The twin: the same weights, dequantized, as fp32 dense layers.
    llama2c::model d = llama2c::load_bin(data_dir + "stories260K.bin");
    for (std::size_t l = 0; l < d.layers.size(); ++l)
        for (const char* kind : llama2c::linear_kinds()) {
            auto& slot = llama2c::linear_of(d.layers[l], kind);
            const std::string name = "layers." + std::to_string(l) + "." + kind;
            slot = std::make_unique<llama2c::dense_linear>(slot->rows(), slot->cols(), dequantized.at(name));
        }

    // Tolerance: the two compute the same dot products in different orders
    // (the LUT kernels sum 16-lane partials, the dense loop column by
    // column), each within γ_n·Σ|terms| ≈ 172·6e-8 relative of the exact
    // value; through 5 layers and the classifier that stays below 1e-4 of
    // a logit's scale. 1e-3 still catches a wrong code, LUT entry or sparse
    // value, which move logits by O(0.01–1).
    const auto windows = llama2c::story_windows(llama2c::read_tokens_u16(data_dir + "dev.u16"));
    llama2c::engine eq(q), ed(d);
    double max_diff = 0;
    for (std::size_t w = 0; w < 4; ++w) {
        const auto& win = windows[w * 7];
        const float* a = eq.forward_window(win.data(), win.size());
        const std::vector<float> la(a, a + win.size() * 512);
        const float* b = ed.forward_window(win.data(), win.size());
        for (std::size_t i = 0; i < la.size(); ++i)
            max_diff = std::max(max_diff, std::abs(double(la[i]) - b[i]) / (1.0 + std::abs(double(b[i]))));
    }
    INFO("max relative logit difference " << max_diff);
    CHECK(max_diff < 1e-3);

    // And the per-token (gemv) path agrees with the window (gemm) path.
    llama2c::engine step(q);
    const auto& win = windows[3];
    const float* batch = eq.forward_window(win.data(), win.size());
    const std::vector<float> lb(batch, batch + win.size() * 512);
    for (std::size_t p = 0; p < win.size(); ++p) {
        const float* t = step.forward_token(win[p], p);
        for (std::size_t v = 0; v < 512; ++v)
            REQUIRE(std::abs(t[v] - lb[p * 512 + v]) <= 1e-3f * (1.0f + std::abs(lb[p * 512 + v])));
    }
}

TEST_CASE("a striped-layout checkpoint runs in place with the reference layout's very logits", "[llama2c][quantized]") {
    const std::string ref_path = temp_file("ref"), striped_path = temp_file("striped");
    write_quantized_model(ref_path, no_edit);
    write_quantized_model(striped_path, no_edit, sqllm::io::checkpoint_layout::striped);
    {
        const sqllm::io::safetensors_file f(striped_path);
        CHECK(f.find("__padding__.0") != nullptr);  // what the loader must not call an unused tensor
        CHECK(f.find("layers.0.wq.striped_codes") != nullptr);
    }
    const llama2c::model r = llama2c::load_model(ref_path);
    const llama2c::model s = llama2c::load_model(striped_path);
    std::remove(ref_path.c_str());
    std::remove(striped_path.c_str());  // still mapped: the layers keep the file alive
    const auto* sq = dynamic_cast<const llama2c::quantized_linear<3>*>(s.layers[1].w2.get());
    const auto* rq = dynamic_cast<const llama2c::quantized_linear<3>*>(r.layers[1].w2.get());
    REQUIRE(sq != nullptr);
    REQUIRE(rq != nullptr);
    CHECK(sq->in_place());
    CHECK_FALSE(rq->in_place());
    CHECK(sq->describe() == rq->describe());
    CHECK(sq->storage_bytes() == rq->storage_bytes());
    CHECK(llama2c::summary(s) == llama2c::summary(r));

    // The same codes, LUTs and CSR through the same kernels: bit-identical logits, window and token paths.
    const auto windows = llama2c::story_windows(llama2c::read_tokens_u16(data_dir + "dev.u16"));
    llama2c::engine er(r), es(s);
    for (std::size_t w = 0; w < 3; ++w) {
        const auto& win = windows[w * 5];
        const float* a = er.forward_window(win.data(), win.size());
        const std::vector<float> la(a, a + win.size() * 512);
        const float* b = es.forward_window(win.data(), win.size());
        REQUIRE(std::memcmp(la.data(), b, la.size() * sizeof(float)) == 0);
    }
    llama2c::engine tr(r), ts(s);
    const auto& win = windows[2];
    for (std::size_t p = 0; p < win.size(); ++p) {
        const float* a = tr.forward_token(win[p], p);
        const std::vector<float> la(a, a + 512);
        REQUIRE(std::memcmp(la.data(), ts.forward_token(win[p], p), 512 * sizeof(float)) == 0);
    }

    // Without an owner to keep the file mapped, a striped layer is loaded (copied) instead, computing the same.
    write_quantized_model(striped_path, no_edit, sqllm::io::checkpoint_layout::striped);
    const sqllm::io::safetensors_file f(striped_path);
    std::remove(striped_path.c_str());
    for (const auto& L : sqllm::io::find_quantized_layers(f)) {
        if (L.name != "layers.1.w2") continue;
        const auto copy = llama2c::load_quantized_linear(f, L);
        const auto* cq = dynamic_cast<const llama2c::quantized_linear<3>*>(copy.get());
        REQUIRE(cq != nullptr);
        CHECK_FALSE(cq->in_place());
        std::vector<float> x(copy->cols()), y1(copy->rows()), y2(copy->rows());
        for (std::size_t i = 0; i < x.size(); ++i)
            x[i] = std::sin(float(i));
        copy->gemv(x.data(), y1.data());
        sq->gemv(x.data(), y2.data());
        CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)) == 0);
    }

    // Padding is skipped, but a tensor the model does not use is still refused in a striped file.
    write_quantized_model(
        striped_path,
        [](sqllm::io::safetensors_writer& out, const std::string& name, const qmatrix&) {
            if (name == "layers.0.wq") out.add<float>("layers.0.unused", {3}, std::vector<float>(3, 0.0f));
            return false;
        },
        sqllm::io::checkpoint_layout::striped);
    try {
        llama2c::load_model(striped_path);
        FAIL("an unused tensor in a striped checkpoint loaded");
    } catch (const sqllm::error& e) {
        CHECK(e.code() == errc::corrupt_data);
        CHECK(std::string(e.what()).find("\"layers.0.unused\" is not part of the model") != std::string::npos);
    }
    std::remove(striped_path.c_str());
}

TEST_CASE("inconsistent model checkpoints give a clear error", "[llama2c][quantized]") {
    const std::string path = temp_file("bad");
    auto expect = [&](errc code, const char* text) {
        try {
            llama2c::load_model(path);
        } catch (const sqllm::error& e) {
            CAPTURE(e.what());
            CHECK(e.code() == code);
            CHECK(std::string(e.what()).find(text) != std::string::npos);
            std::remove(path.c_str());
            return;
        }
        std::remove(path.c_str());
        FAIL("no error for: " << text);
    };
    // A tensor the model does not use (e.g. a misspelt layer name).
    write_quantized_model(path, [](sqllm::io::safetensors_writer& out, const std::string& name, const qmatrix& q) {
        if (name != "layers.1.w2") return false;
        sqllm::io::write_quantized(out, "layers.1.w2_typo", q.view());
        return true;
    });
    expect(errc::invalid_argument, "no tensor named \"layers.1.w2\"");
    write_quantized_model(path, [](sqllm::io::safetensors_writer& out, const std::string& name, const qmatrix&) {
        if (name == "layers.0.wq") {
            const std::vector<float> extra(3, 0.0f);
            out.add<float>("layers.0.unused", {3}, extra);
        }
        return false;
    });
    expect(errc::corrupt_data, "\"layers.0.unused\" is not part of the model");
    // A layer quantized from a matrix of the wrong shape.
    write_quantized_model(path, [](sqllm::io::safetensors_writer& out, const std::string& name, const qmatrix& q) {
        if (name != "layers.2.wk") return false;
        std::vector<float> w = sqllm::dequantize<float>(q.view());
        w.resize(16 * 64);
        const auto small = sqllm::quantize<3, float, sqllm::csr<float, std::int32_t>, sqllm::reference_layout<3>>(
            w.data(), 16, 64);
        sqllm::io::write_quantized(out, name, small.view());
        return true;
    });
    expect(errc::shape_mismatch, "layers.2.wk");
    {  // no llama2c config in the metadata
        sqllm::io::safetensors_writer out(path);
        const std::vector<float> v(4, 1.0f);
        out.add<float>("rms_final", {4}, v);
        out.finish();
    }
    expect(errc::corrupt_data, "llama2c.dim");
}

TEST_CASE("calibrate: per-channel activation second moments, written for sqllm-quantize", "[llama2c][calibrate]") {
    const llama2c::model m = llama2c::load_model(data_dir + "stories260K.bin");
    auto tokens = llama2c::read_tokens_u16(data_dir + "calib.u16");
    tokens.resize(2000);
    const auto sums = llama2c::activation_second_moments(m, tokens);
    REQUIRE(sums.size() == 35);
    CHECK(sums.at("layers.0.wq").size() == 64);
    CHECK(sums.at("layers.3.w2").size() == 172);
    CHECK(sums.at("layers.0.wq") == sums.at("layers.0.wk"));  // one input, reported per name
    CHECK(sums.at("layers.4.w1") == sums.at("layers.4.w3"));
    for (const auto& kv : sums)
        for (double v : kv.second)
            REQUIRE((v > 0 && std::isfinite(v)));

    // The first layer's attention input is RMSNorm(embedding)·rms_att: check one channel by hand.
    double expect = 0;
    const std::size_t c = 5, dim = 64;
    for (const auto& w : llama2c::story_windows(tokens))
        for (int t : w) {
            const float* e = &m.tok_embeddings[std::size_t(t) * dim];
            double ss = 0;
            for (std::size_t j = 0; j < dim; ++j)
                ss += double(e[j]) * e[j];
            const double x = e[c] / std::sqrt(ss / dim + 1e-5) * m.layers[0].rms_att[c];
            expect += x * x;
        }
    CHECK(std::abs(sums.at("layers.0.wq")[c] - expect) <= 1e-4 * expect);

    const std::string path = temp_file("calib");
    llama2c::write_second_moments(path, sums, tokens.size(), "calib.u16");
    const sqllm::io::safetensors_file f(path);
    std::remove(path.c_str());
    CHECK(f.tensors().size() == 35);
    CHECK(f.at("layers.1.w2").shape == std::vector<std::size_t>{172});
    CHECK(f.metadata().at("sqllm.sensitivity.tokens") == "2000");
}
