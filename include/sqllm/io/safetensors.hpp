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

/// A tensor's dtype and shape as messages spell them: "F32[64, 172]".
inline std::string describe_tensor(dtype type, const std::vector<std::size_t>& shape) {
    std::string s = std::string(to_string(type)) + "[";
    for (std::size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

/// Name prefix of the U8 tensors that fill the gaps a writer leaves to align
/// the next tensor (safetensors_writer::set_alignment): the format allows no
/// hole in the data section, so padding is a tensor too. Readers that walk a
/// file's tensors as model weights skip them (is_padding_tensor).
constexpr const char* padding_tensor_prefix = "__padding__.";

/// True for a padding tensor's name ("__padding__.<n>"): bytes that only align
/// the tensor after them, never model data.
inline bool is_padding_tensor(const std::string& name) noexcept {
    return name.compare(0, 12, padding_tensor_prefix) == 0;
}

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
    std::string describe() const { return describe_tensor(type, shape); }
};

/// The parsed, validated header of a safetensors file.
struct safetensors_header {
    std::map<std::string, std::string> metadata;  ///< "__metadata__"
    std::vector<tensor_info> tensors;             ///< sorted by data offset
    std::size_t data_offset = 0;                  ///< where the data section starts in the file (8 + N)
};

/// Text of a name read from a file, safe to put in a message: control
/// characters and backslashes escaped (\xNN), cut to 200 bytes with "...".
/// Error messages never echo a file's raw bytes.
inline std::string printable(const std::string& name) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    const std::size_t keep = name.size() > 200 ? 200 : name.size();
    for (std::size_t i = 0; i < keep; ++i) {
        const auto c = static_cast<unsigned char>(name[i]);
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '"') {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);  // UTF-8 was validated by the JSON parser
        }
    }
    if (keep < name.size()) out += "...";
    return out;
}

namespace detail {

/// Largest header the reader accepts. Real headers are far smaller: one
/// entry is ~140 bytes, so even DeepSeek-V3's 92k tensors in a single file
/// would take 13 MB (real checkpoints are sharded, < 1 MB a shard); 64 MiB
/// leaves 5× that, and parses in about a second (the format's own reader
/// allows 100 MB).
constexpr std::uint64_t max_header_bytes = std::uint64_t(64) << 20;

/// True when `s` ends with `suffix` (tensor-name suffixes: ".qweight", ...).
inline bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

[[noreturn]] inline void corrupt(const std::string& where, const std::string& what) {
    sqllm::detail::fail(errc::corrupt_data, where + ": " + what);
}

/// The header's JSON, read as SAX events straight into a safetensors_header:
/// no JSON tree, one pass, O(n log n) in the entries (duplicate names are
/// found by sorting). Every event is checked against the one shape the format
/// allows; the first problem is kept as a message (without the file's bytes)
/// and stops the parse.
class header_reader : public nlohmann::json_sax<nlohmann::json> {
public:
    using json = nlohmann::json;
    explicit header_reader(safetensors_header& out) : out_(out) {}

    const std::string& problem() const noexcept { return problem_; }
    /// Sorted (name, entry) pairs of the top-level object, to find duplicates.
    std::vector<std::string>& names() noexcept { return names_; }

