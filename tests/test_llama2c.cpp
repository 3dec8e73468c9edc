// llama2.c files and the llama2c example's forward pass: the checkpoint and
// tokenizer readers (real files and malformed ones), encode/decode against
// the shipped token files, gemv-vs-gemm agreement of the forward pass, and
// the fp32 dev perplexity of stories260K.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "../examples/llama2c/checkpoint.hpp"
#include "../examples/llama2c/llama2c.hpp"
#include "../examples/llama2c/llama2c_tokenizer.hpp"
#include "../examples/llama2c/model.hpp"
#include "../examples/llama2c/perplexity.hpp"
#include "catch.hpp"
#include "test_util.hpp"

using llama2c::llama2c_config;
using llama2c::llama2c_tokenizer;
using sqllm::errc;
using sqllm_test::throws_code;

namespace {

const std::string data_dir = std::string(SQLLM_DATA_DIR) + "/stories260K/";
const std::string model_path = data_dir + "stories260K.bin";
const std::string tokenizer_path = data_dir + "tok512.bin";

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// A directory under the system temp directory, removed with its contents.
class temp_dir {
public:
    temp_dir() {
        static std::atomic<unsigned> counter{0};
        const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
        path_ = std::filesystem::temp_directory_path() /
                ("sqllm_llama2c_" + std::to_string(stamp) + "_" + std::to_string(counter++));
        std::filesystem::create_directories(path_);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    /// Makes a FIFO named `name` and returns its path.
    std::string fifo(const std::string& name) const {
        const std::string p = (path_ / name).string();
        REQUIRE(::mkfifo(p.c_str(), 0600) == 0);
        return p;
    }

    /// Writes `bytes` to the file `name` and returns its path.
    std::string write(const std::string& name, const std::string& bytes) const {
        const std::string p = (path_ / name).string();
        std::ofstream out(p, std::ios::binary);
        out.write(bytes.data(), std::streamsize(bytes.size()));
        REQUIRE(out);
        return p;
    }

private:
    std::filesystem::path path_;
};

std::string le32(std::uint32_t v) {
    const char b[4] = {char(v & 0xFF), char(v >> 8 & 0xFF), char(v >> 16 & 0xFF), char(v >> 24 & 0xFF)};
    return std::string(b, 4);
}
std::string i32(std::int32_t v) { return le32(static_cast<std::uint32_t>(v)); }
std::string f32(float v) {
    std::uint32_t u;
    std::memcpy(&u, &v, 4);
    return le32(u);
}

/// A header, then n floats counting up from `start` in steps of 1/1024.
std::string model_bytes(const std::array<std::int32_t, 7>& h, std::size_t n, float start = 0.0f) {
    std::string s;
    for (std::int32_t v : h)
        s += i32(v);
    for (std::size_t i = 0; i < n; ++i)
        s += f32(start + float(i) / 1024.0f);
    return s;
}

/// A small valid configuration: dim 8, hidden 12, 2 layers, 2 heads, 1 kv head, vocab 10, seq_len 6.
constexpr std::array<std::int32_t, 7> small = {8, 12, 2, 2, 1, 10, 6};
// Weights of `small`: emb 80 + 2·(8 + 64 + 32 + 32 + 64 + 8 + 96 + 96 + 96) + 8; RoPE 2 · 6 · 2.
constexpr std::size_t small_weights = 80 + 2 * (8 + 64 + 32 + 32 + 64 + 8 + 96 + 96 + 96) + 8, small_rope = 24;

/// The text of each story of a .txt file: the lines before each "<|endoftext|>"
/// line, joined by "\n" (no final newline).
std::vector<std::string> read_stories(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    std::vector<std::string> stories;
    std::string line, story;
    bool first = true;
    while (std::getline(in, line)) {
        if (line == "<|endoftext|>") {
            stories.push_back(story);
            story.clear();
            first = true;
        } else {
            story += (first ? "" : "\n") + line;
            first = false;
        }
    }
    REQUIRE(story.empty());  // the file ends with a separator
    return stories;
}

/// The token lists of a .u16 file, one per BOS (BOS itself dropped).
std::vector<std::vector<int>> read_token_stories(const std::string& path) {
    std::vector<std::vector<int>> out;
    for (int t : llama2c::read_tokens_u16(path)) {
        if (t == llama2c_tokenizer::bos_id)
            out.emplace_back();
        else
            out.back().push_back(t);
    }
    return out;
}

/// run.c's encode(), transcribed literally (quadratic rescans), as the oracle
/// for the priority-queue implementation.
std::vector<int> encode_like_run_c(const llama2c_tokenizer& tok, const std::string& text) {
    std::vector<int> ids;
    if (!text.empty()) ids.push_back(tok.find(" "));
    std::string buf;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) buf.clear();
        buf += text[i];
        if (i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80 && buf.size() < 4) continue;
        const int id = tok.find(buf);
        if (id >= 0) {
            ids.push_back(id);
        } else {
            for (unsigned char b : buf)
                ids.push_back(b + 3);
        }
        buf.clear();
    }
    for (;;) {
        float best = -1e10f;
        int best_id = -1;
        std::size_t best_at = 0;
        for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
            const int id = tok.find(tok.piece(ids[i]) + tok.piece(ids[i + 1]));
            if (id >= 0 && tok.score(id) > best) {
                best = tok.score(id);
                best_id = id;
                best_at = i;
            }
        }
        if (best_id < 0) break;
        ids[best_at] = best_id;
        ids.erase(ids.begin() + std::ptrdiff_t(best_at) + 1);
    }
    return ids;
}

}  // namespace

