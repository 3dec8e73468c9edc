// llama.cpp importance matrices: the GGUF reader (io/gguf.hpp), the imatrix
// reader and writer (io/imatrix.hpp) in both formats, the name mapping, the
// fixtures in tests/data/imatrix (one written by llama.cpp's gguf-py, one of
// the real stories260K model), hostile files, and sqllm-quantize's
// sensitivity sources (tools/quantize/sensitivity_source.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#include <sqllm/io/gguf.hpp>
#include <sqllm/io/imatrix.hpp>
#include <sqllm/io/safetensors_writer.hpp>

#include "../tools/quantize/sensitivity_source.hpp"
#include "catch.hpp"

namespace {

using sqllm::errc;
namespace sio = sqllm::io;

const std::string fixtures = std::string(SQLLM_DATA_DIR) + "/../tests/data/imatrix/";

/// A fresh path in the temporary directory, removed when the guard dies.
struct temp_file {
    std::string path;
    explicit temp_file(const std::string& stem)
        : path((std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : std::string("/tmp")) +
               "/sqllm_imatrix_test_" + std::to_string(::getpid()) + "_" + stem) {}
    ~temp_file() { std::remove(path.c_str()); }
};

void write(const std::string& path, const std::vector<unsigned char>& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

/// The error code of opening `bytes` as an imatrix (or of `then` on it); -1 if none.
template <class Then>
int imatrix_error(const std::vector<unsigned char>& bytes, Then then, std::string* message = nullptr) {
    temp_file f("hostile");
    write(f.path, bytes);
    try {
        sio::imatrix m(f.path);
        then(m);
    } catch (const sqllm::error& e) {
        if (message) *message = e.what();
        return static_cast<int>(e.code());
    }
    return -1;
}
int open_error(const std::vector<unsigned char>& bytes, std::string* message = nullptr) {
    return imatrix_error(bytes, [](const sio::imatrix&) {}, message);
}
/// The error code of reading every entry's mean squares.
int read_error(const std::vector<unsigned char>& bytes, std::string* message = nullptr) {
    return imatrix_error(
        bytes,
        [](const sio::imatrix& m) {
            for (const auto& e : m.entries())
                for (std::size_t k = 0; k < e.matrices; ++k)
                    m.mean_squares(e, k);
        },
        message);
}
int code(errc c) { return static_cast<int>(c); }

void put(std::vector<unsigned char>& b, std::size_t at, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
        b[at + static_cast<std::size_t>(i)] = static_cast<unsigned char>(v >> (8 * i));
}
void put_f32(std::vector<unsigned char>& b, std::size_t at, float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    put(b, at, u, 4);
}
/// Offset just past the first occurrence of `s` in `b`.
std::size_t after(const std::vector<unsigned char>& b, const std::string& s) {
    const auto it = std::search(b.begin(), b.end(), s.begin(), s.end());
    REQUIRE(it != b.end());
    return static_cast<std::size_t>(it - b.begin()) + s.size();
}

/// Builds GGUF images field by field.
struct builder {
    std::vector<unsigned char> b;
    builder& u32(std::uint64_t v) { return le(v, 4); }
    builder& u64(std::uint64_t v) { return le(v, 8); }
    builder& le(std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i)
            b.push_back(static_cast<unsigned char>(v >> (8 * i)));
        return *this;
    }
    builder& str(const std::string& s) {
        u64(s.size());
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    builder& header(std::uint64_t tensors, std::uint64_t kvs, std::uint32_t version = 3) {
        b.insert(b.end(), {'G', 'G', 'U', 'F'});
        return u32(version).u64(tensors).u64(kvs);
    }
    builder& pad(std::size_t a = 32) {
        while (b.size() % a)
            b.push_back(0);
        return *this;
    }
};

sio::imatrix_data entry(const std::string& name, std::size_t cols, std::vector<float> counts, float scale = 1.0f) {
    sio::imatrix_data e;
    e.name = name;
    e.cols = cols;
    e.counts = std::move(counts);
    for (std::size_t i = 0; i < cols * e.counts.size(); ++i)
        e.in_sum2.push_back(scale * static_cast<float>(i % 13 + 1) * 0.75f);
    return e;
}

sio::imatrix_info some_info() {
    sio::imatrix_info i;
    i.datasets = {"calib.txt", "more.txt"};
    i.chunk_count = 12;
    i.chunk_size = 512;
    return i;
}

/// A valid one-entry GGUF imatrix ("x.weight", 8 columns, count 4).
std::vector<unsigned char> one_entry_gguf() { return sio::imatrix_gguf_image({entry("x.weight", 8, {4.0f})}, some_info()); }

}  // namespace

TEST_CASE("imatrix: GGUF round trip gives in_sum2 / counts", "[imatrix]") {
    const std::vector<sio::imatrix_data> entries = {entry("blk.1.ffn_down.weight", 172, {100.0f}),
                                                    entry("blk.0.attn_q.weight", 64, {33.0f}, 1e3f),
                                                    entry("blk.0.ffn_up_exps.weight", 16, {5.0f, 7.0f, 9.0f})};
    temp_file f("rt.gguf");
    sio::write_imatrix_gguf(f.path, entries, some_info());
    const sio::imatrix m(f.path);
    CHECK(m.file_format() == sio::imatrix::format::gguf);
    CHECK(m.info().datasets == some_info().datasets);
    CHECK(m.info().chunk_count == 12);
    CHECK(m.info().chunk_size == 512);
    REQUIRE(m.entries().size() == 3);
    CHECK(m.entries()[0].name == "blk.0.attn_q.weight");  // sorted
    for (const auto& want : entries) {
        const sio::imatrix_entry* e = m.find_exact(want.name);
        REQUIRE(e);
        CHECK(e->cols == want.cols);
        CHECK(e->matrices == want.counts.size());
        for (std::size_t k = 0; k < want.counts.size(); ++k) {
            const std::vector<float> got = m.mean_squares(*e, k);
            REQUIRE(got.size() == want.cols);
            for (std::size_t j = 0; j < want.cols; ++j)
                CHECK(got[j] == want.in_sum2[k * want.cols + j] / want.counts[k]);
        }
    }
    const sio::imatrix_entry* moe = m.find_exact("blk.0.ffn_up_exps.weight");
    try {
        m.mean_squares(*moe, 3);
        FAIL("expected an error");
    } catch (const sqllm::error& e) {
        CHECK(e.code() == errc::invalid_argument);
    }

    // The generic reader sees what llama.cpp's would.
    const sio::gguf_file g(f.path);
    CHECK(g.version() == 3);
    REQUIRE(g.find_key("general.type"));
    CHECK(g.find_key("general.type")->text == "imatrix");
    CHECK(g.find_key("imatrix.datasets")->strings.size() == 2);
    CHECK(g.tensors().size() == 6);
    const sio::gguf_tensor* t = g.find("blk.0.ffn_up_exps.weight.in_sum2");
    REQUIRE(t);
    CHECK(t->shape() == std::vector<std::size_t>{3, 16});
    CHECK(t->describe() == "F32[3, 16]");
    CHECK(g.read_f32(*t).size() == 48);
    CHECK(g.find("missing") == nullptr);
    CHECK(g.find_key("missing") == nullptr);
}

TEST_CASE("imatrix: legacy .dat round trip (values stored as mean × ncall)", "[imatrix]") {
    const std::vector<sio::imatrix_data> entries = {entry("blk.0.attn_k.weight", 64, {1000.0f}),
                                                    entry("blk.2.ffn_down.weight", 172, {1.0f}, 3.0f),
                                                    entry("blk.0.ffn_gate_exps.weight", 4, {512.0f, 2048.0f})};
    temp_file f("rt.dat");
    sio::write_imatrix_dat(f.path, entries, some_info());
    const sio::imatrix m(f.path);
    CHECK(m.file_format() == sio::imatrix::format::legacy);
    CHECK(m.info().chunk_count == 12);
    CHECK(m.info().chunk_size == 0);  // the legacy format does not store it
    CHECK(m.info().datasets == std::vector<std::string>{"calib.txt"});
    REQUIRE(m.entries().size() == 3);
    for (const auto& want : entries) {
        const sio::imatrix_entry* e = m.find_exact(want.name);
        REQUIRE(e);
        CHECK(e->matrices == 1);  // experts are concatenated without a shape
        CHECK(e->cols == want.cols * want.counts.size());
        const std::vector<float> got = m.mean_squares(*e);
        for (std::size_t j = 0; j < e->cols; ++j)
            CHECK(got[j] == Approx(want.in_sum2[j] / want.counts[j / want.cols]).epsilon(1e-6));
    }
    // ncall = ceil(2048 / 512) = 4: the stored value is mean × 4.
    const sio::imatrix_entry* e = m.find_exact("blk.0.ffn_gate_exps.weight");
    CHECK(e->legacy_ncall == 4);

    // Without the trailer, or with only the chunk count, the file still reads.
    const auto full = sio::imatrix_legacy_image(entries, some_info());
    const std::size_t end = full.size() - 4 - std::string("calib.txt").size() - 4;
    CHECK(open_error(std::vector<unsigned char>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(end))) == -1);
    CHECK(open_error(std::vector<unsigned char>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(end + 4))) ==
          -1);
}

