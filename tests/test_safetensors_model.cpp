// io::safetensors_model (one file, a model directory, its shard index) and
// io::quant_config: the three spellings open the same model, the index is
// checked against the shards both ways, a hostile index reaches no other
// file, quant_config.json round-trips and rejects what it cannot mean, and
// a striped-layout model in two shards (each with its own padding tensors)
// opens, views and loads its layers from the right shard.
#include <sqllm/io/quant_config.hpp>
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors_model.hpp>
#include <sqllm/io/safetensors_writer.hpp>
#include <sqllm/sqllm.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

using namespace sqllm;
using namespace sqllm::io;
namespace fs = std::filesystem;

namespace {

struct model_dir {
    fs::path path;
    model_dir() {
        path = fs::temp_directory_path() / ("sqllm_model_" + std::to_string(::getpid()) + "_" +
                                            std::to_string(reinterpret_cast<std::uintptr_t>(this)));
        fs::create_directories(path);
    }
    ~model_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& n) const { return (path / n).string(); }
    void text(const std::string& name, const std::string& body) const { std::ofstream(path / name) << body; }
    void shard(const std::string& name, const std::vector<std::string>& tensors, float base) const {
        safetensors_writer w(*this / name);
        float v = base;
        for (const std::string& t : tensors) {
            const std::vector<float> data{v, v + 1, v + 2};
            w.add<float>(t, {3}, data);
            v += 10;
        }
        w.finish();
    }
};

const char* index_two =
    R"({"metadata": {"total_size": 48}, "weight_map": {"a": "s1.safetensors", "b": "s1.safetensors",
       "c": "s2.safetensors", "d": "s2.safetensors"}})";

template <class F>
bool throws(F&& f, errc code, const std::string& fragment) {
    try {
        f();
    } catch (const error& e) {
        INFO(e.what());
        CHECK(e.code() == code);
        CHECK(std::string(e.what()).find(fragment) != std::string::npos);
        return e.code() == code && std::string(e.what()).find(fragment) != std::string::npos;
    }
    return false;
}

}  // namespace

TEST_CASE("safetensors_model opens a file, a directory and an index alike", "[safetensors][model]") {
    model_dir d;
    d.shard("s1.safetensors", {"a", "b"}, 0);
    d.shard("s2.safetensors", {"c", "d"}, 100);
    d.text("model.safetensors.index.json", index_two);
    for (const std::string& p : {d.path.string(), d / "model.safetensors.index.json"}) {
        const safetensors_model m(p);
        CHECK(m.sharded());
        REQUIRE(m.shard_count() == 2);
        CHECK(m.shard_name(0) == "s1.safetensors");
        CHECK(m.tensors().size() == 4);
        std::size_t s = 9;
        REQUIRE(m.find("c", &s) != nullptr);
        CHECK(s == 1);
        CHECK(m.to_float("d") == std::vector<float>{110, 111, 112});
        CHECK(m.find("e") == nullptr);
        CHECK(m.index_metadata().at("total_size") == 48);
        CHECK(&m.file_of("a") == &m.shard(0));
    }
    const safetensors_model one(d / "s2.safetensors");
    CHECK_FALSE(one.sharded());
    CHECK(one.shard_count() == 1);
    CHECK(one.to_float("c") == std::vector<float>{100, 101, 102});

    model_dir single;
    single.shard("model.safetensors", {"x"}, 1);
    const safetensors_model dir(single.path.string());
    CHECK_FALSE(dir.sharded());
    CHECK(dir.find("x") != nullptr);
}