// ---------------------------------------------------------------------------
// Checkpoint reader

TEST_CASE("read_llama2c reads stories260K: config, names, shapes, file order", "[llama2c]") {
    const auto file = llama2c::read_llama2c(model_path);
    const llama2c_config& c = file.config;
    CHECK(c.dim == 64);
    CHECK(c.hidden_dim == 172);
    CHECK(c.n_layers == 5);
    CHECK(c.n_heads == 8);
    CHECK(c.n_kv_heads == 4);
    CHECK(c.vocab_size == 512);
    CHECK(c.seq_len == 512);
    CHECK(c.shared_classifier);
    CHECK(c.head_size() == 8);
    CHECK(c.kv_dim() == 32);

    REQUIRE(file.tensors.size() == 1 + 9 * 5 + 1);  // embedding, 9 per layer, final norm; shared classifier
    using shape = std::vector<std::size_t>;
    CHECK(file.tensors.front().name == "tok_embeddings");
    CHECK(file.tensors.front().shape == shape{512, 64});
    CHECK(file.tensors[1].name == "layers.0.rms_att");
    CHECK(file.tensors[5].name == "layers.4.rms_att");
    CHECK(file.tensors[6].name == "layers.0.wq");  // each kind for all layers before the next kind
    CHECK(file.tensors.back().name == "rms_final");
    CHECK(file.find("output") == nullptr);
    const std::map<std::string, shape> shapes = {{"rms_att", {64}}, {"wq", {64, 64}},  {"wk", {32, 64}},
                                                 {"wv", {32, 64}},  {"wo", {64, 64}},  {"rms_ffn", {64}},
                                                 {"w1", {172, 64}}, {"w2", {64, 172}}, {"w3", {172, 64}}};
    std::size_t floats = 0;
    for (const auto& t : file.tensors) {
        REQUIRE(t.data.size() == t.numel());
        floats += t.numel();
    }
    for (int l = 0; l < 5; ++l)
        for (const auto& kind : shapes) {
            const auto& t = file.at("layers." + std::to_string(l) + "." + kind.first);
            CHECK(t.shape == kind.second);
        }
    CHECK(floats == 260032);
    CHECK(throws_code([&] { file.at("layers.5.wq"); }, errc::invalid_argument));

    // Spot values against the raw bytes: the first weight and the last of rms_final.
    const std::string raw = slurp(model_path);
    float first = 0, last = 0;
    std::memcpy(&first, raw.data() + 28, 4);
    std::memcpy(&last, raw.data() + 28 + 4 * (floats - 1), 4);
    CHECK(file.tensors.front().data.front() == first);
    CHECK(file.tensors.back().data.back() == last);

    // The same names, in the same order, as the Fisher file's layer matrices.
    const auto names = llama2c::llama2c_tensor_names(c);
    REQUIRE(names.size() == file.tensors.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        CHECK(names[i].name == file.tensors[i].name);
        CHECK(names[i].shape == file.tensors[i].shape);
    }
}

