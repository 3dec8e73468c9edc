// sqllm/io/safetensors.hpp — the safetensors format: dtypes, the header, and
// reading a file (memory-mapped). Writing is io/safetensors_writer.hpp.
//
// Part of sqllm's optional I/O layer (CMake target sqllm::io): it needs
// nlohmann-json, which the core headers never include.
//
// The format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of UTF-8 JSON, then the data
// section. The JSON maps each tensor name to {"dtype", "shape",
// "data_offsets": [begin, end]} (offsets relative to the data section) and
// may hold "__metadata__", a string→string map. As the reference
// implementation does, the reader insists that the tensors tile the data
// section exactly: no overlap, no hole, nothing past the last tensor.
//
// Error policy: every malformed input throws sqllm::error naming the file
// and the problem (errc::io_error for the file system, errc::corrupt_data for
// the bytes). Nothing is read outside the file.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../core/span.hpp"
#include "../error.hpp"
#include "../types/bfloat16.hpp"
#include "../types/half.hpp"
#include "mapped_file.hpp"

SQLLM_NAMESPACE_BEGIN
namespace io {

/// Element types of the safetensors format.
enum class dtype { boolean, u8, i8, f8_e4m3, f8_e5m2, i16, u16, f16, bf16, i32, u32, f32, i64, u64, f64 };

/// The format's spelling of a dtype ("F32", "BF16", ...).
inline const char* to_string(dtype t) noexcept {
    switch (t) {
        case dtype::boolean:
            return "BOOL";
        case dtype::u8:
            return "U8";
        case dtype::i8:
            return "I8";
        case dtype::f8_e4m3:
            return "F8_E4M3";
        case dtype::f8_e5m2:
            return "F8_E5M2";
        case dtype::i16:
            return "I16";
        case dtype::u16:
            return "U16";
        case dtype::f16:
            return "F16";
        case dtype::bf16:
            return "BF16";
        case dtype::i32:
            return "I32";
        case dtype::u32:
            return "U32";
        case dtype::f32:
            return "F32";
        case dtype::i64:
            return "I64";
        case dtype::u64:
            return "U64";
        case dtype::f64:
            return "F64";
    }
    return "?";
}

/// Bytes per element.
inline std::size_t size_of(dtype t) noexcept {
    switch (t) {
        case dtype::boolean:
        case dtype::u8:
        case dtype::i8:
        case dtype::f8_e4m3:
        case dtype::f8_e5m2:
            return 1;
        case dtype::i16:
        case dtype::u16:
        case dtype::f16:
        case dtype::bf16:
            return 2;
        case dtype::i32:
        case dtype::u32:
        case dtype::f32:
            return 4;
        case dtype::i64:
        case dtype::u64:
        case dtype::f64:
            return 8;
    }
    return 0;
}

/// Parses a dtype name; false if the format has no such dtype.
inline bool parse_dtype(const std::string& s, dtype& out) noexcept {
    for (int i = 0; i <= static_cast<int>(dtype::f64); ++i)
        if (s == to_string(static_cast<dtype>(i))) {
            out = static_cast<dtype>(i);
            return true;
        }
    return false;
}

/// The dtype that stores T (float, half, bfloat16, int32, uint32, uint8, ...).
template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
    static constexpr dtype value = dtype::f32;
};
template <>
struct dtype_of<double> {
    static constexpr dtype value = dtype::f64;
};
template <>
struct dtype_of<half> {
    static constexpr dtype value = dtype::f16;
};
template <>
struct dtype_of<bfloat16> {
    static constexpr dtype value = dtype::bf16;
};
template <>
struct dtype_of<std::int8_t> {
    static constexpr dtype value = dtype::i8;
};
template <>
struct dtype_of<std::uint8_t> {
    static constexpr dtype value = dtype::u8;
};
template <>
struct dtype_of<std::int16_t> {
    static constexpr dtype value = dtype::i16;
};
template <>
struct dtype_of<std::uint16_t> {
    static constexpr dtype value = dtype::u16;
};
template <>
struct dtype_of<std::int32_t> {
    static constexpr dtype value = dtype::i32;
};
template <>
struct dtype_of<std::uint32_t> {
    static constexpr dtype value = dtype::u32;
};
template <>
struct dtype_of<std::int64_t> {
    static constexpr dtype value = dtype::i64;
};
template <>
struct dtype_of<std::uint64_t> {
    static constexpr dtype value = dtype::u64;
};