TEST_CASE("safetensors_model checks the index against the shards", "[safetensors][model]") {
    model_dir d;
    d.shard("s1.safetensors", {"a", "b"}, 0);
    d.shard("s2.safetensors", {"c", "d", "b"}, 100);
    const std::string idx = d / "model.safetensors.index.json";
    auto open = [&](const std::string& body) {
        d.text("model.safetensors.index.json", body);
        return [idx] { safetensors_model m(idx); };
    };
    CHECK(throws(open(R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors",
                                         "d": "s2.safetensors"}})"),
                 errc::corrupt_data, "which the index maps to s1.safetensors"));
    d.shard("s2.safetensors", {"c", "d"}, 100);
    CHECK(throws(open(R"({"weight_map": {"a": "s1.safetensors", "c": "s2.safetensors", "d": "s2.safetensors"}})"),
                 errc::corrupt_data, "which the index does not map"));
    CHECK(throws(open(R"({"weight_map": {"a": "s2.safetensors", "b": "s1.safetensors", "c": "s2.safetensors",
                                         "d": "s2.safetensors"}})"),
                 errc::corrupt_data, "which has no such tensor"));
    CHECK(throws(open(R"({"weight_map": {"a": "../s1.safetensors"}})"), errc::corrupt_data,
                 "not a file in the index's directory"));
    CHECK(throws(open(R"({"weight_map": {"a": "/etc/passwd"}})"), errc::corrupt_data, "not a file in the index's directory"));
    CHECK(throws(open(R"({"weight_map": {"a": ".."}})"), errc::corrupt_data, "not a file in the index's directory"));
    CHECK(throws(open(R"({"weight_map": {"a": 3}})"), errc::corrupt_data, "is not a file name"));
    CHECK(throws(open(R"({"weight_map": {}})"), errc::corrupt_data, "maps no tensor"));
    CHECK(throws(open(R"({"metadata": 3, "weight_map": {"a": "s1.safetensors"}})"), errc::corrupt_data,
                 "\"metadata\" is not an object"));
    CHECK(throws(open(R"({"weight_map": [1]})"), errc::corrupt_data, "no \"weight_map\" object"));
    CHECK(throws(open(R"([])"), errc::corrupt_data, "not a JSON object"));
    CHECK(throws(open(R"({"weight_map": {"a": "s1.safe)"), errc::corrupt_data, "not valid JSON"));
    CHECK(throws(open(R"({"weight_map": {"a": "missing.safetensors"}})"), errc::io_error, "missing.safetensors"));
    // The same name in two shards, both mapped (the index can name only one).
    d.shard("s2.safetensors", {"c", "a"}, 100);
    CHECK(throws(open(R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}})"),
                 errc::corrupt_data, "holds \"a\", which the index maps to s1.safetensors"));
    // Not a model directory at all.
    model_dir empty;
    CHECK(throws([&] { safetensors_model m(empty.path.string()); }, errc::invalid_argument, "has neither"));
}

TEST_CASE("quant_config.json round-trips and rejects what it cannot mean", "[quant_config]") {
    quant_config c;
    c.producer = "test 1";
    c.method = "exact";
    c.sparsity = "outliers=0.45%";
    c.sensitivity = "none";
    c.layers.push_back({"m.b", 4, 8, 64, 3, dtype::f16, "none"});
    c.layers.push_back({"m.a", 3, 16, 64, 0, dtype::f32, "outliers=0.45%"});
    c.layers.push_back({"m.c", 3, 16, 64, 0, dtype::f32, "none"});
    c.wbits = c.majority_bits();
    CHECK(c.wbits == 3);  // 2048 weights at 3 bits, 512 at 4
    c.extra["group_size"] = -1;
    const std::string text = c.dump();
    const quant_config back = quant_config::parse(text, "q.json");
    CHECK(back.dump() == text);
    CHECK(back.layers[0].name == "m.a");  // sorted by name
    CHECK(back.layers[1].lut_type == dtype::f16);
    CHECK(back.extra.at("group_size") == -1);
    CHECK(text.find("\"quant_method\": \"squeezellm\"") != std::string::npos);

    const quant_config ref = quant_config::parse(R"({"wbits": 4})", "ref.json");  // the reference's whole file
    CHECK(ref.wbits == 4);
    CHECK(ref.layers.empty());

    CHECK(throws([] { quant_config::parse("{", "q.json"); }, errc::corrupt_data, "q.json: not a JSON object"));
    CHECK(throws([] { quant_config::parse(R"({"bits": 3})", "q.json"); }, errc::corrupt_data, "\"wbits\" is missing"));
    CHECK(throws([] { quant_config::parse(R"({"wbits": 9})", "q.json"); }, errc::corrupt_data, "not a code width"));
    CHECK(throws([] { quant_config::parse(R"({"wbits": 3, "sqllm": {"layers": {"x": {"bits": 3}}}})", "q.json"); },
                 errc::corrupt_data, "layer \"x\": \"shape\" is not [rows, cols]"));
    CHECK(throws([] { quant_config::parse(R"({"wbits": 3, "sqllm": {"layers": {"x": {"bits": 0, "shape": [1, 2]}}}})", "q"); },
                 errc::corrupt_data, "\"bits\" is missing or not 1..8"));
    CHECK(throws([] { quant_config::parse(R"({"wbits": 3, "sqllm": {"layers": {"x": {"bits": 3, "shape": [1, 2],
                                               "lut": "I32"}}}})", "q"); },
                 errc::corrupt_data, "\"lut\" is not F32 or F16"));
}