TEST_CASE("read_llama2c: optional RoPE tables, separate classifier", "[llama2c]") {
    temp_dir dir;
    SECTION("shared classifier, with and without the RoPE tables") {
        for (std::size_t rope : {std::size_t(0), small_rope}) {
            const auto f = llama2c::read_llama2c(dir.write("m.bin", model_bytes(small, small_weights + rope)));
            CHECK(f.config.shared_classifier);
            CHECK(f.tensors.size() == 1 + 9 * 2 + 1);
            CHECK(f.at("layers.1.w3").shape == std::vector<std::size_t>{12, 8});
            CHECK(f.tensors.back().data.back() == float(small_weights - 1) / 1024.0f);
        }
    }
    SECTION("negative vocab_size: the classifier follows the RoPE tables") {
        auto h = small;
        h[5] = -10;
        const auto f = llama2c::read_llama2c(dir.write("m.bin", model_bytes(h, small_weights + small_rope + 80)));
        CHECK_FALSE(f.config.shared_classifier);
        CHECK(f.config.vocab_size == 10);
        const auto& out = f.at("output");
        CHECK(out.shape == std::vector<std::size_t>{10, 8});
        CHECK(out.data.front() == float(small_weights + small_rope) / 1024.0f);
        // run.c reads the classifier after the tables: without them the size is wrong.
        CHECK(throws_code([&] { llama2c::read_llama2c(dir.write("n.bin", model_bytes(h, small_weights + 80))); },
                          errc::corrupt_data));
    }
}

TEST_CASE("read_llama2c rejects malformed checkpoints", "[llama2c]") {
    temp_dir dir;
    const auto throws = [&](const std::string& bytes, errc code) {
        return throws_code([&] { llama2c::read_llama2c(dir.write("bad.bin", bytes)); }, code);
    };
    const std::string good = model_bytes(small, small_weights + small_rope);
    REQUIRE_NOTHROW(llama2c::read_llama2c(dir.write("good.bin", good)));

    CHECK(throws_code([&] { llama2c::read_llama2c(dir.write("x", "") + ".missing"); }, errc::io_error));
    CHECK(throws(good.substr(0, 27), errc::corrupt_data));                     // shorter than the header
    CHECK(throws("", errc::corrupt_data));                                     // empty
    CHECK(throws(good.substr(0, good.size() - 1), errc::corrupt_data));        // truncated mid-float
    CHECK(throws(model_bytes(small, small_weights - 1), errc::corrupt_data));  // a weight missing
    CHECK(throws(good + std::string(4, '\0'), errc::corrupt_data));            // trailing float
    CHECK(throws(good + "x", errc::corrupt_data));                             // trailing byte
    CHECK(throws(model_bytes(small, small_weights + 1), errc::corrupt_data));  // partial RoPE tables

    for (std::size_t field = 0; field < 7; ++field)
        for (std::int32_t v : {0, -3, std::numeric_limits<std::int32_t>::min(), (1 << 24) + 1}) {
            if (field == 5 && v == -3) continue;  // a negative vocab_size is legal (separate classifier)
            auto h = small;
            h[field] = v;
            INFO("field " << field << " = " << v);
            CHECK(throws(model_bytes(h, small_weights + small_rope), errc::corrupt_data));
        }
    auto h = small;
    h[3] = 3;  // dim 8 not divisible by 3 heads
    CHECK(throws(model_bytes(h, small_weights), errc::corrupt_data));
    h = small;
    h[3] = 4;  // 4 heads of size 2 over 3 kv heads
    h[4] = 3;
    CHECK(throws(model_bytes(h, small_weights), errc::corrupt_data));
    h = small;
    h[4] = 4;  // more kv heads than heads
    CHECK(throws(model_bytes(h, small_weights), errc::corrupt_data));
    h = small;
    h[0] = 6;  // 2 heads of size 3: odd, RoPE rotates pairs
    CHECK(throws(model_bytes(h, small_weights), errc::corrupt_data));
    // Sizes whose byte count overflows 64 bits are reported, not wrapped around.
    CHECK(throws(model_bytes({1 << 24, 1 << 24, 1 << 24, 1 << 2, 1 << 2, 1 << 24, 1 << 24}, 4), errc::corrupt_data));
    CHECK(throws(model_bytes({1 << 22, 1 << 22, 1 << 22, 2, 1, 1 << 22, 16}, 4), errc::corrupt_data));
    // A versioned export ("ak42" magic) is named as such.
    CHECK(throws(le32(0x616b3432u) + i32(1) + std::string(256, '\0'), errc::corrupt_data));

    // Non-finite weights, wherever they are.
    for (std::size_t at : {std::size_t(0), std::size_t(100), small_weights - 1}) {
        for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
            std::string bytes = good;
            bytes.replace(28 + 4 * at, 4, f32(bad));
            CHECK(throws(bytes, errc::non_finite));
        }
    }
}