TEST_CASE("imatrix: names of Hugging Face and llama2.c weights map to llama.cpp's", "[imatrix]") {
    const char* const hf[][2] = {
        {"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight"},
        {"model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight"},
        {"model.layers.12.self_attn.v_proj.weight", "blk.12.attn_v.weight"},
        {"model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight"},
        {"model.layers.4.mlp.gate_proj.weight", "blk.4.ffn_gate.weight"},
        {"model.layers.5.mlp.up_proj.weight", "blk.5.ffn_up.weight"},
        {"model.layers.6.mlp.down_proj.weight", "blk.6.ffn_down.weight"},
        {"lm_head.weight", "output.weight"},
        {"model.embed_tokens.weight", "token_embd.weight"},
        // this repository's llama2.c names (examples/llama2c/llama2c.hpp)
        {"layers.0.wq", "blk.0.attn_q.weight"},
        {"layers.0.wk", "blk.0.attn_k.weight"},
        {"layers.0.wv", "blk.0.attn_v.weight"},
        {"layers.0.wo", "blk.0.attn_output.weight"},
        {"layers.4.w1", "blk.4.ffn_gate.weight"},
        {"layers.4.w2", "blk.4.ffn_down.weight"},
        {"layers.4.w3", "blk.4.ffn_up.weight"},
        {"output", "output.weight"},
        {"tok_embeddings", "token_embd.weight"},
        // llama2.c's export / Meta names
        {"layers.7.attention.wq.weight", "blk.7.attn_q.weight"},
        {"layers.7.attention.wo.weight", "blk.7.attn_output.weight"},
        {"layers.7.feed_forward.w1.weight", "blk.7.ffn_gate.weight"},
        {"layers.7.feed_forward.w2.weight", "blk.7.ffn_down.weight"},
        {"layers.7.feed_forward.w3.weight", "blk.7.ffn_up.weight"},
        {"tok_embeddings.weight", "token_embd.weight"},
    };
    for (const auto& p : hf) {
        INFO(p[0]);
        CHECK(sio::gguf_weight_name(p[0]) == p[1]);
    }
    for (const char* none : {"", "layers.", "layers.x.wq", "layers.01.wq", "layers.1", "layers.1.", "layers.1.w4",
                             "model.layers.0.wq", "layers.0.self_attn.q_proj.weight", "model.norm.weight",
                             "layers.0.rms_att", "blk.0.attn_q.weight", "layers.99999999999.wq", "layers.-1.wq"}) {
        INFO(none);
        CHECK(sio::gguf_weight_name(none).empty());
    }

    // find: the exact name first, then the llama.cpp equivalent.
    temp_file f("names.gguf");
    sio::write_imatrix_gguf(f.path, {entry("blk.0.attn_q.weight", 4, {1.0f}), entry("layers.1.wq", 4, {2.0f})},
                            some_info());
    const sio::imatrix m(f.path);
    CHECK(m.find("layers.0.wq") == m.find_exact("blk.0.attn_q.weight"));
    CHECK(m.find("model.layers.0.self_attn.q_proj.weight") == m.find_exact("blk.0.attn_q.weight"));
    CHECK(m.find("layers.1.wq") == m.find_exact("layers.1.wq"));
    CHECK(m.find("layers.2.wq") == nullptr);
    CHECK(m.find("nonsense") == nullptr);
}

