// safetensors reading/writing and quantized checkpoints: round trips, and a
// clear sqllm::error for every kind of malformed file (hand-made bytes).
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/safetensors.hpp>
#include <sqllm/io/safetensors_writer.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <csignal>
#include <dirent.h>
#include <cstring>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catch.hpp"
#include "error_check.hpp"
#include "test_util.hpp"

using namespace sqllm;
using namespace sqllm::io;
using sqllm_test::rng_t;
using sqllm_test::throws_code;

namespace {

/// The writer's temporaries for `path`: `<path>.sqllm-tmp.<pid>.<hex>`.
std::vector<std::string> temporaries_of(const std::string& path) {
    std::vector<std::string> out;
    const std::size_t slash = path.find_last_of('/');
    const std::string dir = path.substr(0, slash), prefix = path.substr(slash + 1) + ".sqllm-tmp.";
    if (DIR* d = ::opendir(dir.c_str())) {
        while (const dirent* e = ::readdir(d))
            if (std::string(e->d_name).compare(0, prefix.size(), prefix) == 0) out.push_back(dir + "/" + e->d_name);
        ::closedir(d);
    }
    return out;
}

/// A fresh path in the temporary directory, removed (with the writer's
/// temporaries) when the guard dies.
struct temp_path {
    std::string path;
    explicit temp_path(const std::string& stem)
        : path((std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : std::string("/tmp")) + "/sqllm_test_" +
               std::to_string(::getpid()) + "_" + stem) {}
    ~temp_path() {
        std::remove(path.c_str());
        for (const std::string& t : temporaries_of(path))
            std::remove(t.c_str());
    }
};

bool exists(const std::string& p) {
    std::ifstream f(p);
    return f.good();
}

/// Writes a file made of an 8-byte length, `header` and `data` verbatim.
void write_raw(const std::string& path, const std::string& header, const std::string& data,
               std::uint64_t length_override = ~std::uint64_t(0)) {
    std::ofstream f(path, std::ios::binary);
    const std::uint64_t n = length_override == ~std::uint64_t(0) ? header.size() : length_override;
    for (int i = 0; i < 8; ++i)
        f.put(static_cast<char>(n >> (8 * i)));
    f << header << data;
}

errc open_error(const std::string& path) {
    try {
        safetensors_file f(path);
    } catch (const error& e) {
        return e.code();
    }
    return errc::invalid_argument;  // "no error" must not pass a corrupt_data check
}

std::string msg_of(const std::string& path) {
    try {
        safetensors_file f(path);
    } catch (const error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("safetensors round trip of every supported dtype, with metadata", "[safetensors]") {
    temp_path out("roundtrip.safetensors");
    const std::vector<float> f32{1.5f, -2.25f, 3.0f, 0.0f, 1e-30f, -7.0f};
    const std::vector<half> f16{half(1.0f), half(-0.5f), half(65504.0f)};
    const std::vector<bfloat16> bf16{bfloat16(3.0f), bfloat16(-1e30f)};
    const std::vector<std::int32_t> i32{-1, 2, 2147483647};
    const std::vector<std::uint8_t> u8{0, 7, 255, 1, 2};  // odd size: the tensors after it are misaligned
    {
        safetensors_writer w(out.path);
        w.set_metadata("format", "pt");
        w.set_metadata("note", "ünïcode ✓");
        w.add<std::uint8_t>("u8", {5}, u8);
        w.add<float>("f32", {2, 3}, f32);
        w.add<half>("f16", {3}, f16);
        w.add<bfloat16>("bf16", {1, 2}, bf16);
        w.add<std::int32_t>("i32", {3}, i32);
        w.add<float>("empty", {0, 4}, span<const float>());
        REQUIRE_FALSE(exists(out.path));  // nothing at the final name before finish()
        w.finish();
    }
    REQUIRE(exists(out.path));
    REQUIRE(temporaries_of(out.path).empty());

    safetensors_file f(out.path);
    REQUIRE(f.metadata().at("format") == "pt");
    REQUIRE(f.metadata().at("note") == "ünïcode ✓");
    REQUIRE(f.tensors().size() == 6);
    REQUIRE(f.at("f32").shape == std::vector<std::size_t>{2, 3});
    REQUIRE(f.at("f32").type == dtype::f32);
    REQUIRE(f.read<float>(f.at("f32")) == f32);
    REQUIRE(f.read<std::int32_t>(f.at("i32")) == i32);
    REQUIRE(f.read<std::uint8_t>(f.at("u8")) == u8);
    REQUIRE(f.to_float(f.at("f16")) == std::vector<float>{1.0f, -0.5f, 65504.0f});
    REQUIRE(f.to_float(f.at("bf16")) == std::vector<float>{3.0f, static_cast<float>(bfloat16(-1e30f))});
    REQUIRE(f.to_float(f.at("f32")) == f32);
    REQUIRE(f.at("empty").numel() == 0);
    REQUIRE(f.find("missing") == nullptr);
    REQUIRE(throws_code([&] { f.at("missing"); }, errc::invalid_argument));
    // Typed reads check the dtype; to_float only takes floating point.
    REQUIRE(throws_code([&] { f.read<float>(f.at("i32")); }, errc::shape_mismatch));
    REQUIRE(throws_code([&] { f.to_float(f.at("i32")); }, errc::shape_mismatch));
    // release() drops pages; the data reads the same afterwards.
    f.release(f.at("f32"));
    REQUIRE(f.read<float>(f.at("f32")) == f32);

    // The header is padded so the data section starts 8-byte aligned.
    std::ifstream raw(out.path, std::ios::binary);
    unsigned char len[8];
    raw.read(reinterpret_cast<char*>(len), 8);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | len[i];
    REQUIRE(n % 8 == 0);
}

/// Lines of /proc/self/maps: one per mapping of this process (-1 off Linux).
long mapping_count() {
    std::ifstream maps("/proc/self/maps");
    if (!maps) return -1;
    long n = 0;
    for (std::string line; std::getline(maps, line);) ++n;
    return n;
}

TEST_CASE("a rejected safetensors file leaves no mapping behind", "[safetensors][resources]") {
    // Regression: the reader threw from its constructor after mapping, so the
    // mapping leaked; ~65,000 rejected files exhausted vm.max_map_count.
    temp_path bad("rejected.safetensors");
    write_raw(bad.path, "{\"a\": 1}", std::string(64, '\0'));  // maps, then fails to parse
    REQUIRE(open_error(bad.path) == errc::corrupt_data);
    const long before = mapping_count();
    if (before < 0) {
        WARN("no /proc/self/maps: mapping count not checked");
        return;
    }
    for (int i = 0; i < 2000; ++i) REQUIRE(open_error(bad.path) == errc::corrupt_data);
    REQUIRE(mapping_count() < before + 20);  // allocator noise, not one per file
}

TEST_CASE("a FIFO given as a safetensors file is refused without blocking", "[safetensors][resources]") {
    // Regression: open() on a FIFO waits for a writer forever.
    temp_path fifo("fifo.safetensors");
    REQUIRE(::mkfifo(fifo.path.c_str(), 0600) == 0);
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(open_error(fifo.path) == errc::io_error);
    REQUIRE(msg_of(fifo.path).find("not a regular file") != std::string::npos);
    REQUIRE(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}

TEST_CASE("safetensors files read into memory instead of mapped", "[safetensors][resources]") {
    temp_path out("read_mode.safetensors");
    safetensors_writer w(out.path);
    const std::vector<float> v = {1.5f, -2.0f, 3.25f};
    w.add<float>("a", {3}, v);
    w.finish();
    safetensors_file f(out.path, mapped_file::mode::read);
    REQUIRE(f.read<float>(f.at("a")) == v);
    f.release(f.at("a"));  // a hint; a no-op on memory that is not mapped
    REQUIRE(f.read<float>(f.at("a")) == v);
}

TEST_CASE("a file truncated while in use: SIGBUS when mapped, intact when read (the documented stance)",
          "[safetensors][resources]") {
    temp_path out("truncated.safetensors");
    const std::vector<float> v(1 << 16, 2.5f);  // 256 KiB: many pages past the cut
    {
        safetensors_writer w(out.path);
        w.add<float>("a", {v.size()}, v);
        w.finish();
    }
    // In a child, so that the mapped case can die as documented.
    const auto run = [&](mapped_file::mode m) {
        std::fflush(nullptr);
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int code = 3;
            try {
                const safetensors_file f(out.path, m);
                if (::truncate(out.path.c_str(), 4096) != 0) ::_exit(4);  // another process shrinks the file
                const auto b = f.bytes(f.at("a"));
                float last = 0;
                std::memcpy(&last, b.data() + b.size() - sizeof(float), sizeof(float));
                code = last == 2.5f ? 0 : 5;
            } catch (...) {
                code = 6;
            }
            ::_exit(code);
        }
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        return status;
    };
    const int read_status = run(mapped_file::mode::read);
    CHECK(WIFEXITED(read_status));
    CHECK(WEXITSTATUS(read_status) == 0);  // read mode: the bytes were copied before the cut
    {  // restore the file for the mapped case
        safetensors_writer w(out.path);
        w.add<float>("a", {v.size()}, v);
        w.finish();
    }
    const int map_status = run(mapped_file::mode::map);
    // Mapped: the lost pages raise SIGBUS (sanitizer runtimes catch it and exit non-zero).
    CHECK(((WIFSIGNALED(map_status) && WTERMSIG(map_status) == SIGBUS) ||
           (WIFEXITED(map_status) && WEXITSTATUS(map_status) != 0 && WEXITSTATUS(map_status) != 5)));
}

TEST_CASE("safetensors writer leaves nothing behind unless finished", "[safetensors]") {
    temp_path out("abandoned.safetensors");
    {
        safetensors_writer w(out.path);
        const std::vector<float> v(1000, 1.0f);
        w.add<float>("a", {1000}, v);
        REQUIRE(temporaries_of(out.path).size() == 2);  // the spool and the file to be renamed
    }  // destroyed without finish(), as on an exception
    REQUIRE_FALSE(exists(out.path));
    REQUIRE(temporaries_of(out.path).empty());

    safetensors_writer w(out.path);
    const std::vector<float> v(4, 1.0f);
    w.add<float>("a", {4}, v);
    REQUIRE(throws_code([&] { w.add<float>("a", {4}, v); }, errc::invalid_argument));             // duplicate
    REQUIRE(throws_code([&] { w.add<float>("__metadata__", {4}, v); }, errc::invalid_argument));  // reserved
    REQUIRE(throws_code([&] { w.add<float>("b", {5}, v); }, errc::shape_mismatch));               // 5 ≠ 4 values
    w.discard();
    REQUIRE_FALSE(exists(out.path));
    REQUIRE(throws_code([&] { safetensors_writer bad("/nonexistent-dir/x.safetensors"); }, errc::io_error));
}

TEST_CASE("malformed safetensors files give a clear corrupt_data error", "[safetensors]") {
    temp_path p("bad.safetensors");
    const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    const std::string eight(8, '\0');

    // The well-formed base case opens: every failure below is the one change.
    write_raw(p.path, "{" + ok_entry + "}", eight);
    REQUIRE_NOTHROW(safetensors_file(p.path));

    struct bad_case {
        const char* what;
        std::string header, data;
        std::uint64_t length;
        const char* expect;  // in the message
    };
    const std::uint64_t auto_len = ~std::uint64_t(0);
    const std::vector<bad_case> cases{
        {"header length past the end", "{" + ok_entry + "}", eight, 1000, "runs past the end"},
        {"truncated data", "{" + ok_entry + "}", "1234", auto_len, "past the"},
        {"trailing bytes", "{" + ok_entry + "}", eight + "xx", auto_len, "belong to no tensor"},
        {"overlap",
         R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
         eight, auto_len, "overlaps"},
        {"hole", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight, auto_len, "belong to no tensor"},
        {"out-of-range offset", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight, auto_len, "past the"},
        {"begin after end", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight, auto_len, "begin > end"},
        {"unknown dtype", R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", eight, auto_len, "unknown dtype"},
        {"size mismatch", R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})", eight, auto_len, "offsets span"},
        {"negative shape", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight, auto_len,
         "non-negative integer"},
        {"shape overflow", R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", eight,
         auto_len, "overflows"},
        {"missing field", R"({"a":{"dtype":"F32","shape":[2]}})", eight, auto_len, "lacks"},
        {"unknown field", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", eight, auto_len,
         "unknown field"},
        {"duplicate key", "{" + ok_entry + "," + ok_entry + "}", eight, auto_len, "twice"},
        {"metadata not strings", R"({"__metadata__":{"k":1},)" + ok_entry + "}", eight, auto_len, "not a string"},
        {"not JSON", "{\"a\": {\"dtype\": \"F32\", ", eight, auto_len, "not valid JSON"},
        {"not an object", "[1, 2, 3]", eight, auto_len, "JSON object"},
        {"tensor entry not an object", R"({"a":5})", "", auto_len, "not an object"},
    };
    for (const bad_case& c : cases) {
        CAPTURE(c.what);
        write_raw(p.path, c.header, c.data, c.length);
        REQUIRE(open_error(p.path) == errc::corrupt_data);
        const std::string m = msg_of(p.path);
        CAPTURE(m);
        REQUIRE(m.find(c.expect) != std::string::npos);
        REQUIRE(m.find(p.path) != std::string::npos);  // names the file
    }
    {  // shorter than the length prefix, and empty
        std::ofstream(p.path, std::ios::binary) << "abc";
        REQUIRE(open_error(p.path) == errc::corrupt_data);
        std::ofstream(p.path, std::ios::binary | std::ios::trunc).flush();
        REQUIRE(open_error(p.path) == errc::corrupt_data);
    }
    REQUIRE(open_error("/nonexistent-dir/x.safetensors") == errc::io_error);
    REQUIRE(open_error("/tmp") == errc::io_error);  // a directory
}

namespace {

/// A whole file image: 8-byte length, header, data.
std::vector<unsigned char> image(const std::string& header, std::size_t data_bytes = 0) {
    std::vector<unsigned char> f(8 + header.size() + data_bytes, 0);
    for (int i = 0; i < 8; ++i)
        f[static_cast<std::size_t>(i)] = static_cast<unsigned char>(static_cast<std::uint64_t>(header.size()) >> (8 * i));
    std::copy(header.begin(), header.end(), f.begin() + 8);
    return f;
}

/// A header of n one-byte U8 tensors named t0, t1, ... tiling n data bytes.
std::string many_entries(std::size_t n) {
    std::string h = "{\"__metadata__\":{\"format\":\"pt\"}";
    h.reserve(n * 64);
    for (std::size_t i = 0; i < n; ++i)
        h += ",\"model.layers." + std::to_string(i) + ".weight\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[" +
             std::to_string(i) + "," + std::to_string(i + 1) + "]}";
    return h + "}";
}

std::string header_error(const std::vector<unsigned char>& f) {
    try {
        (void)parse_safetensors_header(f.data(), f.size(), "x.safetensors");
    } catch (const error& e) {
        return e.what();
    }
    return "(no error)";
}

double parse_seconds(const std::vector<unsigned char>& f) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto h = parse_safetensors_header(f.data(), f.size(), "x.safetensors");
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE(h.tensors.size() + 1 > 1);
    return s;
}

}  // namespace

TEST_CASE("safetensors headers parse in linear time, within a size limit", "[safetensors][hardening]") {
    // Regression: duplicate-key detection scanned all earlier keys and the
    // callback parser rescanned objects: 40,000 entries took 26 s.
    const auto small = image(many_entries(50000), 50000), big = image(many_entries(200000), 200000);
    REQUIRE(big.size() > 11u << 20);  // an 11.5 MB header, as in the report
    const auto h = parse_safetensors_header(big.data(), big.size(), "x.safetensors");
    REQUIRE(h.tensors.size() == 200000);
    REQUIRE(h.metadata.at("format") == "pt");
    const double t_small = parse_seconds(small), t_big = parse_seconds(big);
    CAPTURE(t_small, t_big);
    CHECK(t_big < 8 * t_small + 0.05);  // 4× the entries: linear is 4×, quadratic 16×
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    CHECK(t_big < 1.0);  // optimised builds; sanitizers make every access several times slower
#endif
    // Lookup by name is logarithmic too (the checkpoint loader finds every array by name).
    temp_path p("many.safetensors");
    {
        std::ofstream f(p.path, std::ios::binary);
        f.write(reinterpret_cast<const char*>(big.data()), static_cast<std::streamsize>(big.size()));
    }
    const safetensors_file file(p.path);
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t found = 0;
    for (std::size_t i = 0; i < 200000; i += 7)
        found += file.find("model.layers." + std::to_string(i) + ".weight") != nullptr;
    CHECK(found == (200000 + 6) / 7);
    CHECK(file.find("model.layers.200000.weight") == nullptr);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
    CHECK(find_quantized_layers(file).empty());

    // Headers over 64 MiB are refused before any parsing.
    std::vector<unsigned char> huge(8 + (std::size_t(64) << 20) + 16, ' ');
    const std::uint64_t n = (std::uint64_t(64) << 20) + 1;
    for (int i = 0; i < 8; ++i)
        huge[static_cast<std::size_t>(i)] = static_cast<unsigned char>(n >> (8 * i));
    huge[8] = '{';
    CHECK(header_error(huge).find("exceeds the 64 MiB limit") != std::string::npos);
}

TEST_CASE("safetensors header errors: duplicates anywhere, and no raw bytes in messages", "[safetensors][hardening]") {
    const std::string e = R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})";
    const std::string e2 = R"({"dtype":"U8","shape":[1],"data_offsets":[1,2]})";
    // A duplicate far from its twin, in the metadata, and inside an entry.
    auto dup_late = many_entries(3000);
    dup_late.insert(dup_late.size() - 1, ",\"model.layers.17.weight\":" + e2);
    CHECK(header_error(image(dup_late, 3001)).find("\"model.layers.17.weight\" twice") != std::string::npos);
    CHECK(header_error(image(R"({"__metadata__":{"k":"1","k":"2"},"a":)" + e + "}", 1)).find("\"k\" twice") !=
          std::string::npos);
    CHECK(header_error(image(R"({"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1))
              .find("\"dtype\" twice") != std::string::npos);
    CHECK(header_error(image(R"({"__metadata__":{},"__metadata__":{},"a":)" + e + "}", 1)).find("twice") !=
          std::string::npos);
    // Nesting is refused at the first level the format does not have.
    CHECK(header_error(image(R"({"a":{"dtype":"U8","shape":[[1]],"data_offsets":[0,1]}})", 1))
              .find("shape holds an array") != std::string::npos);
    CHECK(header_error(image("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1))
              .find("not [begin, end]") != std::string::npos);
    CHECK(header_error(image(R"({"__metadata__":{"k":["x"]},"a":)" + e + "}", 1)).find("not a string") !=
          std::string::npos);
    CHECK(header_error(image(R"({"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}})", 1)).find("a fraction") !=
          std::string::npos);
    std::string deep = "{\"a\":";
    for (int i = 0; i < 100000; ++i)
        deep += "[";
    CHECK(header_error(image(deep, 1)).find("tensor \"a\" is not an object") != std::string::npos);

    // Syntax errors say where, not what bytes were read (they used to be echoed).
    const std::string secret = "{\"a\":" + e + ", SECRET\x01\x02";
    const std::string m = header_error(image(secret, 1));
    CHECK(m.find("not valid JSON") != std::string::npos);
    CHECK(m.find("byte") != std::string::npos);
    CHECK(m.find("SECRET") == std::string::npos);
    CHECK(m.find('\x01') == std::string::npos);
    // Names with control characters are escaped in messages.
    const std::string m2 = header_error(image("{\"bad\\u0001\\u001bname\":5}", 1));
    CHECK(m2.find("bad\\x01\\x1bname") != std::string::npos);
    CHECK(m2.find('\x1b') == std::string::npos);
    CHECK(printable(std::string(1000, 'x')).size() < 210);
}

// --- quantized checkpoints --------------------------------------------------

namespace {

template <int Bits, class Lut>
quantized_matrix<Bits, Lut, csr<>, reference_layout<Bits>> quantized_sample(rng_t& rng, std::size_t rows,
                                                                            std::size_t cols, bool sparse) {
    const auto W = sqllm_test::random_weights(rng, rows * cols);
    const auto S = sqllm_test::random_sensitivity(rng, rows * cols);
    quantize_options opt;
    if (sparse) {
        opt.sparse.sensitive_fraction = 0.005;
        opt.sparse.outlier_fraction = 0.01;
    }
    return quantize<Bits, Lut, csr<>, reference_layout<Bits>>({W.data(), rows, cols}, {S.data(), rows, cols}, opt);
}

/// Rewrites `src` into `dst`, passing each tensor through `edit` (which may
/// change its bytes or shape, or drop it by returning false).
template <class Edit>
void rewrite(const std::string& src, const std::string& dst, Edit edit, bool keep_metadata = true) {
    safetensors_file in(src);
    safetensors_writer out(dst);
    if (keep_metadata)
        for (const auto& kv : in.metadata())
            out.set_metadata(kv.first, kv.second);
    for (const tensor_info& t : in.tensors()) {
        const auto b = in.bytes(t);
        std::vector<unsigned char> bytes(b.data(), b.data() + b.size());
        tensor_info info = t;
        if (!edit(info, bytes)) continue;
        out.add(info.name, info.type, info.shape, bytes.data(), bytes.size());
    }
    out.finish();
}

}  // namespace

TEMPLATE_TEST_CASE_SIG("quantized layers round-trip through a safetensors checkpoint", "[safetensors][checkpoint]",
                       ((int Bits, class Lut), Bits, Lut), (2, float), (3, float), (3, half), (4, half), (8, float)) {
    rng_t rng(40 + Bits);
    temp_path p("ck.safetensors");
    const auto dense = quantized_sample<Bits, Lut>(rng, 37, 100, false);  // 100: not a multiple of 32
    const auto sparse = quantized_sample<Bits, Lut>(rng, 21, 64, true);
    REQUIRE(sparse.view().nonzeros() > 0);
    const dtype lut_type = std::is_same<Lut, half>::value ? dtype::f16 : dtype::f32;
    {
        safetensors_writer w(p.path);
        write_quantized(w, "model.layers.0.dense", dense.view(), lut_type);
        write_quantized(w, "model.layers.0.sparse", sparse.view(), lut_type);
        const std::vector<float> norm(7, 1.0f);
        w.add<float>("model.norm", {7}, norm);
        w.finish();
    }
    safetensors_file f(p.path);
    const auto layers = find_quantized_layers(f);
    REQUIRE(layers.size() == 2);
    const auto& d = layers[0].name == "model.layers.0.dense" ? layers[0] : layers[1];
    const auto& s = layers[0].name == "model.layers.0.dense" ? layers[1] : layers[0];
    REQUIRE(d.rows == 37);
    REQUIRE(d.cols == 100);
    REQUIRE(d.bits == Bits);
    REQUIRE(d.lut_type == lut_type);
    REQUIRE_FALSE(d.has_sparse);
    REQUIRE(f.find("model.layers.0.dense.rows") == nullptr);  // dense-only: no CSR arrays
    REQUIRE(s.has_sparse);
    REQUIRE(s.nnz == sparse.view().nonzeros());
    REQUIRE(f.at("model.layers.0.dense.qweight").shape == std::vector<std::size_t>{4 * Bits, 37});
    REQUIRE(is_quantized_array(layers, "model.layers.0.sparse.vals"));
    REQUIRE_FALSE(is_quantized_array(layers, "model.norm"));

    // Loading repacks into the CPU layout; the values are exactly the original's.
    const auto back_d = load_quantized<Bits, Lut>(f, d);
    const auto back_s = load_quantized<Bits, Lut>(f, s);
    REQUIRE(dequantize<float>(back_d.view()) == dequantize<float>(dense.view()));
    REQUIRE(dequantize<float>(back_s.view()) == dequantize<float>(sparse.view()));
    REQUIRE(d.stored_bytes() == f.at("model.layers.0.dense.qweight").bytes() +
                                    f.at("model.layers.0.dense.lookup_table").bytes());
    REQUIRE(throws_code([&] { load_quantized<(Bits == 2 ? 3 : 2), Lut>(f, d); }, errc::invalid_argument));

    // A reference checkpoint has no sqllm metadata: cols then comes from qweight.
    temp_path bare("ck_bare.safetensors");
    rewrite(p.path, bare.path, [](tensor_info&, std::vector<unsigned char>&) { return true; }, false);
    safetensors_file fb(bare.path);
    const auto lb = find_quantized_layers(fb);
    for (const auto& L : lb)
        REQUIRE(L.cols == (L.name == "model.layers.0.dense" ? 128u : 64u));
}

TEST_CASE("inconsistent quantized checkpoints give a clear error", "[safetensors][checkpoint]") {
    rng_t rng(7);
    temp_path good("ck_good.safetensors"), bad("ck_bad.safetensors");
    const auto m = quantized_sample<3, float>(rng, 16, 96, true);
    {
        safetensors_writer w(good.path);
        write_quantized(w, "L", m.view());
        w.finish();
    }
    auto scan = [&]() { safetensors_file f(bad.path); return find_quantized_layers(f); };
    auto load = [&]() {
        safetensors_file f(bad.path);
        const auto layers = find_quantized_layers(f);
        return load_quantized<3, float>(f, layers.at(0));
    };
    auto expect = [&](auto&& fn, errc code, const char* text) { sqllm_test::expect_error(fn, code, text); };
    auto edit = [&](auto&& fn) { rewrite(good.path, bad.path, fn); };
    auto drop = [&](const std::string& name) {
        edit([&](tensor_info& t, std::vector<unsigned char>&) { return t.name != name; });
    };

    drop("L.lookup_table");
    expect(scan, errc::corrupt_data, "no lookup_table");
    drop("L.qweight");
    expect(scan, errc::corrupt_data, "has no qweight");
    drop("L.vals");
    expect(scan, errc::corrupt_data, "only some of the sparse arrays");
    edit([](tensor_info& t, std::vector<unsigned char>& b) {  // a qweight one row short
        if (t.name == "L.qweight") {
            t.shape[1] -= 1;
            b.resize(b.size() - 4 * t.shape[0]);
        }
        return true;
    });
    expect(scan, errc::corrupt_data, "columns but lookup_table");
    edit([](tensor_info& t, std::vector<unsigned char>& b) {  // 6 LUT entries per row: not 2^Bits
        if (t.name == "L.lookup_table") {
            t.shape[1] = 6;
            b.resize(t.shape[0] * 6 * 4);
        }
        return true;
    });
    expect(scan, errc::corrupt_data, "not 2^Bits");
    edit([](tensor_info& t, std::vector<unsigned char>& b) {  // LUT stored as I32
        if (t.name == "L.lookup_table") t.type = dtype::i32;
        (void)b;
        return true;
    });
    expect(scan, errc::corrupt_data, "expected F32 or F16");
    edit([](tensor_info& t, std::vector<unsigned char>& b) {  // one row pointer too few
        if (t.name == "L.rows") {
            t.shape[0] -= 1;
            b.resize(b.size() - 4);
        }
        return true;
    });
    expect(scan, errc::corrupt_data, "rows is I32");
    edit([](tensor_info& t, std::vector<unsigned char>& b) {  // nnz of cols and vals differ
        if (t.name == "L.vals") {
            t.shape[0] -= 1;
            b.resize(b.size() - 4);
        }
        return true;
    });
    expect(scan, errc::corrupt_data, "entries but vals");
    edit([](tensor_info& t, std::vector<unsigned char>& b) {  // a column index past the matrix
        if (t.name == "L.cols") {
            const std::int32_t big = 96;
            std::memcpy(b.data(), &big, 4);
        }
        return true;
    });
    expect(load, errc::out_of_range, "quantized layer \"L\"");
    edit([](tensor_info& t, std::vector<unsigned char>& b) {  // row pointers not ending at nnz
        if (t.name == "L.rows") {
            const std::int32_t v = 1 << 20;
            std::memcpy(b.data() + b.size() - 4, &v, 4);
        }
        return true;
    });
    expect(load, errc::corrupt_data, "quantized layer \"L\"");
    edit([](tensor_info& t, std::vector<unsigned char>& b) {  // a NaN in the LUT
        if (t.name == "L.lookup_table") {
            const float nan = std::nanf("");
            std::memcpy(b.data() + 8, &nan, 4);
        }
        return true;
    });
    expect(load, errc::non_finite, "lookup_table");
    {  // a metadata shape that disagrees with the arrays
        safetensors_file in(good.path);
        safetensors_writer w(bad.path);
        w.set_metadata("sqllm.shape.L", "[16, 200]");
        for (const auto& t : in.tensors())
            w.add(t.name, t.type, t.shape, in.bytes(t).data(), t.bytes());
        w.finish();
    }
    expect(scan, errc::corrupt_data, "disagrees");
}
