// Tests of io/pickle.hpp, io/torch_checkpoint.hpp and io/torch_reference.hpp
// on the committed fixtures of tests/torch/make_fixtures.py (tests/data/torch/:
// CI has no torch) and on hand-written pickles.
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/torch_reference.hpp>
#include <sqllm/sqllm.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "catch.hpp"

#ifndef SQLLM_TEST_DATA_DIR
#define SQLLM_TEST_DATA_DIR "tests/data"
#endif

namespace {

namespace io = sqllm::io;
namespace pk = sqllm::io::pickle;

std::string data(const std::string& rel) { return std::string(SQLLM_TEST_DATA_DIR) + "/torch/" + rel; }

/// Runs f, requires a sqllm::error of `code` whose message contains `part`.
template <class F>
void require_error(F&& f, sqllm::errc code, const std::string& part) {
    try {
        f();
    } catch (const sqllm::error& e) {
        INFO("message: " << e.what());
        CHECK(e.code() == code);
        CHECK(std::string(e.what()).find(part) != std::string::npos);
        return;
    }
    FAIL("no sqllm::error thrown (expected one containing \"" << part << "\")");
}

pk::graph unpickle(const std::string& bytes, const pk::pickle_limits& lim = {}) {
    return pk::unpickle(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), "test", lim);
}

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("pickle: scalars, containers, memo, OrderedDict") {
    // {'a': [1, -2, 300, 70000, True, None, 1.5], 'b': ('x', b'y')} with a memo round trip.
    using namespace std::string_literals;
    const std::string p = "\x80\x02}q\x00("s + "X\x01\x00\x00\x00"s + "a]q\x01("s + "K\x01"s + "J\xfe\xff\xff\xff"s +
                          "M\x2c\x01"s + "J\x70\x11\x01\x00"s + "\x88N"s + "G\x3f\xf8\x00\x00\x00\x00\x00\x00"s + "e"s +
                          "X\x01\x00\x00\x00"s + "b\x8c\x01"s + "x"s + "C\x01"s + "y\x86h\x01\x86u."s;
    const pk::graph g = unpickle(p);
    const pk::object& root = g[g.root()];
    REQUIRE(root.type == pk::kind::dict);
    REQUIRE(root.items.size() == 4);
    const pk::object& list = g[root.items[1]];
    REQUIRE(list.type == pk::kind::list);
    REQUIRE(list.items.size() == 7);
    CHECK(g[list.items[0]].integer == 1);
    CHECK(g[list.items[1]].integer == -2);
    CHECK(g[list.items[2]].integer == 300);
    CHECK(g[list.items[3]].integer == 70000);
    CHECK(g[list.items[4]].type == pk::kind::boolean);
    CHECK(g[list.items[5]].type == pk::kind::none);
    CHECK(g[list.items[6]].real == 1.5);
    const pk::object& b = g[root.items[3]];
    REQUIRE(b.type == pk::kind::tuple);
    REQUIRE(b.items.size() == 2);
    CHECK(g[g[b.items[0]].items[0]].text == "x");
    CHECK(g[g[b.items[0]].items[1]].type == pk::kind::bytes);
    CHECK(b.items[1] == root.items[1]);  // BINGET 1: the same list, shared
    // LONG1: negative and 8-byte values.
    const pk::graph l = unpickle(std::string("\x80\x02\x8a\x02\x00\xff.", 7));
    CHECK(l[l.root()].integer == -256);
    // OrderedDict() is the only call that builds something.
    const pk::graph od = unpickle("\x80\x02" "ccollections\nOrderedDict\n)R.");
    CHECK(od[od.root()].type == pk::kind::dict);
}