TEST_CASE("read_llama2c error messages name the file and the problem", "[llama2c]") {
    temp_dir dir;
    const std::string path = dir.write("trunc.bin", model_bytes(small, small_weights - 1));
    try {
        llama2c::read_llama2c(path);
        FAIL("no exception");
    } catch (const sqllm::error& e) {
        const std::string what = e.what();
        CHECK(what.find(path) != std::string::npos);
        CHECK(what.find("truncated") != std::string::npos);
    }
}

// ---------------------------------------------------------------------------
// Tokenizer

TEST_CASE("read_llama2c_tokenizer reads tok512 and rejects malformed files", "[llama2c][tokenizer]") {
    const auto tok = llama2c::read_llama2c_tokenizer(tokenizer_path, 512);
    CHECK(tok.vocab_size() == 512);
    CHECK(tok.piece(1) == "\n<s>\n");
    CHECK(tok.piece(3 + 0x41) == "<0x41>");
    CHECK(tok.find(" the") >= 259);
    CHECK(tok.find("no such piece") == -1);
    CHECK(throws_code([&] { tok.piece(512); }, errc::out_of_range));
    CHECK(throws_code([&] { tok.decode(1, -1); }, errc::out_of_range));

    temp_dir dir;
    const std::string raw = slurp(tokenizer_path);
    const auto throws = [&](const std::string& bytes, int vocab, errc code) {
        return throws_code([&] { llama2c::read_llama2c_tokenizer(dir.write("t.bin", bytes), vocab); }, code);
    };
    CHECK(throws_code([&] { llama2c::read_llama2c_tokenizer(data_dir + "missing.bin", 512); }, errc::io_error));
    CHECK(throws(raw, 511, errc::corrupt_data));  // bytes after the last token
    CHECK(throws(raw, 513, errc::corrupt_data));  // ends early
    CHECK(throws(raw, 100, errc::invalid_argument));
    for (std::size_t cut :
         {std::size_t(0), std::size_t(2), std::size_t(4), std::size_t(9), raw.size() / 2, raw.size() - 1})
        CHECK(throws(raw.substr(0, cut), 512, errc::corrupt_data));

    // Synthetic files: max_token_length 4, 259 tokens "a" (id 0), byte pieces.
    const auto file = [](std::int32_t max_len, std::int32_t len0, float score0) {
        std::string s = i32(max_len) + f32(score0) + i32(len0) + std::string(std::size_t(std::max(len0, 0)), 'a');
        for (int i = 1; i < 259; ++i)
            s += f32(0.0f) + i32(1) + "b";
        return s;
    };
    CHECK_NOTHROW(llama2c::read_llama2c_tokenizer(dir.write("ok.bin", file(4, 3, -1.0f)), 259));
    CHECK(throws(file(0, 0, 0.0f), 259, errc::corrupt_data));   // max_token_length 0
    CHECK(throws(file(-1, 0, 0.0f), 259, errc::corrupt_data));  // negative max_token_length
    CHECK(throws(file(4, -1, 0.0f), 259, errc::corrupt_data));  // negative length
    CHECK(throws(file(4, 5, 0.0f), 259, errc::corrupt_data));   // longer than max_token_length
    CHECK(throws(i32(0x7FFFFFFF) + f32(0.0f) + i32(0x7FFFFFFF), 259, errc::corrupt_data));  // huge, no data
    CHECK(throws(file(4, 1, std::numeric_limits<float>::quiet_NaN()), 259, errc::non_finite));
    // Regression: the reader allocated vocab_size pieces before reading any
    // (579 MiB for an 8-byte file; std::bad_alloc, not sqllm::error, past that).
    CHECK(throws(i32(4) + f32(0.0f), std::numeric_limits<int>::max(), errc::corrupt_data));
    CHECK(throws(i32(4) + f32(0.0f) + i32(1), 20000000, errc::corrupt_data));
}