TEST_CASE("imatrix: a file written by llama.cpp's gguf-py", "[imatrix]") {
    // tests/data/imatrix/make_gguf_py_fixture.py: gguf-py keeps trailing
    // dimensions of 1 ([1, 172]) and writes general.architecture first.
    const sio::imatrix m(fixtures + "gguf_py_written.gguf");
    CHECK(m.info().chunk_count == 7);
    CHECK(m.info().chunk_size == 512);
    CHECK(m.info().datasets == std::vector<std::string>{"a.txt", "b.txt"});
    const sio::imatrix_entry* down = m.find("blk.0.ffn_down.weight");
    REQUIRE(down);
    CHECK(down->cols == 172);
    const auto v = m.mean_squares(*down);
    for (std::size_t j = 0; j < 172; ++j)
        CHECK(v[j] == static_cast<float>(j + 1) / 4.0f);
    const sio::imatrix_entry* exps = m.find("blk.0.ffn_up_exps.weight");
    REQUIRE(exps);
    CHECK(exps->matrices == 3);
    CHECK(m.mean_squares(*exps, 1)[0] == 0.5f);
    try {
        m.mean_squares(*exps, 2);  // an expert no token reached
        FAIL("expected an error");
    } catch (const sqllm::error& e) {
        CHECK(e.code() == errc::invalid_argument);
        CHECK(std::string(e.what()).find("blk.0.ffn_up_exps.weight") != std::string::npos);
        CHECK(std::string(e.what()).find("count 0") != std::string::npos);
    }
}