/// One tensor's entry in the header.
struct tensor_info {
    std::string name;
    dtype type = dtype::f32;
    std::vector<std::size_t> shape;
    std::size_t begin = 0;  ///< offset of the first byte in the data section
    std::size_t end = 0;    ///< one past the last byte

    /// Elements (no overflow check: the reader checked the product of every shape it accepted).
    std::size_t numel() const noexcept {
        std::size_t n = 1;
        for (std::size_t d : shape)
            n *= d;
        return n;
    }
    std::size_t bytes() const noexcept { return end - begin; }
    /// "F32[64, 172]"
    std::string describe() const {
        std::string s = std::string(to_string(type)) + "[";
        for (std::size_t i = 0; i < shape.size(); ++i)
            s += (i ? ", " : "") + std::to_string(shape[i]);
        return s + "]";
    }
};

/// The parsed, validated header of a safetensors file.
struct safetensors_header {
    std::map<std::string, std::string> metadata;  ///< "__metadata__"
    std::vector<tensor_info> tensors;             ///< sorted by data offset
    std::size_t data_offset = 0;                  ///< where the data section starts in the file (8 + N)
};

namespace detail {

/// Largest header the reader accepts (the reference implementation's limit).
constexpr std::uint64_t max_header_bytes = 100u << 20;

[[noreturn]] inline void corrupt(const std::string& where, const std::string& what) {
    sqllm::detail::fail(errc::corrupt_data, where + ": " + what);
}

inline std::size_t json_size(const nlohmann::json& j, const std::string& where, const std::string& what) {
    if (!j.is_number_unsigned()) corrupt(where, what + " is not a non-negative integer");
    const std::uint64_t v = j.get<std::uint64_t>();
    if (v > SIZE_MAX) corrupt(where, what + " is too large");
    return static_cast<std::size_t>(v);
}

}  // namespace detail