TEST_CASE("encode reproduces calib.u16 and dev.u16 from the text, story by story", "[llama2c][tokenizer]") {
    // How the .u16 files were made (established by this test): each story is
    // the text between two "<|endoftext|>" lines without its final newline,
    // encoded on its own (one dummy prefix per story) with BOS and no EOS.
    // Inner newlines are kept and become the byte-fallback token <0x0A>.
    const auto tok = llama2c::read_llama2c_tokenizer(tokenizer_path, 512);
    for (const char* name : {"dev", "calib"}) {
        INFO(name);
        const auto stories = read_stories(data_dir + name + ".txt");
        const auto expected = read_token_stories(data_dir + name + ".u16");
        REQUIRE(stories.size() == expected.size());
        std::size_t newlines = 0;
        for (std::size_t s = 0; s < stories.size(); ++s) {
            INFO("story " << s);
            const std::vector<int> ids = tok.encode(stories[s], /*bos=*/true, /*eos=*/false);
            REQUIRE(ids.front() == llama2c_tokenizer::bos_id);
            CHECK(std::vector<int>(ids.begin() + 1, ids.end()) == expected[s]);
            newlines += std::size_t(std::count(ids.begin(), ids.end(), 3 + '\n'));
        }
        CHECK(newlines > 0);
    }
    CHECK(read_stories(data_dir + "dev.txt").size() == 80);
}

TEST_CASE("encode matches run.c's quadratic algorithm on random text", "[llama2c][tokenizer]") {
    const auto tok = llama2c::read_llama2c_tokenizer(tokenizer_path, 512);
    // Pieces of text the vocabulary has, and some it has not (multi-byte
    // characters, stray continuation bytes, truncated sequences, controls).
    const std::vector<std::string> alphabet = {"a",
                                               "e",
                                               "t",
                                               "h",
                                               "o",
                                               "n",
                                               " ",
                                               " ",
                                               "  ",
                                               ".",
                                               ",",
                                               "\n",
                                               "the",
                                               " Lily",
                                               "ing",
                                               "Once upon a time",
                                               "\"",
                                               "'",
                                               "0",
                                               "7",
                                               "\xC3\xA9",
                                               "\xE2\x80\x94",
                                               "\xF0\x9F\x98\x80",
                                               "\x80",
                                               "\xFF",
                                               "\xE2\x80",
                                               "\t",
                                               "Z",
                                               "q",
                                               "\x01"};
    sqllm_test::rng_t rng(11);
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1), length(0, 60);
    for (int trial = 0; trial < 300; ++trial) {
        std::string text;
        for (std::size_t k = length(rng); k > 0; --k)
            text += alphabet[pick(rng)];
        INFO("text: " << text);
        const auto ids = tok.encode(text, false, false);
        CHECK(ids == encode_like_run_c(tok, text));
        CHECK(tok.decode(tok.encode(text, true, false)) == text);
    }
    CHECK(tok.encode("", true, true) == std::vector<int>{1, 2});
    CHECK(tok.encode("", false, false).empty());
    const auto eos = tok.encode("Hi", false, true);
    CHECK(eos.back() == llama2c_tokenizer::eos_id);
}