TEST_CASE("imatrix: the stories260K fixture covers every linear weight", "[imatrix]") {
    const std::string path = fixtures + "stories260K.imatrix.gguf";
    // llama2c names and [rows, cols] of data/stories260K (dim 64, hidden 172, kv_dim 32, 5 layers).
    sqllm_tool::weight_list weights;
    for (int l = 0; l < 5; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        weights.push_back({p + "wq", {64, 64}});
        weights.push_back({p + "wk", {32, 64}});
        weights.push_back({p + "wv", {32, 64}});
        weights.push_back({p + "wo", {64, 64}});
        weights.push_back({p + "w1", {172, 64}});
        weights.push_back({p + "w2", {64, 172}});
        weights.push_back({p + "w3", {172, 64}});
    }
    const sio::imatrix m(path);
    CHECK(m.entries().size() == 35);
    for (const auto& w : weights) {
        const sio::imatrix_entry* e = m.find(w.first);
        REQUIRE(e);
        CHECK(e->cols == w.second[1]);
        for (const float x : m.mean_squares(*e))
            CHECK((std::isfinite(x) && x > 0));
    }

    auto src = sqllm_tool::open_sensitivity(path);
    CHECK(src->describe() == "imatrix:" + path + " (189 chunks of 257 tokens)");
    src->check(weights, "stories260K.bin");
    bool per_column = false;
    const auto s = src->load("layers.2.w2", 64, 172, per_column, sqllm::thread_executor(2));
    CHECK(per_column);
    CHECK(s == m.mean_squares(*m.find("blk.2.ffn_down.weight")));

    // A weight the imatrix has no entry for (llama.cpp never collects the
    // embedding) is an error naming it; so is a shape that does not fit.
    auto with_embedding = weights;
    with_embedding.push_back({"tok_embeddings", {512, 64}});
    try {
        src->check(with_embedding, "stories260K.bin");
        FAIL("expected an error");
    } catch (const sqllm::error& e) {
        CHECK(e.code() == errc::invalid_argument);
        CHECK(std::string(e.what()).find("no sensitivity for \"tok_embeddings\"") != std::string::npos);
        CHECK(std::string(e.what()).find("token_embd.weight") != std::string::npos);
    }
    auto wrong = weights;
    wrong[0].second = {64, 65};
    try {
        src->check(wrong, "m");
        FAIL("expected an error");
    } catch (const sqllm::error& e) {
        CHECK(e.code() == errc::shape_mismatch);
        CHECK(std::string(e.what()).find("layers.0.wq") != std::string::npos);
    }
    CHECK_THROWS_AS(src->load("layers.0.wq", 64, 65, per_column, sqllm::thread_executor(2)), sqllm::error);
    try {
        src->check({{"layers.0.rms_att", {64}}}, "m");
        FAIL("expected an error");
    } catch (const sqllm::error& e) {
        CHECK(e.code() == errc::shape_mismatch);
    }
}

TEST_CASE("sensitivity_source: safetensors keeps today's checks", "[imatrix]") {
    temp_file f("sens.safetensors");
    const std::vector<float> full(6, 0.5f), cols(3, 2.0f);
    const std::vector<std::int32_t> ints(3, 1);
    const auto make = [&](bool extra, bool with_b, bool int_b, std::vector<std::size_t> a_shape) {
        std::remove(f.path.c_str());
        sio::safetensors_writer w(f.path);
        w.add<float>("a", a_shape, a_shape.size() == 2 ? sqllm::span<const float>(full) : sqllm::span<const float>(cols));
        if (with_b) {
            if (int_b) w.add<std::int32_t>("b", {3}, ints);
            else w.add<float>("b", {3}, cols);
        }
        if (extra) w.add<float>("c", {3}, cols);
        w.finish();
    };
    const sqllm_tool::weight_list weights = {{"a", {2, 3}}, {"b", {4, 3}}};
    const auto error = [&](std::string* msg) {
        try {
            auto src = sqllm_tool::open_sensitivity(f.path);
            src->check(weights, "model.safetensors");
        } catch (const sqllm::error& e) {
            *msg = e.what();
            return static_cast<int>(e.code());
        }
        return -1;
    };
    std::string msg;
    make(false, true, false, {2, 3});
    CHECK(error(&msg) == -1);
    auto src = sqllm_tool::open_sensitivity(f.path);
    CHECK(src->describe() == "fisher:" + f.path);
    bool per_column = true;
    CHECK(src->load("a", 2, 3, per_column, sqllm::thread_executor(2)) == full);
    CHECK(!per_column);
    CHECK(src->load("b", 4, 3, per_column, sqllm::thread_executor(2)) == cols);
    CHECK(per_column);

    make(true, true, false, {2, 3});
    CHECK(error(&msg) == code(errc::invalid_argument));
    CHECK(msg.find("\"c\" is not a quantized tensor of model.safetensors") != std::string::npos);
    make(false, false, false, {2, 3});
    CHECK(error(&msg) == code(errc::invalid_argument));
    CHECK(msg.find("no sensitivity for \"b\"") != std::string::npos);
    make(false, true, false, {3, 2});
    CHECK(error(&msg) == code(errc::shape_mismatch));
    CHECK(msg.find("expected the same shape, or [cols]") != std::string::npos);
    make(false, true, true, {2, 3});
    CHECK(error(&msg) == code(errc::shape_mismatch));
    CHECK(msg.find("not floating point") != std::string::npos);
}

TEST_CASE("open_sensitivity: chooses by content and name", "[imatrix]") {
    const std::vector<sio::imatrix_data> entries = {entry("blk.0.attn_q.weight", 4, {2.0f})};
    const sqllm_tool::weight_list weights = {{"layers.0.wq", {4, 4}}};
    for (const char* name : {"m.gguf", "m.imatrix", "m.dat", "m"}) {
        INFO(name);
        temp_file f(name);
        if (std::string(name) == "m.gguf" || std::string(name) == "m.imatrix")
            sio::write_imatrix_gguf(f.path, entries, some_info());
        else
            sio::write_imatrix_dat(f.path, entries, some_info());
        auto src = sqllm_tool::open_sensitivity(f.path);
        CHECK(src->describe().rfind("imatrix:", 0) == 0);
        src->check(weights);
        bool per_column = false;
        CHECK(src->load("layers.0.wq", 4, 4, per_column, sqllm::thread_executor(2)).size() == 4);
        CHECK(per_column);
    }
    temp_file dat("m2.dat");
    sio::imatrix_info no_chunks;
    no_chunks.chunk_size = 512;
    sio::write_imatrix_dat(dat.path, entries, no_chunks);
    CHECK(sqllm_tool::open_sensitivity(dat.path)->describe() == "imatrix:" + dat.path);
    CHECK_THROWS_AS(sqllm_tool::open_sensitivity("/nonexistent/x.gguf"), sqllm::error);
    try {
        sqllm_tool::open_sensitivity("/tmp");
        FAIL("expected an error");
    } catch (const sqllm::error& e) {
        CHECK(e.code() == errc::io_error);
    }
}

