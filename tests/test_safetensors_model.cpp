// io::safetensors_model (one file, a model directory, its shard index) and
// io::quant_config: the three spellings open the same model, the index is
// checked against the shards both ways, a hostile index reaches no other
// file, and quant_config.json round-trips and rejects what it cannot mean.
#include <sqllm/io/quant_config.hpp>
#include <sqllm/io/safetensors_model.hpp>
#include <sqllm/io/safetensors_writer.hpp>

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