TEST_CASE("safetensors_file::to_float on an executor equals the serial conversion bit for bit", "[safetensors]") {
    model_dir d;
    sqllm_test::rng_t rng(7);
    const std::size_t n = (std::size_t(1) << 18) * 2 + 12345;  // over two of its blocks, and a partial one
    const std::vector<float> v = sqllm_test::random_normal(rng, n, 3.0f);
    std::vector<half> h(n);
    std::vector<bfloat16> b(n);
    for (std::size_t i = 0; i < n; ++i) {
        h[i] = half(v[i]);
        b[i] = bfloat16(v[i]);
    }
    {
        safetensors_writer w(d / "t.safetensors");
        w.add<float>("f", {n}, v);
        w.add<half>("h", {n}, h);
        w.add<bfloat16>("b", {n}, b);
        w.add<std::int32_t>("i", {2}, std::vector<std::int32_t>{1, 2});
        w.finish();
    }
    const safetensors_file f(d / "t.safetensors");
    const thread_executor exec(3);
    for (const char* name : {"f", "h", "b"}) {
        const auto serial = f.to_float(f.at(name)), parallel = f.to_float(f.at(name), exec);
        REQUIRE(serial.size() == n);
        CHECK(std::memcmp(serial.data(), parallel.data(), n * sizeof(float)) == 0);
    }
    CHECK_THROWS_AS(f.to_float(f.at("i"), exec), error);  // not floating point: the serial path's error
    std::vector<float> small(3);
    CHECK_THROWS_AS(f.to_float(f.at("f"), span<float>(small.data(), small.size()), exec), error);
}