TEST_CASE("decode: leading space after BOS, raw bytes, round trip of the dev stories", "[llama2c][tokenizer]") {
    const auto tok = llama2c::read_llama2c_tokenizer(tokenizer_path, 512);
    const int the = tok.find(" the");
    REQUIRE(the >= 0);
    CHECK(tok.decode(llama2c_tokenizer::bos_id, the) == "the");
    CHECK(tok.decode(the, the) == " the");
    CHECK(tok.decode(the, 3 + 0x0A) == "\n");
    CHECK(tok.decode(the, 3 + 0xC3) == "\xC3");
    for (const auto& story : read_stories(data_dir + "dev.txt"))
        CHECK(tok.decode(tok.encode(story, true, false)) == story);
    const std::string odd = "caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x98\x80\n\x01 \xFF";
    CHECK(tok.decode(tok.encode(odd, true, true)) == odd + tok.piece(llama2c_tokenizer::eos_id));
}

// ---------------------------------------------------------------------------
// Forward pass

TEST_CASE("dense_linear: gemm equals gemv for every batch size and shape", "[llama2c]") {
    sqllm_test::rng_t rng(3);
    for (auto shape : {std::pair<std::size_t, std::size_t>{1, 1}, {3, 5}, {4, 8}, {7, 13}, {64, 172}, {172, 64}}) {
        const std::size_t rows = shape.first, cols = shape.second;
        const llama2c::dense_linear w(rows, cols, sqllm_test::random_normal(rng, rows * cols));
        CHECK(w.storage_bytes() == rows * cols * 4);
        for (std::size_t n : {1, 2, 7, 8, 9, 17}) {
            const auto X = sqllm_test::random_normal(rng, n * cols);
            std::vector<float> Y(n * rows), y(rows);
            w.gemm(X.data(), n, Y.data());
            for (std::size_t i = 0; i < n; ++i) {
                w.gemv(&X[i * cols], y.data());
                for (std::size_t r = 0; r < rows; ++r)  // same products, same order: equal up to FMA contraction
                    REQUIRE(std::abs(Y[i * rows + r] - y[r]) <= 1e-5f * (1.0f + std::abs(y[r])));
            }
        }
    }
    CHECK(throws_code([] { llama2c::dense_linear(2, 3, std::vector<float>(5)); }, errc::shape_mismatch));
    CHECK(throws_code([] { llama2c::dense_linear(0, 3, {}); }, errc::invalid_argument));
}

TEST_CASE("forward_window (gemm) and forward_token (gemv, KV cache) agree", "[llama2c]") {
    const llama2c::model m = llama2c::load_model(model_path);
    const auto windows = llama2c::story_windows(llama2c::read_tokens_u16(data_dir + "dev.u16"));
    const auto full = std::find_if(windows.begin(), windows.end(), [](const auto& x) { return x.size() == 257; });
    REQUIRE(full != windows.end());
    const std::vector<int>& w = *full;  // a whole window: attention spans of 1 ... 257 positions
    const std::size_t vocab = 512;

    llama2c::engine batched(m), stepwise(m);
    const float* window_logits = batched.forward_window(w.data(), w.size());
    // Tolerance: both paths compute every dot product in the same order, so
    // they differ at most by how a compiler contracts a·b + c into FMAs
    // (a rounding of 2^-24 relative per operation). Over 5 layers and
    // attention spans of up to 257 positions such differences stay near
    // 1e-6 relative; 1e-4 on logits of magnitude ~10 is a wide margin that
    // still catches any real discrepancy (a wrong position, RoPE angle or
    // cache slot changes logits by O(0.1)).
    double max_diff = 0.0;
    for (std::size_t p = 0; p < w.size(); ++p) {
        const float* token_logits = stepwise.forward_token(w[p], p);
        for (std::size_t v = 0; v < vocab; ++v) {
            const double a = window_logits[p * vocab + v], b = token_logits[v];
            max_diff = std::max(max_diff, std::abs(a - b) / (1.0 + std::abs(a)));
        }
    }
    INFO("max relative difference " << max_diff);
    CHECK(max_diff <= 1e-4);

    // A window prefills the cache: forward_token continues right after it.
    const float* prefill = batched.forward_window(w.data(), 100);
    const std::vector<float> last(prefill + 99 * vocab, prefill + 100 * vocab);
    const float* next = batched.forward_token(w[100], 100);
    const float* ref = stepwise.forward_token(w[100], 100);  // its cache holds positions 0 ... 256 of w
    for (std::size_t v = 0; v < vocab; ++v)
        CHECK(std::abs(next[v] - ref[v]) <= 1e-4f * (1.0f + std::abs(ref[v])));
    CHECK(last.size() == vocab);

    // Misuse is reported, not undefined.
    llama2c::engine fresh(m, 16);
    CHECK(throws_code([&] { fresh.forward_token(1, 1); }, errc::invalid_argument));  // position 0 not cached
    CHECK(throws_code([&] { fresh.forward_token(512, 0); }, errc::out_of_range));
    CHECK(throws_code([&] { fresh.forward_token(-1, 0); }, errc::out_of_range));
    CHECK(throws_code([&] { fresh.forward_window(w.data(), 17); }, errc::out_of_range));
    CHECK(throws_code([&] { fresh.forward_window(w.data(), 0); }, errc::out_of_range));
    CHECK(throws_code([&] { llama2c::engine(m, 513); }, errc::invalid_argument));
    CHECK(throws_code([] { llama2c::load_model(model_path + ".txt"); }, errc::invalid_argument));
}