/// Parses and validates a header from the whole file image `file` of
/// `file_size` bytes (only the header is read). `where` names the file in
/// error messages. Checks: the length prefix fits the file; the JSON is an
/// object without duplicate keys; every entry has a known dtype, a shape of
/// non-negative integers, offsets [begin, end] with end − begin = numel ×
/// dtype size; the tensors tile the data section exactly; "__metadata__" is
/// a map of strings.
inline safetensors_header parse_safetensors_header(const unsigned char* file, std::size_t file_size,
                                                   const std::string& where) {
    using nlohmann::json;
    if (file_size < 8)
        detail::corrupt(where,
                        "file is " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | file[i];
    if (n > file_size - 8)
        detail::corrupt(where, "header length " + std::to_string(n) + " runs past the end of the " +
                                   std::to_string(file_size) + "-byte file (truncated?)");
    if (n > detail::max_header_bytes) detail::corrupt(where, "header length " + std::to_string(n) + " exceeds 100 MiB");
    if (n < 2 || file[8] != '{') detail::corrupt(where, "header does not start with a JSON object");

    // Duplicate keys are corruption (nlohmann would keep the last silently):
    // track the keys of each open object while parsing.
    std::vector<std::vector<std::string>> keys;
    std::string duplicate;
    const json::parser_callback_t check = [&](int, json::parse_event_t ev, json& parsed) {
        if (ev == json::parse_event_t::object_start)
            keys.emplace_back();
        else if (ev == json::parse_event_t::object_end)
            keys.pop_back();
        else if (ev == json::parse_event_t::key && !keys.empty()) {
            const std::string k = parsed.get<std::string>();
            auto& seen = keys.back();
            if (std::find(seen.begin(), seen.end(), k) != seen.end() && duplicate.empty()) duplicate = k;
            seen.push_back(k);
        }
        return true;
    };
    json h;
    try {
        h = json::parse(file + 8, file + 8 + n, check);
    } catch (const json::exception& e) {
        detail::corrupt(where, std::string("header is not valid JSON (") + e.what() + ")");
    }
    if (!duplicate.empty()) detail::corrupt(where, "header has the key \"" + duplicate + "\" twice");
    if (!h.is_object()) detail::corrupt(where, "header is not a JSON object");

    safetensors_header out;
    out.data_offset = static_cast<std::size_t>(8 + n);
    const std::size_t data_size = file_size - out.data_offset;
    for (auto it = h.begin(); it != h.end(); ++it) {
        const std::string& name = it.key();
        const json& e = it.value();
        if (name == "__metadata__") {
            if (!e.is_object()) detail::corrupt(where, "__metadata__ is not an object");
            for (auto m = e.begin(); m != e.end(); ++m) {
                if (!m.value().is_string())
                    detail::corrupt(where, "__metadata__ value of \"" + m.key() + "\" is not a string");
                out.metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        const std::string at = "tensor \"" + name + "\"";
        if (!e.is_object()) detail::corrupt(where, at + " is not an object");
        for (auto f = e.begin(); f != e.end(); ++f)
            if (f.key() != "dtype" && f.key() != "shape" && f.key() != "data_offsets")
                detail::corrupt(where, at + " has an unknown field \"" + f.key() + "\"");
        if (!e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
            detail::corrupt(where, at + " lacks one of dtype, shape, data_offsets");
        tensor_info t;
        t.name = name;
        if (!e["dtype"].is_string() || !parse_dtype(e["dtype"].get<std::string>(), t.type))
            detail::corrupt(where, at + " has an unknown dtype " + e["dtype"].dump());
        if (!e["shape"].is_array()) detail::corrupt(where, at + ": shape is not an array");
        std::size_t numel = 1;
        for (const json& d : e["shape"]) {
            t.shape.push_back(detail::json_size(d, where, at + ": a shape entry"));
            if (!mul_fits(numel, t.shape.back(), numel)) detail::corrupt(where, at + ": shape overflows");
        }
        const json& off = e["data_offsets"];
        if (!off.is_array() || off.size() != 2) detail::corrupt(where, at + ": data_offsets is not [begin, end]");
        t.begin = detail::json_size(off[0], where, at + ": data_offsets[0]");
        t.end = detail::json_size(off[1], where, at + ": data_offsets[1]");
        if (t.begin > t.end) detail::corrupt(where, at + ": data_offsets begin > end");
        if (t.end > data_size)
            detail::corrupt(where, at + ": data_offsets end " + std::to_string(t.end) + " is past the " +
                                       std::to_string(data_size) + "-byte data section (truncated?)");
        std::size_t bytes = 0;
        if (!mul_fits(numel, size_of(t.type), bytes) || bytes != t.end - t.begin)
            detail::corrupt(where, at + " is " + t.describe() + " = " + std::to_string(bytes) +
                                       " bytes but its offsets span " + std::to_string(t.end - t.begin));
        out.tensors.push_back(std::move(t));
    }
    std::sort(out.tensors.begin(), out.tensors.end(), [](const tensor_info& a, const tensor_info& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    std::size_t expect = 0;
    for (const tensor_info& t : out.tensors) {
        if (t.begin < expect)
            detail::corrupt(where, "tensor \"" + t.name + "\" overlaps the tensor before it (offset " +
                                       std::to_string(t.begin) + " < " + std::to_string(expect) + ")");
        if (t.begin > expect)
            detail::corrupt(where, "bytes " + std::to_string(expect) + ".." + std::to_string(t.begin) +
                                       " of the data section belong to no tensor");
        expect = t.end;
    }
    if (expect != data_size)
        detail::corrupt(where, std::to_string(data_size - expect) + " bytes after the last tensor belong to no tensor");
    return out;
}

/// A safetensors file, memory-mapped read-only (read into memory where mmap
/// is unavailable) and validated on open. Tensors are read in place; their
/// pages are loaded on first touch and can be dropped with release(), so a
/// tool that walks the file tensor by tensor holds about one tensor.
class safetensors_file {
public:
    /// Opens, maps and validates `path`; throws sqllm::error. A FIFO or
    /// other non-regular file is refused without blocking, and a rejected
    /// file leaves nothing mapped (io/mapped_file.hpp). mapped_file::mode::read
    /// reads the file into memory instead, for input that another process may
    /// truncate while it is in use (a mapping would raise SIGBUS).
    explicit safetensors_file(const std::string& path, mapped_file::mode m = mapped_file::mode::map)
        : path_(path), file_(path, m) {
        if (file_.size() == 0) detail::corrupt(path_, "file is empty");
        header_ = parse_safetensors_header(file_.data(), file_.size(), path_);
    }
    safetensors_file(const safetensors_file&) = delete;
    safetensors_file& operator=(const safetensors_file&) = delete;

    const std::string& path() const noexcept { return path_; }
    const std::map<std::string, std::string>& metadata() const noexcept { return header_.metadata; }
    /// All tensors, sorted by their position in the file.
    const std::vector<tensor_info>& tensors() const noexcept { return header_.tensors; }

    /// The tensor named `name`, or nullptr.
    const tensor_info* find(const std::string& name) const noexcept {
        for (const tensor_info& t : header_.tensors)
            if (t.name == name) return &t;
        return nullptr;
    }
    /// The tensor named `name`; throws errc::invalid_argument if there is none.
    const tensor_info& at(const std::string& name) const {
        const tensor_info* t = find(name);
        if (!t) sqllm::detail::fail(errc::invalid_argument, path_ + ": no tensor named \"" + name + "\"");
        return *t;
    }
    /// The tensor's bytes, in place (no alignment guarantee beyond 1).
    span<const unsigned char> bytes(const tensor_info& t) const noexcept {
        return {file_.data() + header_.data_offset + t.begin, t.bytes()};
    }

    /// Copies a tensor of dtype dtype_of<T> into `out` (numel elements).
    /// Throws errc::shape_mismatch if the dtype or size differs.
    template <class T>
    void copy_to(const tensor_info& t, span<T> out) const {
        if (t.type != dtype_of<T>::value)
            sqllm::detail::fail(errc::shape_mismatch, path_ + ": tensor \"" + t.name + "\" is " + t.describe() +
                                                          ", expected " + to_string(dtype_of<T>::value));
        if (out.size() != t.numel())
            sqllm::detail::fail(errc::shape_mismatch, path_ + ": tensor \"" + t.name + "\" has " +
                                                          std::to_string(t.numel()) + " elements, the destination " +
                                                          std::to_string(out.size()));
        if (t.bytes()) std::memcpy(out.data(), bytes(t).data(), t.bytes());
    }
    /// The tensor as a vector of T (dtype must be dtype_of<T>).
    template <class T>
    std::vector<T> read(const tensor_info& t) const {
        std::vector<T> out(t.numel());
        copy_to(t, span<T>(out.data(), out.size()));
        return out;
    }

    /// Converts an F32, F16 or BF16 tensor to float into `out` (numel
    /// elements), exactly. Throws errc::shape_mismatch for other dtypes.
    void to_float(const tensor_info& t, span<float> out) const {
        if (out.size() != t.numel())
            sqllm::detail::fail(errc::shape_mismatch, path_ + ": tensor \"" + t.name + "\" has " +
                                                          std::to_string(t.numel()) + " elements, the destination " +
                                                          std::to_string(out.size()));
        const unsigned char* p = bytes(t).data();
        switch (t.type) {
            case dtype::f32:
                if (t.bytes()) std::memcpy(out.data(), p, t.bytes());
                return;
            case dtype::f16:
                convert<half>(p, out);
                return;
            case dtype::bf16:
                convert<bfloat16>(p, out);
                return;
            default:
                sqllm::detail::fail(errc::shape_mismatch, path_ + ": tensor \"" + t.name + "\" is " + t.describe() +
                                                              ", not a floating-point type (F32, F16, BF16)");
        }
    }
    std::vector<float> to_float(const tensor_info& t) const {
        std::vector<float> out(t.numel());
        to_float(t, span<float>(out.data(), out.size()));
        return out;
    }

    /// Drops the tensor's pages from this process's memory (they are
    /// re-read from the file if touched again). A hint: a no-op without mmap.
    void release(const tensor_info& t) const noexcept {
#if SQLLM_IO_HAS_MMAP
        if (!file_.mapped() || t.bytes() == 0) return;
        const std::uintptr_t page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
        const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(bytes(t).data());
        const std::uintptr_t lo = (first + page - 1) / page * page;  // whole pages only: neighbours stay
        const std::uintptr_t hi = (first + t.bytes()) / page * page;
        if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
#else
        (void)t;
#endif
    }

private:
    template <class T>
    static void convert(const unsigned char* p, span<float> out) {
        for (std::size_t i = 0; i < out.size(); ++i) {
            T v;
            std::memcpy(&v, p + i * sizeof(T), sizeof(T));
            out[i] = static_cast<float>(v);
        }
    }

    std::string path_;
    mapped_file file_;  // owns the mapping: a constructor that throws after mapping still unmaps
    safetensors_header header_;
};

}  // namespace io
SQLLM_NAMESPACE_END
