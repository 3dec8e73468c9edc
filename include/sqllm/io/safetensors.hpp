// sqllm/io/safetensors.hpp — read (memory-mapped) and write safetensors files.
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

/// a·b, or false on size_t overflow.
inline bool mul_overflows(std::size_t a, std::size_t b, std::size_t& out) noexcept {
    if (a != 0 && b > SIZE_MAX / a) return true;
    out = a * b;
    return false;
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
            if (detail::mul_overflows(numel, t.shape.back(), numel)) detail::corrupt(where, at + ": shape overflows");
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
        if (detail::mul_overflows(numel, size_of(t.type), bytes) || bytes != t.end - t.begin)
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

/// Writes a safetensors file tensor by tensor, holding none of them: data
/// goes to a spool file beside the output as it arrives; finish() writes
/// the header and the spooled data to `<path>.partial` and renames it to
/// `path`. Until finish() returns, `path` is untouched, and a writer
/// destroyed without finish() (an exception, an interrupt) deletes its
/// temporary files: an output file, when it exists, is always complete.
class safetensors_writer {
public:
    explicit safetensors_writer(std::string path)
        : path_(std::move(path)), spool_path_(path_ + ".spool"), partial_path_(path_ + ".partial") {
        spool_ = std::fopen(spool_path_.c_str(), "w+b");
        if (!spool_)
            sqllm::detail::fail(errc::io_error, spool_path_ + ": cannot create (" + std::strerror(errno) + ")");
    }
    safetensors_writer(const safetensors_writer&) = delete;
    safetensors_writer& operator=(const safetensors_writer&) = delete;
    ~safetensors_writer() { discard(); }

    /// Sets a "__metadata__" entry (replacing an earlier value).
    void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

    /// Appends a tensor of `type` and `shape` whose bytes are `data`
    /// (numel × size_of(type) bytes, little-endian). Throws on a duplicate
    /// or reserved name, a size mismatch, or a write error.
    void add(const std::string& name, dtype type, const std::vector<std::size_t>& shape, const void* data,
             std::size_t bytes) {
        require_open();
        if (name.empty() || name == "__metadata__")
            sqllm::detail::fail(errc::invalid_argument,
                                "safetensors tensor name \"" + name + "\" is reserved or empty");
        for (const tensor_info& t : tensors_)
            if (t.name == name)
                sqllm::detail::fail(errc::invalid_argument, "safetensors tensor \"" + name + "\" added twice");
        tensor_info t;
        t.name = name;
        t.type = type;
        t.shape = shape;
        std::size_t expect = 0;
        if (detail::mul_overflows(t.numel(), size_of(type), expect) || expect != bytes)
            sqllm::detail::fail(errc::shape_mismatch, "tensor \"" + name + "\" is " + t.describe() + " but " +
                                                          std::to_string(bytes) + " bytes were given");
        t.begin = offset_;
        t.end = offset_ + bytes;
        if (bytes && std::fwrite(data, 1, bytes, spool_) != bytes) write_failed(spool_path_);
        offset_ = t.end;
        tensors_.push_back(std::move(t));
    }
    /// Typed form: the dtype follows T.
    template <class T>
    void add(const std::string& name, const std::vector<std::size_t>& shape, span<const T> data) {
        add(name, dtype_of<T>::value, shape, data.data(), data.size() * sizeof(T));
    }

    /// Writes the file and renames it into place. The header is padded with
    /// spaces so the data section starts 8-byte aligned.
    void finish() {
        require_open();
        nlohmann::ordered_json h = nlohmann::ordered_json::object();
        if (!metadata_.empty()) h["__metadata__"] = metadata_;
        for (const tensor_info& t : tensors_)
            h[t.name] = {{"dtype", to_string(t.type)}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
        std::string text = h.dump();
        text.append((8 - text.size() % 8) % 8, ' ');
        std::FILE* out = std::fopen(partial_path_.c_str(), "wb");
        if (!out) sqllm::detail::fail(errc::io_error, partial_path_ + ": cannot create (" + std::strerror(errno) + ")");
        bool ok = true;
        unsigned char len[8];
        for (int i = 0; i < 8; ++i)
            len[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
        ok = std::fwrite(len, 1, 8, out) == 8 && std::fwrite(text.data(), 1, text.size(), out) == text.size();
        // Stream the spool across in 1 MiB pieces: memory stays flat.
        std::vector<unsigned char> buf(std::size_t(1) << 20);
        ok = ok && std::fflush(spool_) == 0 && std::fseek(spool_, 0, SEEK_SET) == 0;
        for (std::size_t left = offset_; ok && left > 0;) {
            const std::size_t n = std::min(left, buf.size());
            ok = std::fread(buf.data(), 1, n, spool_) == n && std::fwrite(buf.data(), 1, n, out) == n;
            left -= n;
        }
        ok = std::fclose(out) == 0 && ok;
        if (!ok) {
            std::remove(partial_path_.c_str());
            write_failed(partial_path_);
        }
        std::fclose(spool_);
        spool_ = nullptr;
        std::remove(spool_path_.c_str());
        if (std::rename(partial_path_.c_str(), path_.c_str()) != 0) {
            std::remove(partial_path_.c_str());
            sqllm::detail::fail(errc::io_error,
                                path_ + ": cannot rename the finished file into place (" + std::strerror(errno) + ")");
        }
        finished_ = true;
    }

    /// Deletes the temporary files without writing the output (also what
    /// the destructor does when finish() was not reached).
    void discard() noexcept {
        if (spool_) {
            std::fclose(spool_);
            spool_ = nullptr;
            std::remove(spool_path_.c_str());
        }
        if (!finished_) std::remove(partial_path_.c_str());
    }

    /// Bytes of tensor data added so far.
    std::size_t data_bytes() const noexcept { return offset_; }

private:
    void require_open() const {
        if (!spool_ || finished_)
            sqllm::detail::fail(errc::invalid_argument, path_ + ": the safetensors writer is finished or discarded");
    }
    [[noreturn]] void write_failed(const std::string& file) {
        sqllm::detail::fail(errc::io_error, file + ": write failed (" + std::strerror(errno) + ")");
    }

    std::string path_, spool_path_, partial_path_;
    std::FILE* spool_ = nullptr;
    bool finished_ = false;
    std::size_t offset_ = 0;
    std::map<std::string, std::string> metadata_;
    std::vector<tensor_info> tensors_;
};

}  // namespace io
SQLLM_NAMESPACE_END