TEST_CASE("the observer sees every linear layer's input", "[llama2c]") {
    const llama2c::model m = llama2c::load_model(model_path);
    llama2c::engine e(m);
    std::map<std::string, std::vector<std::size_t>> seen;  // name -> n of each call
    std::map<std::string, std::size_t> cols;
    std::vector<float> wq_input, wk_input;
    e.set_observer([&](const std::string& name, const float* X, std::size_t n, std::size_t c) {
        seen[name].push_back(n);
        cols[name] = c;
        if (name == "layers.2.wq") wq_input.assign(X, X + n * c);
        if (name == "layers.2.wk") wk_input.assign(X, X + n * c);
    });
    const std::vector<int> tokens = {1, 403, 407, 261, 378};
    e.forward_window(tokens.data(), tokens.size());
    e.forward_token(432, tokens.size());
    REQUIRE(seen.size() == 5 * 7 + 1);
    for (const auto& s : seen)
        CHECK(s.second == std::vector<std::size_t>{5, 1});
    CHECK(cols["layers.0.wq"] == 64);
    CHECK(cols["layers.4.w2"] == 172);
    CHECK(cols["output"] == 64);
    CHECK(wq_input == wk_input);  // wq, wk and wv share their input
    e.set_observer(nullptr);
    e.forward_token(261, tokens.size() + 1);
    CHECK(seen["output"].size() == 2);
}

namespace {
/// Forwards to another linear and counts the calls.
class counting_linear final : public llama2c::linear {
public:
    explicit counting_linear(std::unique_ptr<llama2c::linear> inner) : inner_(std::move(inner)) {}
    std::size_t rows() const override { return inner_->rows(); }
    std::size_t cols() const override { return inner_->cols(); }
    void gemv(const float* x, float* y) const override {
        ++gemv_calls;
        inner_->gemv(x, y);
    }
    void gemm(const float* X, std::size_t n, float* Y) const override {
        ++gemm_calls;
        inner_->gemm(X, n, Y);
    }
    std::size_t storage_bytes() const override { return inner_->storage_bytes(); }
    std::string describe() const override { return "counted " + inner_->describe(); }
    mutable std::size_t gemv_calls = 0, gemm_calls = 0;

private:
    std::unique_ptr<llama2c::linear> inner_;
};
}  // namespace