namespace {

/// A random rows × cols 4-bit matrix in the striped layout, with a CSR part when `sparse`.
quantized_matrix<4, float, csr<>, striped_layout<4>> random_q4(sqllm_test::rng_t& rng, std::size_t rows, std::size_t cols,
                                                               bool sparse) {
    const auto codes = sqllm_test::random_codes(rng, rows * cols, 4);
    auto words = pack_codes<striped_layout<4>>(matrix_view<const code_t>(codes.data(), rows, cols));
    auto lut = sqllm_test::random_lut<float>(rng, rows, 16);
    csr_storage<float, std::int32_t> s;
    if (sparse) s = sqllm_test::random_csr<float, std::int32_t>(rng, rows, cols, 0.02);
    return {rows, cols, std::move(lut), std::move(words), std::move(s)};
}

template <class A, class B>
bool same_dense(const A& a, const B& b) {
    const auto x = dequantize<float>(a), y = dequantize<float>(b);
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("safetensors_model: a striped model in two shards, padding in each", "[safetensors][model][striped]") {
    model_dir d;
    sqllm_test::rng_t rng(11);
    // Widths that are not multiples of 64 bytes, so every shard needs padding.
    const auto a = random_q4(rng, 5, 100, true), b = random_q4(rng, 7, 300, false), c = random_q4(rng, 3, 40, true);
    const std::vector<float> norm{1, 2, 3};
    {
        safetensors_writer w(d / "s1.safetensors");
        w.add<float>("norm", {3}, norm);
        write_quantized(w, "m.a", a.view(), dtype::f32, checkpoint_layout::striped);
        write_quantized(w, "m.b", b.view(), dtype::f32, checkpoint_layout::striped);
        w.finish();
        safetensors_writer w2(d / "s2.safetensors");
        write_quantized(w2, "m.c", c.view(), dtype::f32, checkpoint_layout::striped);
        w2.finish();
    }
    // Both shards hold "__padding__.0": the index maps neither.
    for (const char* s : {"s1.safetensors", "s2.safetensors"})
        CHECK(safetensors_file(d / s).find("__padding__.0") != nullptr);
    const std::string map =
        R"("norm": "s1.safetensors",
           "m.a.striped_codes": "s1.safetensors", "m.a.lookup_table": "s1.safetensors",
           "m.a.rows": "s1.safetensors", "m.a.cols": "s1.safetensors", "m.a.vals": "s1.safetensors",
           "m.b.striped_codes": "s1.safetensors", "m.b.lookup_table": "s1.safetensors",
           "m.c.striped_codes": "s2.safetensors", "m.c.lookup_table": "s2.safetensors",
           "m.c.rows": "s2.safetensors", "m.c.cols": "s2.safetensors", "m.c.vals": "s2.safetensors")";
    d.text("model.safetensors.index.json", "{\"weight_map\": {" + map + "}}");

    auto check_model = [&] {
        const safetensors_model m(d.path.string());
        REQUIRE(m.shard_count() == 2);
        CHECK(m.tensors().size() == 13);  // the 13 mapped tensors, no padding
        for (const auto& t : m.tensors())
            CHECK_FALSE(is_padding_tensor(t.info->name));
        CHECK(m.find("__padding__.0") == nullptr);
        const auto layers = m.quantized_layers();
        REQUIRE(layers.size() == 3);
        const thread_executor exec(2);
        for (const quantized_layer_info& L : layers) {
            CAPTURE(L.name);
            CHECK(L.layout == checkpoint_layout::striped);
            const auto want = (L.name == "m.a" ? a : L.name == "m.b" ? b : c).view();
            const auto v = m.view_quantized<4>(L);
            CHECK(v.rows() == want.rows());
            CHECK(v.cols() == want.cols());
            CHECK(v.nonzeros() == want.nonzeros());
            CHECK(std::memcmp(v.words(), want.words(), want.word_count() * 4) == 0);
            // In place: the view's words are the shard's mapped bytes.
            std::size_t shard = 9;
            const tensor_info* codes = m.find(L.codes_tensor(), &shard);
            REQUIRE(codes != nullptr);
            CHECK(static_cast<const void*>(v.words()) == static_cast<const void*>(m.shard(shard).bytes(*codes).data()));
            CHECK(same_dense(v, want));
            CHECK(same_dense(m.load_quantized<4>(L).view(), want));
            CHECK(same_dense(m.load_quantized<4>(L, exec).view(), want));
            CHECK(same_dense(m.load_quantized<4, float, csr<>, reference_layout<4>>(L, exec).view(), want));
        }
        // Errors: Bits, Lut and a layer the model does not have.
        CHECK(throws([&] { (void)m.view_quantized<3>(layers[0]); }, errc::invalid_argument, "requested 3"));
        CHECK(throws([&] { (void)m.view_quantized<4, half>(layers[0]); }, errc::invalid_argument, "requested"));
        quantized_layer_info ghost = layers[0];
        ghost.name = "m.ghost";
        CHECK(throws([&] { (void)m.view_quantized<4>(ghost); }, errc::invalid_argument,
                     "no tensor named \"m.ghost.striped_codes\""));
        CHECK(throws([&] { (void)m.load_quantized<4>(ghost); }, errc::invalid_argument,
                     "no tensor named \"m.ghost.striped_codes\""));
    };
    check_model();
    // An index that names padding anyway (as a tool listing every shard's tensors would) is read the same:
    // those entries are ignored, whichever shard, even a missing one, they name.
    d.text("model.safetensors.index.json",
           "{\"weight_map\": {" + map +
               R"(, "__padding__.0": "s2.safetensors", "__padding__.1": "s1.safetensors",
                  "__padding__.7": "nowhere.safetensors", "__padding__.8": 3}})");
    check_model();
    // An index of padding only maps no tensor.
    d.text("model.safetensors.index.json", R"({"weight_map": {"__padding__.0": "s1.safetensors"}})");
    CHECK(throws([&] { safetensors_model m(d.path.string()); }, errc::corrupt_data, "maps no tensor"));
    // The real names are still checked both ways.
    d.text("model.safetensors.index.json", R"({"weight_map": {"norm": "s1.safetensors", "__padding__.0": "s1.safetensors"}})");
    CHECK(throws([&] { safetensors_model m(d.path.string()); }, errc::corrupt_data,
                 "holds \"m.a.striped_codes\", which the index does not map"));

    // A reference-layout layer loads through the model but is no view.
    model_dir r;
    {
        safetensors_writer w(r / "model.safetensors");
        write_quantized(w, "m.a", a.view());
        w.finish();
    }
    const safetensors_model ref(r.path.string());
    const auto layers = ref.quantized_layers();
    REQUIRE(layers.size() == 1);
    CHECK(layers[0].codes_tensor() == "m.a.qweight");
    CHECK(same_dense(ref.load_quantized<4>(layers[0], thread_executor(2)).view(), a.view()));
    CHECK(throws([&] { (void)ref.view_quantized<4>(layers[0]); }, errc::invalid_argument, "reference layout"));
}