TEST_CASE("gguf: metadata of every type, arrays and nested arrays", "[imatrix]") {
    builder g;
    g.header(1, 16);
    g.str("general.alignment").u32(4).u32(64);
    g.str("u8").u32(0).le(200, 1);
    g.str("i8").u32(1).le(0xFF, 1);
    g.str("u16").u32(2).le(60000, 2);
    g.str("i16").u32(3).le(0xFFFE, 2);
    g.str("i32").u32(5).u32(0xFFFFFFFD);
    g.str("f32").u32(6).u32(0x3FC00000);  // 1.5
    g.str("bool").u32(7).le(1, 1);
    g.str("u64").u32(10).u64(~0ull);
    g.str("i64").u32(11).u64(~0ull - 4);  // -5
    g.str("f64").u32(12).u64(0x4004000000000000ull);  // 2.5
    g.str("s").u32(8).str("text");
    g.str("strings").u32(9).u32(8).u64(2).str("a").str("bc");
    g.str("u16s").u32(9).u32(2).u64(3).le(1, 2).le(2, 2).le(3, 2);
    g.str("nested").u32(9).u32(9).u64(2).u32(9).u64(1).u32(8).u64(1).str("deep").u32(4).u64(2).u32(1).u32(2);
    g.str("empty").u32(9).u32(12).u64(0);
    g.str("t").u32(1).u64(1).u32(0).u64(0);  // one F32 element
    g.pad(64);
    g.le(0x40490fdb, 4);  // 3.1415927f
    temp_file f("types.gguf");
    write(f.path, g.b);
    const sio::gguf_file file(f.path);
    CHECK(file.header().alignment == 64);
    CHECK(file.header().data_offset % 64 == 0);
    std::uint64_t u = 0;
    std::int64_t i = 0;
    double d = 0;
    CHECK((file.find_key("u8")->to_uint(u) && u == 200));
    CHECK((file.find_key("i8")->to_int(i) && i == -1));
    CHECK(!file.find_key("i8")->to_uint(u));
    CHECK((file.find_key("u16")->to_uint(u) && u == 60000));
    CHECK((file.find_key("i16")->to_int(i) && i == -2));
    CHECK((file.find_key("i32")->to_int(i) && i == -3));
    CHECK((file.find_key("f32")->to_double(d) && d == 1.5));
    CHECK(!file.find_key("f32")->to_uint(u));
    CHECK((file.find_key("bool")->to_uint(u) && u == 1));
    CHECK((file.find_key("u64")->to_uint(u) && u == ~0ull));
    CHECK(!file.find_key("u64")->to_int(i));
    CHECK((file.find_key("i64")->to_int(i) && i == -5));
    CHECK((file.find_key("f64")->to_double(d) && d == 2.5));
    CHECK(!file.find_key("s")->to_double(d));
    CHECK(file.find_key("s")->text == "text");
    CHECK(file.find_key("strings")->strings == std::vector<std::string>{"a", "bc"});
    const auto u16s = file.array_bytes(*file.find_key("u16s"));
    REQUIRE(u16s.size() == 6);
    CHECK(u16s.data()[4] == 3);
    CHECK(file.find_key("nested")->count == 2);
    CHECK(file.find_key("nested")->element == sio::gguf_type::array);
    CHECK(file.find_key("empty")->count == 0);
    REQUIRE(file.tensors().size() == 1);
    CHECK(file.read_f32(file.tensors()[0]) == std::vector<float>{3.1415927f});
    CHECK(file.tensors()[0].describe() == "F32[1]");
}