TEST_CASE("pickle: hostile input is a named error, never a crash") {
    using sqllm::errc;
    using namespace std::string_literals;
    require_error([] { unpickle("\x80\x02" "cos\nsystem\n."); }, errc::invalid_argument, "os.system");
    require_error([] { unpickle("\x80\x02" "cbuiltins\neval\n."); }, errc::invalid_argument, "allow-list");
    require_error([] { unpickle(std::string("\x80\x02\x93", 3)); }, errc::corrupt_data, "needs 2 objects");
    require_error([] { unpickle("\x80\x02" "S'x'\n."); }, errc::corrupt_data, "opcode 0x53 ('S')");
    require_error([] { unpickle("\x80\x02" "]"); }, errc::corrupt_data, "without STOP");
    require_error([] { unpickle("\x80\x02" "X\xff\xff\xff\x7f" "ab."); }, errc::corrupt_data, "truncated");
    require_error([] { unpickle(std::string("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xff.", 12)); }, errc::corrupt_data, "bytes but");
    require_error([] { unpickle("\x80\x02" "h\x05."); }, errc::corrupt_data, "memo entry 5");
    require_error([] { unpickle("\x80\x02" "a."); }, errc::corrupt_data, "needs 2 objects");
    require_error([] { unpickle("\x80\x02" "K\x01" "K\x02" "."); }, errc::corrupt_data, "2 objects on the stack");
    require_error([] { unpickle("\x80\x02" "K\x01" "K\x02" "R."); }, errc::corrupt_data, "REDUCE calls an int");
    require_error([] { unpickle("\x80\x02" "ctorch\nFloatStorage\n)R."); }, errc::corrupt_data, "storage type");
    require_error([] { unpickle(std::string("\x80\x02\x8a\x09", 4) + std::string(9, '\x01') + "."); }, errc::corrupt_data, "64 bits");
    // A self-reference: a list appended into itself, or modified after being nested.
    require_error([] { unpickle("\x80\x02]q\x00h\x00" "a."s); }, errc::corrupt_data, "inside itself");
    require_error([] { unpickle("\x80\x02]q\x00]h\x00" "ah\x00" "K\x01" "a."s); }, errc::corrupt_data, "already placed");
    // Recursion bombs: 10^6 MARKs, 10^6 nested lists; and a bounded object count.
    require_error([] { unpickle("\x80\x02" + std::string(1000000, '(') + "."); }, errc::corrupt_data, "MARKs nested deeper");
    require_error([] { unpickle("\x80\x02" + std::string(1000000, ']') + std::string(999999, 'a') + "."); },
                  errc::corrupt_data, "nested deeper than 64");
    pk::pickle_limits small;
    small.max_objects = 1000;
    require_error([&] { unpickle("\x80\x02" + std::string(5000, 'N') + ".", small); }, errc::corrupt_data, "more than 1000 objects");
    // Popping through a MARK is refused.
    require_error([] { unpickle("\x80\x02" "]K\x01(a."); }, errc::corrupt_data, "above the MARK");
}

TEST_CASE("torch_checkpoint: tensors, views, Parameters and ints of misc.pt") {
    const io::torch_checkpoint f(data("misc.pt"));
    CHECK(f.root() == "misc");
    REQUIRE(f.tensors().size() == 5);
    CHECK(f.to_float(f.at("param")) == std::vector<float>{1.5f, -2.0f, 3.25f});
    const auto& tr = f.at("transposed");  // base.t(): strides (1, 6), not contiguous
    CHECK(tr.describe() == "F32[6, 4]");
    CHECK_FALSE(tr.contiguous());
    const auto t = f.read<float>(tr);
    for (std::size_t r = 0; r < 6; ++r)
        for (std::size_t c = 0; c < 4; ++c)
            CHECK(t[r * 4 + c] == static_cast<float>(c * 6 + r));
    const auto& sl = f.at("slice");  // base[1:3, 2:5]: offset 8, strides (6, 1)
    CHECK(sl.storage_offset == 8);
    CHECK(f.read<float>(sl) == std::vector<float>{8, 9, 10, 14, 15, 16});
    CHECK(f.to_float(f.at("bf16")) == std::vector<float>{1.0f, -0.5f, 65280.0f});
    CHECK(f.read<std::int64_t>(f.at("int64")) == std::vector<std::int64_t>{-1, std::int64_t(1) << 40});
    REQUIRE(f.find_integer("count"));
    CHECK(*f.find_integer("count") == 42);
    CHECK(f.find("count") == nullptr);
    require_error([&] { f.read<std::int32_t>(f.at("param")); }, sqllm::errc::shape_mismatch, "expected I32");
    require_error([&] { f.to_float(f.at("int64")); }, sqllm::errc::shape_mismatch, "not a floating-point");
    require_error([&] { f.at("nope"); }, sqllm::errc::invalid_argument, "no tensor named");
    const io::torch_checkpoint h(data("bad/good_handmade.pt"));
    CHECK(h.read<float>(h.at("t")) == std::vector<float>{1, 2, 3, 4});
}