    bool null() override { return scalar("null"); }
    bool boolean(bool) override { return scalar("a boolean"); }
    bool number_integer(json::number_integer_t) override { return number(false, 0); }
    bool number_unsigned(json::number_unsigned_t v) override { return number(true, v); }
    bool number_float(json::number_float_t, const json::string_t&) override { return scalar("a fraction"); }
    bool binary(json::binary_t&) override { return scalar("binary data"); }
    bool string(json::string_t& v) override {
        if (state_ == in_metadata) {
            if (!out_.metadata.emplace(key_, v).second) return fail("__metadata__ has the key \"" + printable(key_) + "\" twice");
            return true;
        }
        if (state_ == in_tensor && field_ == dtype_field) {
            if (!parse_dtype(v, tensor().type))
                return fail(at() + " has an unknown dtype \"" + printable(v) + "\"");
            return true;
        }
        return scalar("a string");
    }
    bool start_object(std::size_t) override {
        switch (state_) {
            case start:
                state_ = in_top;
                return true;
            case in_top:
                if (key_ == "__metadata__") {
                    state_ = in_metadata;
                } else {
                    state_ = in_tensor;
                    seen_ = 0;
                }
                return true;
            default:
                return scalar("an object");
        }
    }
    bool key(json::string_t& k) override {
        switch (state_) {
            case in_top:
                names_.push_back(k);
                if (k != "__metadata__") {
                    out_.tensors.emplace_back();
                    out_.tensors.back().name = k;
                }
                key_ = std::move(k);
                return true;
            case in_metadata:
                key_ = std::move(k);
                return true;
            case in_tensor: {
                unsigned bit = 0;
                if (k == "dtype") field_ = dtype_field, bit = 1;
                else if (k == "shape") field_ = shape_field, bit = 2;
                else if (k == "data_offsets") field_ = offsets_field, bit = 4;
                else return fail(at() + " has an unknown field \"" + printable(k) + "\"");
                if (seen_ & bit) return fail(at() + " has the field \"" + k + "\" twice");
                seen_ |= bit;
                return true;
            }
            default:
                return fail("unexpected key");
        }
    }
    bool end_object() override {
        switch (state_) {
            case in_top:
                state_ = done;
                return true;
            case in_metadata:
                state_ = in_top;
                return true;
            case in_tensor:
                if (seen_ != 7) return fail(at() + " lacks one of dtype, shape, data_offsets");
                state_ = in_top;
                return true;
            default:
                return fail("unexpected end of object");
        }
    }
    bool start_array(std::size_t) override {
        if (state_ == in_tensor && field_ == shape_field) {
            state_ = in_shape;
            return true;
        }
        if (state_ == in_tensor && field_ == offsets_field) {
            state_ = in_offsets;
            offsets_ = 0;
            return true;
        }
        return scalar("an array");
    }
    bool end_array() override {
        if (state_ == in_shape) {
            state_ = in_tensor;
            return true;
        }
        if (state_ == in_offsets) {
            if (offsets_ != 2) return fail(at() + ": data_offsets is not [begin, end]");
            state_ = in_tensor;
            return true;
        }
        return fail("unexpected end of array");
    }
    bool parse_error(std::size_t position, const std::string&, const json::exception&) override {
        // nlohmann's message quotes the bytes it read: only the position is kept.
        return fail("header is not valid JSON (syntax error at byte " + sqllm::detail::to_string(position) +
                    " of the header)");
    }

private:
    enum state_t { start, in_top, in_metadata, in_tensor, in_shape, in_offsets, done };
    enum field_t { dtype_field, shape_field, offsets_field };

    tensor_info& tensor() { return out_.tensors.back(); }
    std::string at() const { return "tensor \"" + printable(out_.tensors.back().name) + "\""; }

    bool fail(std::string what) {
        if (problem_.empty()) problem_ = std::move(what);
        return false;
    }
    /// A value of a kind the format has no place for, where it occurred.
    bool scalar(const char* kind) {
        switch (state_) {
            case start:
            case done:
                return fail("header is not a JSON object");
            case in_top:
                return fail(key_ == "__metadata__" ? std::string("__metadata__ is not an object")
                                                   : "tensor \"" + printable(key_) + "\" is not an object");
            case in_metadata:
                return fail("__metadata__ value of \"" + printable(key_) + "\" is not a string");
            case in_tensor:
                return fail(at() + ": " + field_name() + " is " + kind + ", not " +
                            (field_ == dtype_field ? "a dtype name" : "an array"));
            case in_shape:
            case in_offsets:
                return fail(at() + ": " + field_name() + " holds " + kind + ", not a non-negative integer");
        }
        return fail("unexpected value");
    }
    const char* field_name() const {
        return field_ == dtype_field ? "dtype" : field_ == shape_field ? "shape" : "data_offsets";
    }
    bool number(bool non_negative, std::uint64_t v) {
        if (state_ != in_shape && state_ != in_offsets) return scalar("a number");
        if (!non_negative || v > SIZE_MAX)
            return fail(at() + ": " + field_name() + " holds " +
                        (non_negative ? "a value too large for the size type" : "a negative value") +
                        ", not a non-negative integer");
        if (state_ == in_shape) {
            tensor().shape.push_back(static_cast<std::size_t>(v));
        } else {
            if (offsets_ == 2) return fail(at() + ": data_offsets is not [begin, end]");
            (offsets_ == 0 ? tensor().begin : tensor().end) = static_cast<std::size_t>(v);
            ++offsets_;
        }
        return true;
    }

    safetensors_header& out_;
    std::vector<std::string> names_;
    std::string problem_, key_;
    state_t state_ = start;
    field_t field_ = dtype_field;
    unsigned seen_ = 0;
    int offsets_ = 0;
};

}  // namespace detail