TEST_CASE("gguf: hostile headers are errors, never crashes", "[imatrix][hostile]") {
    std::string msg;
    const auto good = one_entry_gguf();
    REQUIRE(open_error(good) == -1);

    SECTION("every truncation") {
        // The last 28 bytes are the padding after the last tensor.
        for (std::size_t n = 0; n + 28 < good.size(); ++n) {
            INFO(n);
            CHECK(open_error(std::vector<unsigned char>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n))) ==
                  code(errc::corrupt_data));
        }
    }
    SECTION("magic and version") {
        auto b = good;
        b[3] = 'X';  // not GGUF: read as legacy, which this is not
        CHECK(open_error(b, &msg) == code(errc::corrupt_data));
        for (std::uint32_t v : {0u, 1u, 4u, 0x03000000u}) {
            b = good;
            put(b, 4, v, 4);
            CHECK(open_error(b, &msg) == code(errc::corrupt_data));
            CHECK(msg.find("version") != std::string::npos);
        }
        b = good;
        put(b, 4, 2, 4);  // version 2 has the same layout
        CHECK(open_error(b) == -1);
    }
    SECTION("huge counts and lengths") {
        for (std::uint64_t n : {~0ull, 1ull << 62, 1ull << 32, 1000ull}) {
            auto b = good;
            put(b, 8, n, 8);  // tensors
            CHECK(open_error(b) == code(errc::corrupt_data));
            b = good;
            put(b, 16, n, 8);  // metadata
            CHECK(open_error(b) == code(errc::corrupt_data));
            b = good;
            put(b, 24, n, 8);  // first key's length
            CHECK(open_error(b) == code(errc::corrupt_data));
            b = good;
            put(b, after(b, "imatrix.datasets") + 8, n, 8);  // the array's length
            CHECK(open_error(b) == code(errc::corrupt_data));
            b = good;
            put(b, after(b, "imatrix.datasets") - 16 - 8, n, 8);  // that key's length
            CHECK(open_error(b) == code(errc::corrupt_data));
            b = good;
            put(b, after(b, "x.weight.in_sum2") - 16 - 8, n, 8);  // a tensor name's length
            CHECK(open_error(b) == code(errc::corrupt_data));
        }
    }
    SECTION("tensor infos") {
        const std::size_t t = after(good, "x.weight.in_sum2");  // n_dims, ne[0], type, offset
        auto b = good;
        put(b, t, 5, 4);
        CHECK(open_error(b, &msg) == code(errc::corrupt_data));
        CHECK(msg.find("dimensions") != std::string::npos);
        b = good;
        put(b, t + 4, 1ull << 63, 8);  // negative
        CHECK(open_error(b) == code(errc::corrupt_data));
        b = good;
        put(b, t + 4, 1ull << 62, 8);  // 2^62 floats: byte count overflows
        CHECK(open_error(b) == code(errc::corrupt_data));
        b = good;
        put(b, t + 4, 1ull << 40, 8);  // fits size_t, not the file
        CHECK(open_error(b, &msg) == code(errc::corrupt_data));
        CHECK(msg.find("past the file's end") != std::string::npos);
        b = good;
        put(b, t + 12, 200, 4);  // unknown ggml type
        CHECK(open_error(b, &msg) == code(errc::corrupt_data));
        CHECK(msg.find("ggml type 200") != std::string::npos);
        b = good;
        put(b, t + 12, 4, 4);  // a retired id
        CHECK(open_error(b) == code(errc::corrupt_data));
        b = good;
        put(b, t + 12, 2, 4);  // Q4_0: 8 is not a multiple of its 32-element blocks
        CHECK(open_error(b, &msg) == code(errc::corrupt_data));
        b = good;
        put(b, t + 16, 4, 8);  // misaligned offset
        CHECK(open_error(b, &msg) == code(errc::corrupt_data));
        CHECK(msg.find("alignment") != std::string::npos);
        for (const std::uint64_t off : {std::uint64_t(1) << 20, ~std::uint64_t(31), std::uint64_t(good.size())}) {
            b = good;
            put(b, t + 16, off, 8);  // data out of bounds
            CHECK(open_error(b) == code(errc::corrupt_data));
        }
        b = good;
        b[after(b, "x.weight.counts") - 1] = 'z';  // "x.weight.countz": in_sum2 without .counts
        CHECK(open_error(b, &msg) == code(errc::corrupt_data));
        CHECK(msg.find("no .counts") != std::string::npos);
    }
    SECTION("duplicate names and keys") {
        builder g;  // two tensors of one name
        g.header(2, 0);
        g.str("a.in_sum2").u32(1).u64(1).u32(0).u64(0);
        g.str("a.in_sum2").u32(1).u64(1).u32(0).u64(32);
        g.pad().u32(0).pad().u32(0).pad();
        CHECK(open_error(g.b, &msg) == code(errc::corrupt_data));
        CHECK(msg.find("appears twice") != std::string::npos);
        builder k;
        k.header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2);
        CHECK(open_error(k.b, &msg) == code(errc::corrupt_data));
        CHECK(msg.find("appears twice") != std::string::npos);
    }
    SECTION("metadata types, nesting, alignment") {
        builder g;
        g.header(0, 1).str("k").u32(13).u32(0);
        CHECK(open_error(g.b, &msg) == code(errc::corrupt_data));
        CHECK(msg.find("unknown value type") != std::string::npos);
        builder a;
        a.header(0, 1).str("k").u32(9).u32(77).u64(0);
        CHECK(open_error(a.b) == code(errc::corrupt_data));
        builder e;
        e.header(0, 1).str("").u32(4).u32(0);
        CHECK(open_error(e.b, &msg) == code(errc::corrupt_data));
        CHECK(msg.find("empty") != std::string::npos);
        // Arrays nested 9 deep (the reader skips up to 8).
        builder n;
        n.header(0, 1).str("k").u32(9);
        for (int d = 0; d < 9; ++d)
            n.u32(9).u64(1);
        n.u32(4).u64(0);
        CHECK(open_error(n.b, &msg) == code(errc::corrupt_data));
        CHECK(msg.find("nested") != std::string::npos);
        // A bomb of empty arrays is bounded by the file size (12 bytes each).
        builder bomb;
        bomb.header(0, 1).str("k").u32(9).u32(9).u64(1ull << 40);
        CHECK(open_error(bomb.b) == code(errc::corrupt_data));
        for (std::uint32_t al : {0u, 3u, 48u}) {
            builder al_b;
            al_b.header(0, 1).str("general.alignment").u32(4).u32(al);
            CHECK(open_error(al_b.b, &msg) == code(errc::corrupt_data));
            CHECK(msg.find("power of two") != std::string::npos);
        }
        builder al64;
        al64.header(0, 1).str("general.alignment").u32(10).u64(32);
        CHECK(open_error(al64.b, &msg) == code(errc::corrupt_data));
    }
}