namespace {

template <int Bits>
void check_layer(const io::torch_checkpoint& f, const io::torch_quantized_layer& L, const sqllm::io::safetensors_file& ex) {
    const auto q = io::load_torch_quantized<Bits>(f, L);
    REQUIRE(q.view().rows() == L.rows);
    REQUIRE(q.view().cols() == L.cols);
    const auto x = ex.read<float>(ex.at(L.name + ".x"));
    const auto y_ref = ex.read<double>(ex.at(L.name + ".y"));
    const auto bound = ex.read<double>(ex.at(L.name + ".absy"));
    std::vector<float> y(L.rows);
    sqllm::gemv(q.view(), x, y);
    // Float accumulation of cols products (and of the LUT + residual sum,
    // and, for hybrid rows, the one rounding of the fold): each term is
    // off by at most a few ulps, so |y − y_ref| ≤ (cols + 4)·2^-24·Σ|W||x|;
    // twice that for the kernels' order of summation.
    const double u = std::ldexp(1.0, -24);
    for (std::size_t r = 0; r < L.rows; ++r) {
        INFO(L.name << " row " << r << ": " << y[r] << " vs " << y_ref[r]);
        CHECK(std::abs(static_cast<double>(y[r]) - y_ref[r]) <= 2.0 * (static_cast<double>(L.cols) + 4) * u * bound[r] + 1e-30);
    }
    if (L.has_bias) CHECK(f.to_float(f.at(L.name + ".bias")) == ex.read<float>(ex.at(L.name + ".bias")));
}

void check_model(const std::string& dir, int wbits, std::size_t layers) {
    const io::torch_checkpoint f(data(dir + "/model.pt"));
    const sqllm::io::safetensors_file ex(data(dir + "/expected.safetensors"));
    const auto found = io::find_torch_quantized_layers(f);
    REQUIRE(found.size() == layers);
    for (const auto& L : found) {
        INFO("layer " << L.name);
        CHECK(L.bits == wbits);
        switch (L.bits) {
            case 2: check_layer<2>(f, L, ex); break;
            case 3: check_layer<3>(f, L, ex); break;
            case 4: check_layer<4>(f, L, ex); break;
            case 8: check_layer<8>(f, L, ex); break;
            default: FAIL("unexpected width");
        }
    }
    // The other tensors read as float: fp16 embeddings, norms, head.
    CHECK(f.at("lm_head.weight").type == io::dtype::f16);
    CHECK(f.to_float(f.at("lm_head.weight")).size() == 16 * 64);
    CHECK_FALSE(io::is_torch_quantized_array(found, "lm_head.weight"));
}

}  // namespace

TEST_CASE("torch reference layers: every form multiplies as the reference does") {
    check_model("w3", 3, 5);
    check_model("w4", 4, 2);
    check_model("w2", 2, 1);
    check_model("w8", 8, 1);
    const io::torch_checkpoint f(data("w3/model.pt"));
    const auto found = io::find_torch_quantized_layers(f);
    CHECK(found[1].has_bias);
    CHECK(found[2].has_sparse);
    CHECK(found[3].balanced);
    CHECK(found[4].top_x == 2);
    CHECK(io::is_torch_quantized_array(found, "model.layers.0.mlp.gate_proj.full_rows"));
    CHECK_FALSE(io::is_torch_quantized_array(found, "model.layers.0.self_attn.k_proj.bias"));
    require_error([&] { io::load_torch_quantized<4>(f, found[0]); }, sqllm::errc::invalid_argument, "requested 4");
    // Hybrid rows need a sparse part to fold into.
    require_error([&] { io::load_torch_quantized<3, float, sqllm::no_sparse>(f, found[4]); }, sqllm::errc::invalid_argument,
                  "gate_proj");
}

