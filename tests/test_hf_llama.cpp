// The llama2c example on Hugging Face-layout models: stories260K exported
// to a LlamaForCausalLM directory (dense F32/BF16/F16, one file or shards,
// and quantized under the SqueezeLLM reference's module names), loaded back
// and evaluated against the llama2.c path; malformed HF inputs.
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors.hpp>
#include <sqllm/io/safetensors_model.hpp>
#include <sqllm/io/safetensors_writer.hpp>
#include <sqllm/quantize/quantize.hpp>

#include <cmath>
#include <cstring>
#include <iterator>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "../examples/llama2c/checkpoint.hpp"
#include "../examples/llama2c/hf_export.hpp"
#include "../examples/llama2c/hf_names.hpp"
#include "../examples/llama2c/model.hpp"
#include "../examples/llama2c/perplexity.hpp"
#include "catch.hpp"

using sqllm::errc;
namespace fs = std::filesystem;

namespace {

const std::string data_dir = std::string(SQLLM_DATA_DIR) + "/stories260K/";

/// A fresh directory under /tmp, removed with everything in it at the end.
struct temp_dir {
    fs::path path;
    explicit temp_dir(const std::string& stem)
        : path(fs::temp_directory_path() / ("sqllm_hf_" + std::to_string(::getpid()) + "_" + stem)) {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

/// The dev-set NLL of the first ~2000 predicted tokens.
llama2c::nll_sum dev_nll(const llama2c::model& m) {
    static const auto windows = llama2c::story_windows(llama2c::read_tokens_u16(data_dir + "dev.u16"));
    llama2c::engine e(m);
    return llama2c::evaluate(e, windows, 2000);
}

const llama2c::nll_sum& reference_nll() {
    static const llama2c::nll_sum r = dev_nll(llama2c::load_bin(data_dir + "stories260K.bin"));
    return r;
}

llama2c::hf_export_options options(sqllm::io::dtype type = sqllm::io::dtype::f32, std::size_t shards = 1) {
    llama2c::hf_export_options o;
    o.type = type;
    o.shards = shards;
    return o;
}

nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

/// Copies `from` (a single-file HF directory) to `to`, letting `edit` change
/// config.json and choose, per tensor, to drop it (return false).
template <class EditConfig, class KeepTensor>
void copy_model(const std::string& from, const std::string& to, EditConfig edit, KeepTensor keep) {
    fs::create_directories(to);
    nlohmann::json config = read_json(from + "/config.json");
    edit(config);
    write_text(to + "/config.json", config.dump());
    const sqllm::io::safetensors_file in(from + "/model.safetensors");
    sqllm::io::safetensors_writer out(to + "/model.safetensors");
    for (const auto& t : in.tensors())
        if (keep(t.name)) out.add(t.name, t.type, t.shape, in.bytes(t).data(), t.bytes());
    out.finish();
}

/// The error code and message load_model throws for `path` (FAILs when it loads).
std::pair<errc, std::string> load_error(const std::string& path) {
    try {
        llama2c::load_model(path);
    } catch (const sqllm::error& e) {
        return {e.code(), e.what()};
    }
    FAIL("no error loading " << path);
    return {};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("HF q/k row order is transformers' permute()", "[llama2c][hf]") {
    // convert_llama_weights_to_hf.py: w.view(heads, dim1 / heads / 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2),
    // i.e. out[h][t][j] = in[h][j][t] for t in {0, 1}, j < head_size / 2, transcribed as index arithmetic.
    const std::size_t heads = 4, hs = 8, cols = 3, rows = heads * hs;
    std::vector<float> w(rows * cols);
    for (std::size_t i = 0; i < w.size(); ++i)
        w[i] = float(i);
    std::vector<float> expect(w.size());
    for (std::size_t h = 0; h < heads; ++h)
        for (std::size_t t = 0; t < 2; ++t)
            for (std::size_t j = 0; j < hs / 2; ++j)
                for (std::size_t c = 0; c < cols; ++c)
                    expect[((h * 2 + t) * (hs / 2) + j) * cols + c] = w[((h * (hs / 2) + j) * 2 + t) * cols + c];
    const auto hf = llama2c::hf_permute_rows(w, rows, cols, hs, true);
    CHECK(hf == expect);
    CHECK(llama2c::hf_permute_rows(hf, rows, cols, hs, false) == w);
    CHECK_THROWS_AS(llama2c::hf_permute_rows(w, rows, cols, 6, true), sqllm::error);

    CHECK(llama2c::hf_name_of("layers.3.wq") == "model.layers.3.self_attn.q_proj.weight");
    CHECK(llama2c::hf_name_of("layers.0.w1") == "model.layers.0.mlp.gate_proj.weight");
    CHECK(llama2c::hf_name_of("layers.0.w2") == "model.layers.0.mlp.down_proj.weight");
    CHECK(llama2c::hf_name_of("layers.0.w3") == "model.layers.0.mlp.up_proj.weight");
    CHECK(llama2c::hf_name_of("layers.01.wq").empty());
    CHECK(llama2c::hf_name_of("layers.1.wx").empty());
    CHECK(llama2c::hf_permutes_rows("layers.2.wk"));
    CHECK_FALSE(llama2c::hf_permutes_rows("layers.2.wv"));
}

TEST_CASE("an F32 HF export computes exactly what the llama2.c model does", "[llama2c][hf]") {
    const temp_dir dir("f32");
    const auto r = llama2c::export_hf(data_dir + "stories260K.bin", dir / "m", options());
    CHECK(r.total_size == 4 * (512 * 64 + 5 * (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 172 * 64) + 64));

    const auto config = read_json(dir / "m/config.json");
    CHECK(config["architectures"] == nlohmann::json::array({"LlamaForCausalLM"}));
    CHECK(config["hidden_size"] == 64);
    CHECK(config["intermediate_size"] == 172);
    CHECK(config["num_attention_heads"] == 8);
    CHECK(config["num_key_value_heads"] == 4);
    CHECK(config["num_hidden_layers"] == 5);
    CHECK(config["vocab_size"] == 512);
    CHECK(config["max_position_embeddings"] == 512);
    CHECK(config["rms_norm_eps"].get<double>() == 1e-5);
    CHECK(config["rope_theta"].get<double>() == 10000.0);
    CHECK(config["tie_word_embeddings"] == true);
    CHECK(config["torch_dtype"] == "float32");
    CHECK(config["bos_token_id"] == 1);
    CHECK(config["eos_token_id"] == 2);

    const sqllm::io::safetensors_file f(dir / "m/model.safetensors");
    CHECK(f.tensors().size() == 2 + 5 * 9);
    CHECK(f.metadata().at("format") == "pt");
    CHECK(f.find("lm_head.weight") == nullptr);  // tied
    CHECK(f.at("model.layers.4.self_attn.k_proj.weight").shape == std::vector<std::size_t>{32, 64});
    // q rows permuted, v rows not.
    const auto bin = llama2c::read_llama2c(data_dir + "stories260K.bin");
    const auto q = f.to_float(f.at("model.layers.2.self_attn.q_proj.weight"));
    const auto& wq = bin.at("layers.2.wq").data;
    for (std::size_t r = 0; r < 64; ++r)
        for (std::size_t c = 0; c < 64; ++c)
            REQUIRE(q[llama2c::hf_rope_row(r, 8) * 64 + c] == wq[r * 64 + c]);
    CHECK(f.to_float(f.at("model.layers.2.self_attn.v_proj.weight")) == bin.at("layers.2.wv").data);

    // Bit-identical: the loader restores llama2.c's row order, so every
    // float operation is the one the llama2.c path performs.
    const llama2c::nll_sum ref = reference_nll();
    REQUIRE(ref.predicted == 2000);
    for (const std::string& path : {dir / "m", dir / "m/model.safetensors"}) {
        const llama2c::model m = llama2c::load_model(path);
        const llama2c::nll_sum got = dev_nll(m);
        CHECK(got.predicted == ref.predicted);
        CHECK(got.total == ref.total);
    }

    // Token by token (gemv) too, against the llama2.c model's logits.
    const llama2c::model hf = llama2c::load_model(dir / "m");
    const llama2c::model bin_model = llama2c::load_bin(data_dir + "stories260K.bin");
    llama2c::engine a(hf), b(bin_model);
    const std::vector<int> tokens{1, 400, 30, 87, 261, 14, 2, 99};
    for (std::size_t p = 0; p < tokens.size(); ++p) {
        const float* la = a.forward_token(tokens[p], p);
        const std::vector<float> va(la, la + 512);
        const float* lb = b.forward_token(tokens[p], p);
        REQUIRE(va == std::vector<float>(lb, lb + 512));
    }
}

TEST_CASE("a sharded HF export: shards in order, a correct index, the same model", "[llama2c][hf]") {
    const temp_dir dir("shards");
    const auto r = llama2c::export_hf(data_dir + "stories260K.bin", dir / "m", options(sqllm::io::dtype::f32, 2));
    CHECK_FALSE(fs::exists(dir / "m/model.safetensors"));
    const auto index = read_json(dir / "m/model.safetensors.index.json");
    CHECK(index["metadata"]["total_size"] == r.total_size);
    CHECK(index["weight_map"].size() == 47);
    std::size_t bytes = 0;
    for (std::size_t s = 0; s < 2; ++s) {
        const std::string name = llama2c::hf_shard_name(s, 2);
        CHECK(name == (s == 0 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors"));
        const sqllm::io::safetensors_file f(dir / ("m/" + name));
        REQUIRE_FALSE(f.tensors().empty());
        for (const auto& t : f.tensors()) {
            bytes += t.bytes();
            CHECK(index["weight_map"][t.name] == name);
        }
        if (s == 1) CHECK(f.find("model.norm.weight"));  // in order: the last tensor is in the last shard
        if (s == 0) CHECK(f.find("model.embed_tokens.weight"));
    }
    CHECK(bytes == r.total_size);

    const llama2c::nll_sum ref = reference_nll();
    for (const std::string& path : {dir / "m", dir / "m/model.safetensors.index.json"}) {
        const llama2c::nll_sum got = dev_nll(llama2c::load_model(path));
        CHECK(got.total == ref.total);
    }

    // Re-exporting as one file replaces the shards and the index.
    llama2c::export_hf(data_dir + "stories260K.bin", dir / "m", options());
    CHECK(fs::exists(dir / "m/model.safetensors"));
    CHECK_FALSE(fs::exists(dir / "m/model.safetensors.index.json"));
    CHECK_FALSE(fs::exists(dir / ("m/" + llama2c::hf_shard_name(0, 2))));
    // As many shards as tensors: one each.
    llama2c::export_hf(data_dir + "stories260K.bin", dir / "m", options(sqllm::io::dtype::f32, 47));
    CHECK(sqllm::io::safetensors_model(dir / "m").shard_count() == 47);
    CHECK(dev_nll(llama2c::load_model(dir / "m")).total == ref.total);
    CHECK_THROWS_AS(llama2c::export_hf(data_dir + "stories260K.bin", dir / "m", options(sqllm::io::dtype::f32, 48)),
                    sqllm::error);
    CHECK_THROWS_AS(llama2c::export_hf(data_dir + "stories260K.bin", dir / "m", options(sqllm::io::dtype::f32, 0)),
                    sqllm::error);
    CHECK_THROWS_AS(llama2c::export_hf(data_dir + "stories260K.bin", dir / "m", options(sqllm::io::dtype::i32)),
                    sqllm::error);
}

TEST_CASE("BF16 and F16 exports load and give close perplexity", "[llama2c][hf]") {
    const temp_dir dir("half");
    const llama2c::nll_sum ref = reference_nll();
    // Rounding every weight to 8 (BF16) or 11 (F16) significant bits moves
    // the mean NLL by about 1e-4 and 1e-6 here; 2e-3 and 1e-4 of the
    // perplexity are still far below what a wrong tensor or row order costs
    // (the perplexity would double).
    const std::pair<sqllm::io::dtype, double> cases[] = {{sqllm::io::dtype::bf16, 2e-3}, {sqllm::io::dtype::f16, 1e-4}};
    for (const auto& c : cases) {
        llama2c::export_hf(data_dir + "stories260K.bin", dir / "m", options(c.first));
        const sqllm::io::safetensors_file f(dir / "m/model.safetensors");
        CHECK(f.at("model.embed_tokens.weight").type == c.first);
        CHECK(read_json(dir / "m/config.json")["torch_dtype"] ==
              (c.first == sqllm::io::dtype::bf16 ? "bfloat16" : "float16"));
        const llama2c::nll_sum got = dev_nll(llama2c::load_model(dir / "m"));
        INFO(sqllm::io::to_string(c.first) << ": perplexity " << got.perplexity() << " vs " << ref.perplexity());
        CHECK(got.total != ref.total);  // it did round
        CHECK(std::abs(got.perplexity() / ref.perplexity() - 1) < c.second);
    }
}

TEST_CASE("export-hf errors: F16 overflow, an unusable output directory", "[llama2c][hf]") {
    const temp_dir dir("export_errors");
    // stories260K with one embedding value beyond F16's range (65504).
    std::ifstream in(data_dir + "stories260K.bin", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const float big = 1e6f;
    std::memcpy(&bytes[28 + 4 * 100], &big, 4);  // after the 7-int header: tok_embeddings[1][36]
    write_text(dir / "big.bin", bytes);
    try {
        llama2c::export_hf(dir / "big.bin", dir / "m", options(sqllm::io::dtype::f16));
        FAIL("no error");
    } catch (const sqllm::error& e) {
        CHECK(e.code() == errc::out_of_range);
        CHECK(contains(e.what(), "model.embed_tokens.weight"));
    }
    CHECK_FALSE(fs::exists(dir / "m/config.json"));  // nothing committed
    llama2c::export_hf(dir / "big.bin", dir / "m", options(sqllm::io::dtype::bf16));  // BF16 has the range

    write_text(dir / "file", "x");
    try {
        llama2c::export_hf(data_dir + "stories260K.bin", dir / "file", options());
        FAIL("no error");
    } catch (const sqllm::error& e) {
        CHECK(e.code() == errc::io_error);
    }
}

TEST_CASE("the Fisher file under HF names, q/k rows permuted", "[llama2c][hf]") {
    const temp_dir dir("fisher");
    llama2c::hf_export_options o = options(sqllm::io::dtype::bf16);
    o.fisher = data_dir + "fisher.safetensors";
    llama2c::export_hf(data_dir + "stories260K.bin", dir / "m", o);
    const sqllm::io::safetensors_file in(data_dir + "fisher.safetensors"), out(dir / "m/fisher.safetensors");
    REQUIRE(out.tensors().size() == in.tensors().size());
    for (const auto& t : in.tensors()) {
        const std::string hf = llama2c::hf_name_of(t.name);
        const sqllm::io::tensor_info& u = out.at(hf);
        CHECK(u.type == sqllm::io::dtype::f32);
        CHECK(u.shape == t.shape);
        const auto a = in.to_float(t), b = out.to_float(u);
        const bool permuted = llama2c::hf_permutes_rows(t.name);
        for (std::size_t r = 0; r < t.shape[0]; ++r) {
            const std::size_t to = permuted ? llama2c::hf_rope_row(r, 8) : r;
            for (std::size_t c = 0; c < t.shape[1]; ++c)
                REQUIRE(b[to * t.shape[1] + c] == a[r * t.shape[1] + c]);
        }
    }

    // A Fisher file naming something the model lacks, or of the wrong shape.
    const std::string bad = dir / "bad_fisher.safetensors";
    const auto write_bad = [&](const std::string& name, std::vector<std::size_t> shape) {
        sqllm::io::safetensors_writer w(bad);
        const std::vector<float> v(shape[0] * shape[1], 1.0f);
        w.add<float>(name, shape, v);
        w.finish();
    };
    o.fisher = bad;
    write_bad("layers.9.wq", {64, 64});
    try {
        llama2c::export_hf(data_dir + "stories260K.bin", dir / "m2", o);
        FAIL("no error");
    } catch (const sqllm::error& e) {
        CHECK(e.code() == errc::corrupt_data);
        CHECK(contains(e.what(), "layers.9.wq"));
    }
    write_bad("layers.0.wk", {64, 64});
    try {
        llama2c::export_hf(data_dir + "stories260K.bin", dir / "m2", o);
        FAIL("no error");
    } catch (const sqllm::error& e) {
        CHECK(e.code() == errc::shape_mismatch);
        CHECK(contains(e.what(), "layers.0.wk"));
    }
    CHECK_FALSE(fs::exists(dir / "m2/model.safetensors"));  // nothing written before the inputs were checked
}

TEST_CASE("a quantized HF checkpoint (module names, permuted q/k rows) matches the llama2.c-named one",
          "[llama2c][hf][quantized]") {
    // Both quantized by the library from the same weights and Fisher
    // information, one in llama2.c's names and row order, one in HF's (as
    // sqllm-quantize writes a quantized HF directory). Per-row quantization
    // does not care where a row is; the sparse part picks the top fraction of
    // the whole matrix, the same set in either order unless two sensitivities
    // tie at the threshold. So the perplexities agree, here exactly.
    const temp_dir dir("quantized");
    llama2c::hf_export_options o = options();
    o.fisher = data_dir + "fisher.safetensors";
    llama2c::export_hf(data_dir + "stories260K.bin", dir / "hf", o);

    sqllm::quantize_options opt;
    opt.sparse.sensitive_fraction = 0.0005;
    opt.sparse.outlier_fraction = 0.004;
    using sparse = sqllm::csr<float, std::int32_t>;
    const auto quantize = [&](const std::vector<float>& w, const std::vector<float>& s, std::size_t rows,
                              std::size_t cols) {
        return sqllm::quantize<3, float, sparse, sqllm::reference_layout<3>>({w.data(), rows, cols},
                                                                             {s.data(), rows, cols}, opt);
    };
    {  // llama2.c names
        const auto bin = llama2c::read_llama2c(data_dir + "stories260K.bin");
        const sqllm::io::safetensors_file fisher(data_dir + "fisher.safetensors");
        sqllm::io::safetensors_writer out(dir / "l2c.safetensors");
        for (const auto& kv : llama2c::llama2c_metadata(bin.config))
            out.set_metadata(kv.first, kv.second);
        for (const auto& t : bin.tensors) {
            if (t.shape.size() != 2 || t.name == "tok_embeddings") {
                out.add<float>(t.name, t.shape, t.data);
                continue;
            }
            const auto q = quantize(t.data, fisher.to_float(fisher.at(t.name)), t.shape[0], t.shape[1]);
            sqllm::io::write_quantized(out, t.name, q.view());
        }
        out.finish();
    }
    fs::create_directories(dir / "hfq");
    fs::copy_file(dir / "hf/config.json", dir / "hfq/config.json");
    {  // HF names: <module>.qweight ...
        const sqllm::io::safetensors_file in(dir / "hf/model.safetensors"), fisher(dir / "hf/fisher.safetensors");
        sqllm::io::safetensors_writer out(dir / "hfq/model.safetensors");
        for (const auto& t : in.tensors()) {
            if (t.shape.size() != 2 || t.name == "model.embed_tokens.weight") {
                out.add(t.name, t.type, t.shape, in.bytes(t).data(), t.bytes());
                continue;
            }
            const auto q = quantize(in.to_float(t), fisher.to_float(fisher.at(t.name)), t.shape[0], t.shape[1]);
            sqllm::io::write_quantized(out, t.name.substr(0, t.name.size() - 7), q.view());
        }
        out.finish();
    }
    const llama2c::model l2c = llama2c::load_model(dir / "l2c.safetensors");
    const llama2c::model hfq = llama2c::load_model(dir / "hfq");
    CHECK(hfq.layers[0].wq->describe() == "3-bit LUT + CSR");
    CHECK(llama2c::summary(hfq) == llama2c::summary(l2c));
    const llama2c::nll_sum a = dev_nll(l2c), b = dev_nll(hfq);
    INFO("perplexity llama2.c-named " << a.perplexity() << ", HF " << b.perplexity());
    CHECK(a.perplexity() > reference_nll().perplexity());  // it is quantized
    CHECK(std::abs(b.total - a.total) <= 1e-4 * a.total);
    CHECK(b.total == a.total);

    // Token by token, through row_permuted_linear's gemv: the llama2.c-named model's logits.
    llama2c::engine e(hfq), w(l2c);
    const std::vector<int> tokens{1, 400, 30, 87, 261};
    for (std::size_t p = 0; p < tokens.size(); ++p) {
        const float* t = e.forward_token(tokens[p], p);
        const std::vector<float> lt(t, t + 512);
        const float* u = w.forward_token(tokens[p], p);
        REQUIRE(lt == std::vector<float>(u, u + 512));
    }
}

TEST_CASE("malformed HF models give a clear error", "[llama2c][hf]") {
    const temp_dir dir("bad");
    llama2c::export_hf(data_dir + "stories260K.bin", dir / "good", options());
    const std::string good = dir / "good";
    const auto same = [](nlohmann::json&) {};
    const auto all = [](const std::string&) { return true; };
    int n = 0;
    const auto expect = [&](errc code, const std::string& text, auto edit, auto keep) {
        const std::string path = dir / ("case" + std::to_string(++n));
        copy_model(good, path, edit, keep);
        const auto e = load_error(path);
        INFO(e.second);
        CHECK(e.first == code);
        CHECK(contains(e.second, text));
    };

    // config.json inconsistent with the tensors
    expect(errc::shape_mismatch, "model.embed_tokens.weight", [](nlohmann::json& c) { c["hidden_size"] = 32; }, all);
    expect(errc::shape_mismatch, "k_proj", [](nlohmann::json& c) { c["num_key_value_heads"] = 8; }, all);
    expect(errc::shape_mismatch, "gate_proj", [](nlohmann::json& c) { c["intermediate_size"] = 170; }, all);
    expect(errc::corrupt_data, "model.layers.5.input_layernorm.weight",
           [](nlohmann::json& c) { c["num_hidden_layers"] = 6; }, all);
    expect(errc::corrupt_data, "\"model.layers.4.input_layernorm.weight\" is not part of the model",
           [](nlohmann::json& c) { c["num_hidden_layers"] = 4; }, all);
    expect(errc::corrupt_data, "lm_head.weight", [](nlohmann::json& c) { c["tie_word_embeddings"] = false; }, all);
    // a missing tensor
    expect(errc::corrupt_data, "no tensor \"model.norm.weight\"", same,
           [](const std::string& t) { return t != "model.norm.weight"; });
    expect(errc::corrupt_data, "model.layers.3.self_attn.v_proj.weight", same,
           [](const std::string& t) { return t != "model.layers.3.self_attn.v_proj.weight"; });
    // config.json itself: missing fields, wrong types, bad values, unsupported features
    expect(errc::corrupt_data, "lacks \"num_attention_heads\"", [](nlohmann::json& c) { c.erase("num_attention_heads"); }, all);
    expect(errc::corrupt_data, "\"hidden_size\" is not an integer", [](nlohmann::json& c) { c["hidden_size"] = "64"; }, all);
    expect(errc::corrupt_data, "\"vocab_size\" = 0 is not positive", [](nlohmann::json& c) { c["vocab_size"] = 0; }, all);
    expect(errc::corrupt_data, "\"vocab_size\" = -512 is not positive", [](nlohmann::json& c) { c["vocab_size"] = -512; }, all);
    expect(errc::corrupt_data, "exceeds", [](nlohmann::json& c) { c["max_position_embeddings"] = 1LL << 40; }, all);
    expect(errc::corrupt_data, "not a multiple of num_attention_heads", [](nlohmann::json& c) { c["num_attention_heads"] = 7; }, all);
    expect(errc::corrupt_data, "not a multiple of num_key_value_heads", [](nlohmann::json& c) { c["num_key_value_heads"] = 3; }, all);
    expect(errc::corrupt_data, "is odd", [](nlohmann::json& c) { c["num_attention_heads"] = 64; c["num_key_value_heads"] = 64; }, all);
    expect(errc::corrupt_data, "rms_norm_eps", [](nlohmann::json& c) { c["rms_norm_eps"] = -1.0; }, all);
    expect(errc::corrupt_data, "rope_theta", [](nlohmann::json& c) { c["rope_theta"] = 0.5; }, all);
    expect(errc::corrupt_data, "rope_scaling", [](nlohmann::json& c) { c["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}}; }, all);
    expect(errc::corrupt_data, "head_dim", [](nlohmann::json& c) { c["head_dim"] = 16; }, all);
    expect(errc::corrupt_data, "hidden_act", [](nlohmann::json& c) { c["hidden_act"] = "gelu"; }, all);
    expect(errc::corrupt_data, "attention_bias", [](nlohmann::json& c) { c["attention_bias"] = true; }, all);
    expect(errc::corrupt_data, "model_type", [](nlohmann::json& c) { c["model_type"] = "mistral"; }, all);
    expect(errc::corrupt_data, "LlamaForCausalLM", [](nlohmann::json& c) { c["architectures"] = {"GPT2LMHeadModel"}; }, all);
    expect(errc::corrupt_data, "not a JSON object", [](nlohmann::json& c) { c = nlohmann::json::array(); }, all);

    // Defaults as in transformers: num_key_value_heads = num_attention_heads (a mismatch here), eps 1e-6.
    expect(errc::shape_mismatch, "k_proj", [](nlohmann::json& c) { c.erase("num_key_value_heads"); }, all);
    {
        const std::string path = dir / "eps";
        copy_model(good, path, [](nlohmann::json& c) { c.erase("rms_norm_eps"); c["rope_theta"] = 500000.0; }, all);
        const llama2c::model m = llama2c::load_model(path);
        CHECK(m.config.norm_eps == 1e-6f);
        CHECK(m.config.rope_theta == 500000.0);
        CHECK(dev_nll(m).total != reference_nll().total);  // and the engine uses them
    }

    // config.json missing, or not JSON
    {
        const std::string path = dir / "noconfig";
        copy_model(good, path, same, all);
        fs::remove(path + "/config.json");
        for (const std::string& p : {path, path + "/model.safetensors"}) {
            const auto e = load_error(p);
            CHECK(e.first == errc::io_error);
            CHECK(contains(e.second, "config.json: missing"));
        }
        write_text(path + "/config.json", "{\"hidden_size\": 64,");
        const auto e = load_error(path);
        CHECK(e.first == errc::corrupt_data);
        CHECK(contains(e.second, "not valid JSON"));
    }
    // a tensor of a dtype that is not a float
    {
        const std::string path = dir / "int_norm";
        copy_model(good, path, same, [](const std::string& t) { return t != "model.norm.weight"; });
        const sqllm::io::safetensors_file in(path + "/model.safetensors");
        sqllm::io::safetensors_writer out(path + "/model2.safetensors");
        for (const auto& t : in.tensors())
            out.add(t.name, t.type, t.shape, in.bytes(t).data(), t.bytes());
        const std::vector<std::int32_t> ints(64, 1);
        out.add<std::int32_t>("model.norm.weight", {64}, ints);
        out.finish();
        fs::rename(path + "/model2.safetensors", path + "/model.safetensors");
        const auto e = load_error(path);
        CHECK(e.first == errc::shape_mismatch);
        CHECK(contains(e.second, "model.norm.weight"));
    }
    // a directory without model files; a quantized layer of the wrong shape
    {
        const std::string path = dir / "empty";
        fs::create_directories(path);
        fs::copy_file(good + "/config.json", path + "/config.json");
        CHECK(load_error(path).first == errc::invalid_argument);
    }
    {
        const std::string path = dir / "badq";
        copy_model(good, path, same, [](const std::string& t) { return t != "model.layers.1.mlp.up_proj.weight"; });
        // Rewrite with a 3-bit layer of 16 rows where up_proj (172 x 64) belongs.
        const sqllm::io::safetensors_file in(path + "/model.safetensors");
        sqllm::io::safetensors_writer out(path + "/model2.safetensors");
        for (const auto& t : in.tensors())
            out.add(t.name, t.type, t.shape, in.bytes(t).data(), t.bytes());
        const std::vector<float> w(16 * 64, 0.25f);
        const auto q = sqllm::quantize<3, float, sqllm::csr<float, std::int32_t>, sqllm::reference_layout<3>>(
            w.data(), 16, 64);
        sqllm::io::write_quantized(out, "model.layers.1.mlp.up_proj", q.view());
        out.finish();
        fs::rename(path + "/model2.safetensors", path + "/model.safetensors");
        const auto e = load_error(path);
        CHECK(e.first == errc::shape_mismatch);
        CHECK(contains(e.second, "model.layers.1.mlp.up_proj"));
    }
}