TEST_CASE("every linear layer goes through the interface: gemm per window, gemv per token", "[llama2c]") {
    llama2c::model m = llama2c::load_model(model_path);
    std::vector<const counting_linear*> counted;
    const auto wrap = [&counted](std::unique_ptr<llama2c::linear>& slot) {
        auto c = std::make_unique<counting_linear>(std::move(slot));
        counted.push_back(c.get());
        slot = std::move(c);
    };
    for (auto& l : m.layers)
        for (const char* kind : llama2c::linear_kinds())
            wrap(llama2c::linear_of(l, kind));
    wrap(m.classifier);
    REQUIRE(counted.size() == 36);
    CHECK(llama2c::summary(m).find("35 x counted fp32") != std::string::npos);

    llama2c::engine e(m);
    const std::vector<int> tokens = {1, 403, 407, 261, 378, 432};
    e.forward_window(tokens.data(), tokens.size());
    for (const auto* c : counted) {
        CHECK(c->gemm_calls == 1);
        CHECK(c->gemv_calls == 0);
    }
    e.forward_token(261, tokens.size());
    e.forward_token(378, tokens.size() + 1);
    for (const auto* c : counted) {
        CHECK(c->gemm_calls == 1);
        CHECK(c->gemv_calls == 2);
    }
    CHECK(throws_code([&] { llama2c::linear_of(m.layers[0], "wz"); }, errc::invalid_argument));
    m.layers[1].w2.reset();
    CHECK(throws_code([&] { llama2c::engine bad(m); }, errc::invalid_argument));  // validate(): missing layer
}

TEST_CASE("story_windows cut stories at BOS into overlapping windows", "[llama2c]") {
    // Stories of 1, 2, 5 and 8 tokens (plus a prefix without BOS), windows of 3.
    const std::vector<int> tokens = {7, 8, 1, 1, 9, 1, 10, 11, 12, 13, 1, 20, 21, 22, 23, 24, 25, 26};
    const auto w = llama2c::story_windows(tokens, 3);
    const std::vector<std::vector<int>> expected = {{7, 8},      {1, 9},       {1, 10, 11},  {11, 12, 13},
                                                    {1, 20, 21}, {21, 22, 23}, {23, 24, 25}, {25, 26}};
    CHECK(w == expected);
    CHECK(throws_code([&] { llama2c::story_windows(tokens, 1); }, errc::invalid_argument));

    const auto dev = llama2c::story_windows(llama2c::read_tokens_u16(data_dir + "dev.u16"));
    std::size_t predicted = 0;
    for (const auto& x : dev) {
        CHECK(x.size() <= 257);
        predicted += x.size() - 1;
    }
    CHECK(predicted == 26842);

    temp_dir dir;
    CHECK(throws_code([&] { llama2c::read_tokens_u16(dir.write("odd.u16", "abc")); }, errc::corrupt_data));
    CHECK(throws_code([&] { llama2c::read_tokens_u16(data_dir + "missing.u16"); }, errc::io_error));
}

TEST_CASE("fp32 dev perplexity of stories260K is 3.4748", "[llama2c][perplexity]") {
    const llama2c::model m = llama2c::load_model(model_path);
    llama2c::engine e(m);
    const auto windows = llama2c::story_windows(llama2c::read_tokens_u16(data_dir + "dev.u16"));
    const llama2c::nll_sum r = llama2c::evaluate(e, windows);
    CHECK(r.predicted == 26842);
    INFO("perplexity " << r.perplexity());
    CHECK(std::abs(r.perplexity() - 3.4748) <= 0.002);

    const llama2c::nll_sum first = llama2c::evaluate(e, windows, 1000);  // --max-tokens
    CHECK(first.predicted == 1000);
}

TEST_CASE("llama2.c readers refuse a FIFO or a directory at once", "[llama2c][resources]") {
    // Regression: opening a FIFO for reading waits for a writer forever.
    temp_dir dir;
    const std::string fifo = dir.fifo("model.bin");
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(throws_code([&] { llama2c::read_llama2c(fifo); }, errc::io_error));
    CHECK(throws_code([&] { llama2c::read_llama2c_tokenizer(fifo, 512); }, errc::io_error));
    CHECK(throws_code([&] { llama2c::read_tokens_u16(fifo); }, errc::io_error));
    CHECK(throws_code([&] { llama2c::read_llama2c(std::filesystem::temp_directory_path().string()); }, errc::io_error));
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}