TEST_CASE("torch_checkpoint: malformed archives are named errors") {
    using sqllm::errc;
    auto open = [](const std::string& rel) { io::torch_checkpoint f(data(rel)); };
    require_error([&] { open("bad/global_os_system.pt"); }, errc::invalid_argument, "os.system");
    require_error([&] { open("bad/global_eval.pt"); }, errc::invalid_argument, "builtins.eval");
    require_error([&] { open("bad/no_data_pkl.pt"); }, errc::corrupt_data, "no <root>/data.pkl");
    require_error([&] { open("bad/missing_storage.pt"); }, errc::corrupt_data, "no entry archive/data/0");
    require_error([&] { open("bad/short_storage.pt"); }, errc::corrupt_data, "has 12 bytes");
    require_error([&] { open("bad/wrong_dtype.pt"); }, errc::corrupt_data, "I64 elements need 32");
    require_error([&] { open("bad/past_storage.pt"); }, errc::corrupt_data, "reaches past its storage");
    require_error([&] { open("bad/huge_shape.pt"); }, errc::out_of_range, "overflows");
    require_error([&] { open("bad/huge_storage.pt"); }, errc::out_of_range, "storage bytes");
    require_error([&] { open("bad/compressed_storage.pt"); }, errc::corrupt_data, "compressed");
    require_error([&] { open("bad/bad_storage_key.pt"); }, errc::corrupt_data, "storage key");
    require_error([&] { open("bad/bomb_marks.pt"); }, errc::corrupt_data, "MARKs nested deeper");
    require_error([&] { open("bad/bomb_lists.pt"); }, errc::corrupt_data, "nested deeper");
    require_error([&] { open("bad/not_a_dict.pt"); }, errc::corrupt_data, "not a state dict");
    require_error([&] { open("bad/unsupported_opcode.pt"); }, errc::corrupt_data, "not supported");
    require_error([&] { open("does/not/exist.pt"); }, errc::io_error, "no such file");
    require_error([&] { open("w3"); }, errc::io_error, "not a regular file");
    require_error([&] { open("w3/config.json"); }, errc::corrupt_data, "not a readable zip");
    // Truncated: the first half of a real file (its central directory is lost).
    const std::string whole = slurp(data("w3/model.pt"));
    REQUIRE(whole.size() > 1000);
    const std::string cut = "test_torch_truncated.pt";
    {
        std::ofstream o(cut, std::ios::binary);
        o.write(whole.data(), static_cast<std::streamsize>(whole.size() / 2));
    }
    require_error([&] { io::torch_checkpoint f(cut); }, errc::corrupt_data, "not a readable zip");
    std::remove(cut.c_str());
}

TEST_CASE("torch reference layers: inconsistent arrays are named errors") {
    using sqllm::errc;
    auto layer = [](const std::string& rel) {
        const io::torch_checkpoint f(data(rel));
        const auto found = io::find_torch_quantized_layers(f);
        for (const auto& L : found) (void)io::load_torch_quantized<3>(f, L);
    };
    REQUIRE_NOTHROW(layer("bad/layer_ok.pt"));
    require_error([&] { layer("bad/qweight_float.pt"); }, errc::corrupt_data, "qweight is F32");
    require_error([&] { layer("bad/bad_startrows.pt"); }, errc::corrupt_data, "startrows disagrees");
    require_error([&] { layer("bad/bad_full_row_index.pt"); }, errc::out_of_range, "full_row_indices[0] = 16");
    require_error([&] { layer("bad/bad_threshold.pt"); }, errc::corrupt_data, "sparse_threshold is 999");
    require_error([&] { layer("bad/bad_csr.pt"); }, errc::out_of_range, "CSR column index 32");
    require_error([&] { layer("bad/lut_without_qweight.pt"); }, errc::corrupt_data, "has no qweight beside it");
}