/// Parses and validates a header from the whole file image `file` of
/// `file_size` bytes (only the header is read). `where` names the file in
/// error messages. Checks: the length prefix fits the file and is at most
/// 64 MiB; the JSON is an object without duplicate keys; every entry has a
/// known dtype, a shape of non-negative integers, offsets [begin, end] with
/// end − begin = numel × dtype size; the tensors tile the data section
/// exactly; "__metadata__" is a map of strings. Linear in the header's size
/// but for sorting names and offsets (O(n log n)).
inline safetensors_header parse_safetensors_header(const unsigned char* file, std::size_t file_size,
                                                   const std::string& where) {
    if (file_size < 8)
        detail::corrupt(where,
                        "file is " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | file[i];
    if (n > file_size - 8)
        detail::corrupt(where, "header length " + std::to_string(n) + " runs past the end of the " +
                                   std::to_string(file_size) + "-byte file (truncated?)");
    if (n > detail::max_header_bytes)
        detail::corrupt(where, "header length " + std::to_string(n) + " exceeds the 64 MiB limit");
    if (n < 2 || file[8] != '{') detail::corrupt(where, "header does not start with a JSON object");

    safetensors_header out;
    detail::header_reader reader(out);
    bool ok = false;
    try {
        ok = nlohmann::json::sax_parse(file + 8, file + 8 + n, &reader);
    } catch (const nlohmann::json::exception&) {
        ok = false;  // the reader turned every event into a message; this is a safety net
    }
    if (!ok) detail::corrupt(where, reader.problem().empty() ? "header is not valid JSON" : reader.problem());

    // Duplicate names (nlohmann's tree would keep the last one silently).
    auto& names = reader.names();
    std::sort(names.begin(), names.end());
    const auto dup = std::adjacent_find(names.begin(), names.end());
    if (dup != names.end()) detail::corrupt(where, "header has the key \"" + printable(*dup) + "\" twice");

    out.data_offset = static_cast<std::size_t>(8 + n);
    const std::size_t data_size = file_size - out.data_offset;
    for (const tensor_info& t : out.tensors) {
        const std::string at = "tensor \"" + printable(t.name) + "\"";
        std::size_t numel = 1;
        for (std::size_t d : t.shape)
            if (!mul_fits(numel, d, numel)) detail::corrupt(where, at + ": shape overflows");
        if (t.begin > t.end) detail::corrupt(where, at + ": data_offsets begin > end");
        if (t.end > data_size)
            detail::corrupt(where, at + ": data_offsets end " + std::to_string(t.end) + " is past the " +
                                       std::to_string(data_size) + "-byte data section (truncated?)");
        std::size_t bytes = 0;
        if (!mul_fits(numel, size_of(t.type), bytes) || bytes != t.end - t.begin)
            detail::corrupt(where, at + " is " + t.describe() + " = " + std::to_string(bytes) +
                                       " bytes but its offsets span " + std::to_string(t.end - t.begin));
    }
    std::sort(out.tensors.begin(), out.tensors.end(), [](const tensor_info& a, const tensor_info& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    std::size_t expect = 0;
    for (const tensor_info& t : out.tensors) {
        if (t.begin < expect)
            detail::corrupt(where, "tensor \"" + printable(t.name) + "\" overlaps the tensor before it (offset " +
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
        by_name_.resize(header_.tensors.size());
        for (std::size_t i = 0; i < by_name_.size(); ++i)
            by_name_[i] = i;
        std::sort(by_name_.begin(), by_name_.end(),
                  [this](std::size_t a, std::size_t b) { return header_.tensors[a].name < header_.tensors[b].name; });
    }
    safetensors_file(const safetensors_file&) = delete;
    safetensors_file& operator=(const safetensors_file&) = delete;

    const std::string& path() const noexcept { return path_; }
    const std::map<std::string, std::string>& metadata() const noexcept { return header_.metadata; }
    /// All tensors, sorted by their position in the file.
    const std::vector<tensor_info>& tensors() const noexcept { return header_.tensors; }

    /// The tensor named `name`, or nullptr. O(log n): loaders look up every
    /// tensor of files with 10^5 of them.
    const tensor_info* find(const std::string& name) const noexcept {
        const auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name, [this](std::size_t i, const std::string& n) {
            return header_.tensors[i].name < n;
        });
        return it != by_name_.end() && header_.tensors[*it].name == name ? &header_.tensors[*it] : nullptr;
    }
    /// The tensor named `name`; throws errc::invalid_argument if there is none.
    const tensor_info& at(const std::string& name) const {
        const tensor_info* t = find(name);
        if (!t) sqllm::detail::fail(errc::invalid_argument, path_ + ": no tensor named \"" + printable(name) + "\"");
        return *t;
    }
    /// The tensor's bytes, in place (no alignment guarantee beyond 1).
    span<const unsigned char> bytes(const tensor_info& t) const noexcept {
        return {file_.data() + header_.data_offset + t.begin, t.bytes()};
    }

    /// The tensor's elements in place, as T: no copy. Throws errc::shape_mismatch
    /// if its dtype is not dtype_of<T>, and errc::corrupt_data if its bytes
    /// are not aligned for T in memory (a file written with
    /// safetensors_writer::set_alignment is; a mapping starts on a page, so
    /// the file offset decides, and the check is on the actual address, which
    /// also covers mapped_file::mode::read's buffer). Valid while *this is.
    template <class T>
    span<const T> view(const tensor_info& t) const {
        if (t.type != dtype_of<T>::value)
            sqllm::detail::fail(errc::shape_mismatch, path_ + ": tensor \"" + printable(t.name) + "\" is " + t.describe() +
                                                          ", expected " + to_string(dtype_of<T>::value));
        const unsigned char* p = bytes(t).data();
        const std::size_t misalign = reinterpret_cast<std::uintptr_t>(p) % alignof(T);
        if (misalign != 0)
            sqllm::detail::fail(errc::corrupt_data,
                                path_ + ": tensor \"" + printable(t.name) + "\" starts at file offset " +
                                    std::to_string(header_.data_offset + t.begin) + ", " + std::to_string(misalign) +
                                    " bytes past a multiple of " + std::to_string(alignof(T)) +
                                    ": it cannot be used in place as " + to_string(t.type) +
                                    " (rewrite the file aligned, e.g. with sqllm-convert --layout striped)");
        // The bytes hold T values written little-endian (io/ assumes a little-endian host, as copy_to does).
        return {reinterpret_cast<const T*>(p), t.numel()};
    }

    /// Offset of the data section in the file (8 + the header's length).
    std::size_t data_offset() const noexcept { return header_.data_offset; }

    /// Copies a tensor of dtype dtype_of<T> into `out` (numel elements).
    /// Throws errc::shape_mismatch if the dtype or size differs.
    template <class T>
    void copy_to(const tensor_info& t, span<T> out) const {
        if (t.type != dtype_of<T>::value)
            sqllm::detail::fail(errc::shape_mismatch, path_ + ": tensor \"" + printable(t.name) + "\" is " + t.describe() +
                                                          ", expected " + to_string(dtype_of<T>::value));
        if (out.size() != t.numel())
            sqllm::detail::fail(errc::shape_mismatch, path_ + ": tensor \"" + printable(t.name) + "\" has " +
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
            sqllm::detail::fail(errc::shape_mismatch, path_ + ": tensor \"" + printable(t.name) + "\" has " +
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
                sqllm::detail::fail(errc::shape_mismatch, path_ + ": tensor \"" + printable(t.name) + "\" is " + t.describe() +
                                                              ", not a floating-point type (F32, F16, BF16)");
        }
    }
    std::vector<float> to_float(const tensor_info& t) const {
        std::vector<float> out(t.numel());
        to_float(t, span<float>(out.data(), out.size()));
        return out;
    }
    /// The same, in blocks run on `exec` (core/executor.hpp): converting
    /// and paging in a 4096 × 4096 tensor is ~30 ms on one core, which a
    /// multi-threaded quantizer otherwise waits for. Same result bit for bit.
    template <class Executor>
    void to_float(const tensor_info& t, span<float> out, const Executor& exec) const {
        if (out.size() != t.numel() || (t.type != dtype::f32 && t.type != dtype::f16 && t.type != dtype::bf16))
            return to_float(t, out);  // the serial path reports the error
        constexpr std::size_t block = std::size_t(1) << 18;  // elements per task: 1 MiB of floats
        const std::size_t blocks = (out.size() + block - 1) / block, width = size_of(t.type);
        const unsigned char* p = bytes(t).data();
        exec.bulk(blocks, [&](std::size_t b) {
            const std::size_t first = b * block, n = std::min(block, out.size() - first);
            const span<float> part(out.data() + first, n);
            if (t.type == dtype::f32) std::memcpy(part.data(), p + first * width, n * width);
            else if (t.type == dtype::f16) convert<half>(p + first * width, part);
            else convert<bfloat16>(p + first * width, part);
        });
    }
    template <class Executor>
    std::vector<float> to_float(const tensor_info& t, const Executor& exec) const {
        std::vector<float> out(t.numel());
        to_float(t, span<float>(out.data(), out.size()), exec);
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
    std::vector<std::size_t> by_name_;  // indices of header_.tensors sorted by name, for find()
};

}  // namespace io
SQLLM_NAMESPACE_END