TEST_CASE("imatrix: hostile GGUF contents", "[imatrix][hostile]") {
    std::string msg;
    SECTION("not an imatrix") {
        builder g;
        g.header(0, 1).str("general.type").u32(8).str("model");
        CHECK(open_error(g.b, &msg) == code(errc::invalid_argument));
        CHECK(msg.find("not an importance matrix") != std::string::npos);
        builder m;  // a model: tensors, none of them in_sum2
        m.header(1, 1).str("general.architecture").u32(8).str("llama");
        m.str("blk.0.attn_q.weight").u32(2).u64(4).u64(4).u32(0).u64(0).pad();
        m.b.resize(m.b.size() + 64, 0);  // 16 floats
        CHECK(open_error(m.b, &msg) == code(errc::invalid_argument));
        builder t;
        t.header(0, 1).str("general.type").u32(4).u32(1);
        CHECK(open_error(t.b) == code(errc::corrupt_data));
        builder none;
        none.header(0, 1).str("general.type").u32(8).str("imatrix");
        CHECK(open_error(none.b) == code(errc::corrupt_data));
    }
    SECTION("bad metadata") {
        builder c;
        c.header(0, 2).str("general.type").u32(8).str("imatrix").str("imatrix.chunk_count").u32(8).str("7");
        CHECK(open_error(c.b) == code(errc::corrupt_data));
        builder d;
        d.header(0, 2).str("general.type").u32(8).str("imatrix").str("imatrix.datasets").u32(8).str("a");
        CHECK(open_error(d.b) == code(errc::corrupt_data));
        builder big;
        big.header(0, 2).str("general.type").u32(8).str("imatrix").str("imatrix.chunk_size").u32(10).u64(1ull << 40);
        CHECK(open_error(big.b) == code(errc::corrupt_data));
    }
    SECTION("pairs, shapes and types") {
        const auto make = [](std::uint32_t sum_type, std::vector<std::uint64_t> sum_ne, std::vector<std::uint64_t> cnt_ne,
                             bool with_counts = true, bool with_sums = true) {
            builder g;
            g.header(std::uint64_t(with_counts) + std::uint64_t(with_sums), 0);
            std::uint64_t off = 0;
            const auto info = [&](const std::string& name, std::uint32_t type, const std::vector<std::uint64_t>& ne) {
                g.str(name).u32(ne.size());
                std::uint64_t n = 1;
                for (auto v : ne)
                    g.u64(v), n *= v;
                g.u32(type).u64(off);
                off += (n * (type == 1 ? 2 : 4) + 31) / 32 * 32;
            };
            if (with_sums) info("w.in_sum2", sum_type, sum_ne);
            if (with_counts) info("w.counts", 0, cnt_ne);
            g.pad();
            g.b.resize(g.b.size() + off, 0);
            return g.b;
        };
        CHECK(open_error(make(0, {8}, {1})) == -1);
        CHECK(open_error(make(0, {8, 2}, {1, 2})) == -1);
        CHECK(open_error(make(0, {8, 1, 1}, {1, 1})) == -1);
        CHECK(open_error(make(1, {8}, {1}), &msg) == code(errc::corrupt_data));  // F16 sums
        CHECK(msg.find("must be F32") != std::string::npos);
        CHECK(open_error(make(0, {8, 2}, {1, 3})) == code(errc::corrupt_data));
        CHECK(open_error(make(0, {8}, {2})) == code(errc::corrupt_data));
        CHECK(open_error(make(0, {8, 2, 2}, {1, 4})) == code(errc::corrupt_data));
        CHECK(open_error(make(0, {0}, {1})) == code(errc::corrupt_data));
        CHECK(open_error(make(0, {8}, {1}, false), &msg) == code(errc::corrupt_data));
        CHECK(msg.find("no .counts") != std::string::npos);
        std::vector<unsigned char> only_counts = make(0, {8}, {1}, true, false);
        CHECK(open_error(only_counts, &msg) == code(errc::invalid_argument));  // no in_sum2 at all

        // gguf_file refuses to read other types as F32.
        temp_file f("f16.gguf");
        write(f.path, make(1, {8}, {1}));
        const sio::gguf_file g(f.path);
        try {
            g.read_f32(*g.find("w.in_sum2"));
            FAIL("expected an error");
        } catch (const sqllm::error& e) {
            CHECK(e.code() == errc::shape_mismatch);
            CHECK(std::string(e.what()).find("F16[8]") != std::string::npos);
        }
    }
    SECTION("values") {
        const auto good = one_entry_gguf();
        const std::size_t data = good.size() - 64;  // in_sum2 (32 padded), counts (32 padded)
        REQUIRE(read_error(good) == -1);
        const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
        struct bad {
            std::size_t at;
            float v;
            errc want;
        };
        for (const bad& c : {bad{data + 8, nan, errc::non_finite}, bad{data + 4, inf, errc::non_finite},
                             bad{data, -1.0f, errc::negative_value}, bad{data + 32, nan, errc::non_finite},
                             bad{data + 32, -inf, errc::non_finite}, bad{data + 32, -4.0f, errc::negative_value},
                             bad{data + 32, 0.0f, errc::invalid_argument}}) {
            auto b = good;
            put_f32(b, c.at, c.v);
            CHECK(open_error(b) == -1);  // values are checked when read
            CHECK(read_error(b, &msg) == code(c.want));
            CHECK(msg.find("\"x.weight\"") != std::string::npos);
        }
        auto b = good;  // 3e38 / 0.5 overflows
        put_f32(b, data, 3e38f);
        put_f32(b, data + 32, 0.5f);
        CHECK(read_error(b, &msg) == code(errc::non_finite));
    }
}

