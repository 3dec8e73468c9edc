// fuzz/fuzz_safetensors.cpp — the safetensors reader on arbitrary bytes.
//
// The input is the file. It goes to parse_safetensors_header (in memory)
// and, through a temporary file, to safetensors_file; every tensor of a
// file that opens is read with read<T> for its dtype and to_float, checked
// against its bytes, and the whole file is written back with
// safetensors_writer and read again: the same tensors, bytes and metadata.
#include <sqllm/io/safetensors.hpp>
#include <sqllm/io/safetensors_writer.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <typeinfo>
#include <vector>

#include "fuzz_common.hpp"

using namespace sqllm;
using namespace sqllm::io;
using sqllm_fuzz::finding;

namespace {

template <class T>
void check_read(const safetensors_file& f, const tensor_info& t) {
    const std::vector<T> v = f.read<T>(t);
    SQLLM_FUZZ_CHECK(v.size() == t.numel(), "read<T> returned the wrong element count for " + t.name);
    const auto b = f.bytes(t);
    SQLLM_FUZZ_CHECK(b.size() == v.size() * sizeof(T), "bytes() and numel disagree for " + t.name);
    SQLLM_FUZZ_CHECK(v.empty() || std::memcmp(v.data(), b.data(), b.size()) == 0, "read<T> changed bytes of " + t.name);
}

template <class T>
float widen(const unsigned char* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return static_cast<float>(v);
}

void check_file(const safetensors_file& f, const safetensors_header& h, std::size_t size) {
    SQLLM_FUZZ_CHECK(f.tensors().size() == h.tensors.size(), "safetensors_file and the parser disagree");
    for (const tensor_info& t : f.tensors()) {
        SQLLM_FUZZ_CHECK(f.find(t.name) != nullptr && &f.at(t.name) == f.find(t.name), "find/at lost " + t.name);
        SQLLM_FUZZ_CHECK(h.data_offset + t.end <= size, "tensor " + t.name + " ends past the file");
        switch (t.type) {
            case dtype::boolean:
            case dtype::u8:
            case dtype::f8_e4m3:
            case dtype::f8_e5m2:
                if (t.type == dtype::u8) check_read<std::uint8_t>(f, t);
                break;
            case dtype::i8:
                check_read<std::int8_t>(f, t);
                break;
            case dtype::i16:
                check_read<std::int16_t>(f, t);
                break;
            case dtype::u16:
                check_read<std::uint16_t>(f, t);
                break;
            case dtype::f16:
                check_read<half>(f, t);
                break;
            case dtype::bf16:
                check_read<bfloat16>(f, t);
                break;
            case dtype::i32:
                check_read<std::int32_t>(f, t);
                break;
            case dtype::u32:
                check_read<std::uint32_t>(f, t);
                break;
            case dtype::f32:
                check_read<float>(f, t);
                break;
            case dtype::i64:
                check_read<std::int64_t>(f, t);
                break;
            case dtype::u64:
                check_read<std::uint64_t>(f, t);
                break;
            case dtype::f64:
                check_read<double>(f, t);
                break;
        }
        const bool floating = t.type == dtype::f32 || t.type == dtype::f16 || t.type == dtype::bf16;
        try {
            const std::vector<float> v = f.to_float(t);
            SQLLM_FUZZ_CHECK(floating, "to_float accepted " + t.describe());
            const unsigned char* p = f.bytes(t).data();
            for (std::size_t i = 0; i < v.size(); ++i) {
                const float want = t.type == dtype::f32   ? widen<float>(p + 4 * i)
                                   : t.type == dtype::f16 ? widen<half>(p + 2 * i)
                                                          : widen<bfloat16>(p + 2 * i);
                SQLLM_FUZZ_CHECK(sqllm_fuzz::same_bits(v[i], want) || (std::isnan(v[i]) && std::isnan(want)),
                                 "to_float changed element " + std::to_string(i) + " of " + t.name);
            }
        } catch (const error& e) {
            SQLLM_FUZZ_CHECK(!floating && e.code() == errc::shape_mismatch,
                             std::string("to_float refused a float tensor: ") + e.what());
        }
        f.release(t);
    }
}

/// Writes f's tensors and metadata with safetensors_writer and reads them back.
/// (The writer refuses an empty tensor name, which the reader accepts: such files are not written.)
void round_trip(const safetensors_file& f) {
    for (const tensor_info& t : f.tensors())
        if (t.name.empty()) return;
    const std::string path = f.path() + ".out";
    {
        safetensors_writer w(path);
        for (const auto& kv : f.metadata())
            w.set_metadata(kv.first, kv.second);
        for (const tensor_info& t : f.tensors())
            w.add(t.name, t.type, t.shape, f.bytes(t).data(), t.bytes());
        w.finish();
    }
    struct remove_at_exit {
        std::string p;
        ~remove_at_exit() { unlink(p.c_str()); }
    } cleanup{path};
    const safetensors_file g(path, mapped_file::mode::read);
    SQLLM_FUZZ_CHECK(g.metadata() == f.metadata(), "metadata changed in a write/read round trip");
    SQLLM_FUZZ_CHECK(g.tensors().size() == f.tensors().size(), "tensor count changed in a round trip");
    for (const tensor_info& t : f.tensors()) {
        const tensor_info* u = g.find(t.name);
        SQLLM_FUZZ_CHECK(u && u->type == t.type && u->shape == t.shape && u->bytes() == t.bytes(),
                         "tensor " + t.name + " changed in a round trip");
        SQLLM_FUZZ_CHECK(t.bytes() == 0 || std::memcmp(g.bytes(*u).data(), f.bytes(t).data(), t.bytes()) == 0,
                         "bytes of " + t.name + " changed in a round trip");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    safetensors_header h;
    try {
        h = parse_safetensors_header(data, size, "fuzz input");
    } catch (const error& e) {
        SQLLM_FUZZ_CHECK(e.code() == errc::corrupt_data, std::string("header rejected with a code other than corrupt_data: ") + e.what());
        return 0;
    } catch (const std::exception& e) {
        finding(std::string("parse_safetensors_header threw ") + typeid(e).name() + ": " + e.what());
    }
    // The parser's promises: sorted tensors that tile the data section, sizes that match.
    std::size_t expect = 0;
    SQLLM_FUZZ_CHECK(h.data_offset >= 8 && h.data_offset <= size, "data_offset outside the file");
    for (const tensor_info& t : h.tensors) {
        SQLLM_FUZZ_CHECK(t.begin == expect && t.end >= t.begin, "tensors do not tile the data section");
        unsigned __int128 bytes = size_of(t.type);
        for (std::size_t d : t.shape) {
            bytes *= d;
            if (bytes > size) break;
        }
        SQLLM_FUZZ_CHECK(bytes == t.bytes(), "tensor " + t.describe() + " spans " + std::to_string(t.bytes()) + " bytes");
        expect = t.end;
    }
    SQLLM_FUZZ_CHECK(h.data_offset + expect == size, "tensors do not end at the end of the file");

    // The same bytes through a file, mapped or read (the first byte's parity picks).
    const sqllm_fuzz::temp_file file(data, size);
    try {
        const safetensors_file f(file.path(), size && (data[size - 1] & 1) ? mapped_file::mode::read
                                                                           : mapped_file::mode::map);
        check_file(f, h, size);
        round_trip(f);
    } catch (const error& e) {
        finding(std::string("a header that parses failed to open, read or round-trip: ") + e.what());
    } catch (const std::exception& e) {
        finding(std::string("non-sqllm exception ") + typeid(e).name() + ": " + e.what());
    }
    return 0;
}