namespace {

/// Loads every quantized layer of a converted safetensors file (io::find_quantized_layers,
/// io::load_quantized) and checks its product against the fixture's expected outputs.
void check_converted(const std::string& converted, const std::string& dir, std::size_t layers) {
    const sqllm::io::safetensors_file out(converted);
    const sqllm::io::safetensors_file ex(data(dir + "/expected.safetensors"));
    const auto found = sqllm::io::find_quantized_layers(out);
    REQUIRE(found.size() == layers);
    const double u = std::ldexp(1.0, -24);
    for (const auto& L : found) {
        INFO("converted layer " << L.name);
        std::vector<float> y(L.rows);
        const auto x = ex.read<float>(ex.at(L.name + ".x"));
        switch (L.bits) {
            case 2: sqllm::gemv(sqllm::io::load_quantized<2>(out, L).view(), x, y); break;
            case 3: sqllm::gemv(sqllm::io::load_quantized<3>(out, L).view(), x, y); break;
            case 4: sqllm::gemv(sqllm::io::load_quantized<4>(out, L).view(), x, y); break;
            case 8: sqllm::gemv(sqllm::io::load_quantized<8>(out, L).view(), x, y); break;
            default: FAIL("unexpected width");
        }
        const auto y_ref = ex.read<double>(ex.at(L.name + ".y"));
        const auto bound = ex.read<double>(ex.at(L.name + ".absy"));
        for (std::size_t r = 0; r < L.rows; ++r)
            CHECK(std::abs(static_cast<double>(y[r]) - y_ref[r]) <=
                  2.0 * (static_cast<double>(L.cols) + 4) * u * bound[r] + 1e-30);
    }
}

}  // namespace

TEST_CASE("torch reference layers: written with io::write_quantized, they load and multiply the same") {
    for (const char* dir : {"w3", "w4", "w2", "w8"}) {
        INFO(dir);
        const io::torch_checkpoint f(data(std::string(dir) + "/model.pt"));
        const auto found = io::find_torch_quantized_layers(f);
        const std::string path = std::string("test_torch_converted_") + dir + ".safetensors";
        {
            sqllm::io::safetensors_writer w(path);
            for (const auto& L : found) {
                using S = sqllm::csr<float, std::int32_t>;
                switch (L.bits) {
                    case 2: sqllm::io::write_quantized(w, L.name, io::load_torch_quantized<2, float, S>(f, L).view()); break;
                    case 3: sqllm::io::write_quantized(w, L.name, io::load_torch_quantized<3, float, S>(f, L).view()); break;
                    case 4: sqllm::io::write_quantized(w, L.name, io::load_torch_quantized<4, float, S>(f, L).view()); break;
                    case 8: sqllm::io::write_quantized(w, L.name, io::load_torch_quantized<8, float, S>(f, L).view()); break;
                    default: FAIL("unexpected width");
                }
            }
            w.finish();
        }
        check_converted(path, dir, found.size());
        std::remove(path.c_str());
    }
}

// Run by tests/tools/test_convert_cli.sh on sqllm-convert's output of w3:
//   SQLLM_CONVERTED=<dir>/model.safetensors sqllm_torch_tests "[.converted]"
TEST_CASE("sqllm-convert output of the w3 fixture", "[.converted]") {
    const char* path = std::getenv("SQLLM_CONVERTED");
    REQUIRE(path);
    check_converted(path, "w3", 5);
    const sqllm::io::safetensors_file out(path);
    CHECK(out.metadata().at("sqllm.format") == "squeezellm");
    CHECK(out.metadata().at("sparse_threshold.model.layers.0.self_attn.v_proj") != "");
    CHECK(out.at("model.layers.0.self_attn.k_proj.bias").type == sqllm::io::dtype::f16);
    CHECK(out.at("model.embed_tokens.weight").type == sqllm::io::dtype::f16);
    CHECK(out.find("model.layers.0.mlp.gate_proj.full_rows") == nullptr);     // folded
    CHECK(out.find("model.layers.0.self_attn.o_proj.startrows") == nullptr);  // derived data, dropped
}