TEST_CASE("imatrix: hostile legacy files", "[imatrix][hostile]") {
    std::string msg;
    const std::vector<sio::imatrix_data> entries = {entry("a.weight", 4, {8.0f}), entry("b.weight", 2, {8.0f})};
    sio::imatrix_info info = some_info();
    info.chunk_size = 4;  // ncall = 2
    const auto good = sio::imatrix_legacy_image(entries, info);
    REQUIRE(read_error(good) == -1);
    // layout: n | len "a.weight" ncall nval 4 floats | len "b.weight" ncall nval 2 floats | last | len "calib.txt"
    const std::size_t a = 4, a_ncall = a + 4 + 8, b0 = a_ncall + 8 + 16, b_nval = b0 + 4 + 8 + 4, end = b_nval + 4 + 8;

    SECTION("every truncation") {
        for (std::size_t n = 0; n < good.size(); ++n) {
            INFO(n);
            const int got = open_error(std::vector<unsigned char>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)));
            if (n == end || n == end + 4) CHECK(got == -1);  // the trailer is optional
            else CHECK(got == code(errc::corrupt_data));
        }
    }
    SECTION("counts and lengths") {
        for (std::uint32_t v : {0u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu, 1000u}) {
            INFO(v);
            auto b = good;
            put(b, 0, v, 4);
            CHECK(open_error(b) == code(errc::corrupt_data));
            b = good;
            put(b, a, v, 4);
            CHECK(open_error(b) == code(errc::corrupt_data));
            b = good;
            put(b, b_nval, v, 4);
            CHECK(open_error(b) == code(errc::corrupt_data));
        }
        auto b = good;
        put(b, end + 4, 3, 4);  // a dataset name length that does not end the file
        CHECK(open_error(b, &msg) == code(errc::corrupt_data));
        b = good;
        b.push_back(0);  // a trailing byte
        CHECK(open_error(b, &msg) == code(errc::corrupt_data));
        CHECK(msg.find("after the entries") != std::string::npos);
    }
    SECTION("duplicates and values") {
        auto b = good;
        b[b0 + 4] = 'a';  // "b.weight" → "a.weight"
        CHECK(open_error(b, &msg) == code(errc::corrupt_data));
        CHECK(msg.find("appears twice") != std::string::npos);
        b = good;
        put(b, a_ncall, 0, 4);
        CHECK(read_error(b, &msg) == code(errc::invalid_argument));
        CHECK(msg.find("\"a.weight\"") != std::string::npos);
        b = good;
        put(b, a_ncall, 0xFFFFFFFF, 4);
        CHECK(read_error(b) == code(errc::negative_value));
        b = good;
        put_f32(b, a_ncall + 8 + 4, std::numeric_limits<float>::quiet_NaN());
        CHECK(read_error(b) == code(errc::non_finite));
        b = good;
        put_f32(b, a_ncall + 8, -0.5f);
        CHECK(read_error(b) == code(errc::negative_value));
    }
    SECTION("not a file") {
        CHECK(open_error({}, &msg) == code(errc::corrupt_data));
        CHECK(msg.find("empty") != std::string::npos);
        try {
            sio::imatrix m("/tmp");
            FAIL("expected an error");
        } catch (const sqllm::error& e) {
            CHECK(e.code() == errc::io_error);
        }
    }
    SECTION("the writer refuses inconsistent entries") {
        CHECK_THROWS_AS(sio::imatrix_legacy_image(entries, {}), sqllm::error);  // chunk_size 0
        auto e = entries;
        e[0].counts = {0.0f};
        CHECK_THROWS_AS(sio::imatrix_gguf_image(e, info), sqllm::error);
        e = entries;
        e[0].in_sum2.pop_back();
        CHECK_THROWS_AS(sio::imatrix_gguf_image(e, info), sqllm::error);
        CHECK_THROWS_AS(sio::write_imatrix_gguf("/nonexistent/dir/x.gguf", entries, info), sqllm::error);
    }
}
