// sqllm/io/gguf.hpp — reading GGUF, llama.cpp's file format (models and
// importance matrices), validated before anything is used.
//
// Part of sqllm's optional I/O layer; it needs nothing outside the standard
// library (io/mapped_file.hpp holds the bytes).
//
// The format (little-endian, versions 2 and 3; version 1 had 32-bit counts
// and is refused):
//   "GGUF", u32 version, u64 tensor count, u64 metadata count,
//   metadata: { string key, u32 value type, value },
//   tensor infos: { string name, u32 n_dims (≤ 4), u64 ne[n_dims],
//                   u32 ggml type, u64 offset },
//   padding to `general.alignment` (u32, a power of two, default 32),
//   the data section (tensor offsets are relative to its start).
// A string is a u64 length and that many bytes (no terminator). A value is
// one of 13 types (gguf_type); an array is a u32 element type, a u64 count,
// then the elements (arrays of arrays are allowed by the specification; this
// reader skips them, nested at most gguf_max_array_depth deep). Tensor
// dimensions are in ggml order: ne[0] is the contiguous one (a weight
// [rows, cols] has ne = {cols, rows}).
//
// Hardening (docs/HARDENING.md): every count and length is checked against
// the bytes left in the file before anything is allocated or looped over,
// sizes go through core/checked.hpp, every tensor's data must lie inside the
// file at an aligned offset, tensor types must be known (their block sizes
// give the byte counts), duplicate keys and tensor names are refused.
// Parsing is one pass over the header plus sorting the names, so
// O(n log n); each array element costs at least one byte of file, so
// skipping arrays is linear in the file size. Errors are sqllm::error with
// errc::corrupt_data naming the file, the byte offset and the problem;
// names from the file are escaped (never echoed raw).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../core/span.hpp"
#include "../error.hpp"
#include "mapped_file.hpp"

SQLLM_NAMESPACE_BEGIN
namespace io {

/// Types of GGUF metadata values (the format's numbering).
enum class gguf_type : std::uint32_t {
    u8 = 0,
    i8 = 1,
    u16 = 2,
    i16 = 3,
    u32 = 4,
    i32 = 5,
    f32 = 6,
    boolean = 7,
    string = 8,
    array = 9,
    u64 = 10,
    i64 = 11,
    f64 = 12,
};

/// The format's spelling of a metadata type ("u32", "str", ...).
inline const char* to_string(gguf_type t) noexcept {
    switch (t) {
        case gguf_type::u8:
            return "u8";
        case gguf_type::i8:
            return "i8";
        case gguf_type::u16:
            return "u16";
        case gguf_type::i16:
            return "i16";
        case gguf_type::u32:
            return "u32";
        case gguf_type::i32:
            return "i32";
        case gguf_type::f32:
            return "f32";
        case gguf_type::boolean:
            return "bool";
        case gguf_type::string:
            return "str";
        case gguf_type::array:
            return "arr";
        case gguf_type::u64:
            return "u64";
        case gguf_type::i64:
            return "i64";
        case gguf_type::f64:
            return "f64";
    }
    return "?";
}

/// Bytes of a fixed-size metadata value; 0 for strings and arrays.
inline std::size_t size_of(gguf_type t) noexcept {
    switch (t) {
        case gguf_type::u8:
        case gguf_type::i8:
        case gguf_type::boolean:
            return 1;
        case gguf_type::u16:
        case gguf_type::i16:
            return 2;
        case gguf_type::u32:
        case gguf_type::i32:
        case gguf_type::f32:
            return 4;
        case gguf_type::u64:
        case gguf_type::i64:
        case gguf_type::f64:
            return 8;
        case gguf_type::string:
        case gguf_type::array:
            return 0;
    }
    return 0;
}

/// ggml tensor type ids that the reader knows the storage of (ggml's
/// numbering; ids 4 and 5 are retired).
enum class ggml_type : std::uint32_t {
    f32 = 0,
    f16 = 1,
    q4_0 = 2,
    q4_1 = 3,
    q5_0 = 6,
    q5_1 = 7,
    q8_0 = 8,
    q8_1 = 9,
    q2_k = 10,
    q3_k = 11,
    q4_k = 12,
    q5_k = 13,
    q6_k = 14,
    q8_k = 15,
    iq2_xxs = 16,
    iq2_xs = 17,
    iq3_xxs = 18,
    iq1_s = 19,
    iq4_nl = 20,
    iq3_s = 21,
    iq2_s = 22,
    iq4_xs = 23,
    i8 = 24,
    i16 = 25,
    i32 = 26,
    i64 = 27,
    f64 = 28,
    iq1_m = 29,
    bf16 = 30,
};

/// Storage of a ggml type: `block_elems` elements take `block_bytes` bytes.
struct ggml_type_traits {
    const char* name = nullptr;  ///< ggml's name ("F32", "Q4_K", ...)
    std::size_t block_elems = 0;
    std::size_t block_bytes = 0;
};

/// The storage of ggml type `id`; false for ids this reader does not know.
inline bool ggml_type_info(std::uint32_t id, ggml_type_traits& out) noexcept {
    static const ggml_type_traits table[] = {
        {"F32", 1, 4},        {"F16", 1, 2},        {"Q4_0", 32, 18},     {"Q4_1", 32, 20},   {nullptr, 0, 0},
        {nullptr, 0, 0},      {"Q5_0", 32, 22},     {"Q5_1", 32, 24},     {"Q8_0", 32, 34},   {"Q8_1", 32, 36},
        {"Q2_K", 256, 84},    {"Q3_K", 256, 110},   {"Q4_K", 256, 144},   {"Q5_K", 256, 176}, {"Q6_K", 256, 210},
        {"Q8_K", 256, 292},   {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74},  {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
        {"IQ4_NL", 32, 18},   {"IQ3_S", 256, 110},  {"IQ2_S", 256, 82},   {"IQ4_XS", 256, 136}, {"I8", 1, 1},
        {"I16", 1, 2},        {"I32", 1, 4},        {"I64", 1, 8},        {"F64", 1, 8},      {"IQ1_M", 256, 56},
        {"BF16", 1, 2},
    };
    if (id >= sizeof table / sizeof table[0] || table[id].name == nullptr) return false;
    out = table[id];
    return true;
}

/// Deepest nesting of arrays the reader skips (ggml itself refuses any).
constexpr int gguf_max_array_depth = 8;

/// One metadata entry. Scalars are kept, strings and arrays of strings are
/// kept as text, arrays of numbers are kept as their place in the file
/// (read them with gguf_file::array_bytes), arrays of arrays only as counted.
struct gguf_kv {
    std::string key;
    gguf_type type = gguf_type::u8;     ///< the value's type; gguf_type::array for arrays
    gguf_type element = gguf_type::u8;  ///< arrays: the elements' type
    std::uint64_t count = 1;            ///< arrays: how many elements; 1 otherwise
    std::uint64_t bits = 0;             ///< fixed-size scalars: the little-endian bits, zero-extended
    std::string text;                   ///< strings
    std::vector<std::string> strings;   ///< arrays of strings
    std::size_t offset = 0;             ///< arrays of fixed-size elements: file offset of the first

    bool is_array() const noexcept { return type == gguf_type::array; }

    /// An unsigned value of any integer type (or bool); false for other
    /// types and negative values.
    bool to_uint(std::uint64_t& out) const noexcept {
        switch (type) {
            case gguf_type::u8:
            case gguf_type::u16:
            case gguf_type::u32:
            case gguf_type::u64:
            case gguf_type::boolean:
                out = bits;
                return true;
            case gguf_type::i8:
            case gguf_type::i16:
            case gguf_type::i32:
            case gguf_type::i64: {
                std::int64_t v = 0;
                if (!to_int(v) || v < 0) return false;
                out = static_cast<std::uint64_t>(v);
                return true;
            }
            default:
                return false;
        }
    }

    /// A signed value of any integer type; false for other types and u64 past INT64_MAX.
    bool to_int(std::int64_t& out) const noexcept {
        switch (type) {
            case gguf_type::i8:
                out = static_cast<std::int8_t>(bits);
                return true;
            case gguf_type::i16:
                out = static_cast<std::int16_t>(bits);
                return true;
            case gguf_type::i32:
                out = static_cast<std::int32_t>(bits);
                return true;
            case gguf_type::i64:
                out = static_cast<std::int64_t>(bits);
                return true;
            case gguf_type::u8:
            case gguf_type::u16:
            case gguf_type::u32:
            case gguf_type::u64:
            case gguf_type::boolean:
                if (bits > static_cast<std::uint64_t>(INT64_MAX)) return false;
                out = static_cast<std::int64_t>(bits);
                return true;
            default:
                return false;
        }
    }

    /// A value of type f32 or f64; false for other types.
    bool to_double(double& out) const noexcept {
        if (type == gguf_type::f32) {
            float f;
            const auto b = static_cast<std::uint32_t>(bits);
            std::memcpy(&f, &b, sizeof f);
            out = f;
            return true;
        }
        if (type == gguf_type::f64) {
            std::memcpy(&out, &bits, sizeof out);
            return true;
        }
        return false;
    }
};

/// One tensor's entry in the header.
struct gguf_tensor {
    std::string name;
    std::vector<std::size_t> ne;  ///< dimensions in ggml order (ne[0] contiguous)
    std::uint32_t type = 0;       ///< ggml type id (ggml_type); known to ggml_type_info
    std::size_t offset = 0;       ///< from the start of the data section
    std::size_t numel = 0;        ///< elements
    std::size_t nbytes = 0;       ///< bytes of data

    /// Dimensions outermost first, as safetensors and sqllm write them ([rows, cols]).
    std::vector<std::size_t> shape() const { return std::vector<std::size_t>(ne.rbegin(), ne.rend()); }
    /// "F32[4, 64]" (shape outermost first).
    std::string describe() const {
        ggml_type_traits t;
        std::string s = ggml_type_info(type, t) ? t.name : "type " + sqllm::detail::to_string(type);
        s += '[';
        for (std::size_t i = ne.size(); i-- > 0;) {
            s += sqllm::detail::to_string(ne[i]);
            if (i) s += ", ";
        }
        return s + ']';
    }
};

/// The parsed, validated header of a GGUF file.
struct gguf_header {
    std::uint32_t version = 0;
    std::size_t alignment = 32;        ///< general.alignment, or 32
    std::size_t data_offset = 0;       ///< where the data section starts in the file
    std::vector<gguf_kv> metadata;     ///< in file order
    std::vector<gguf_tensor> tensors;  ///< in file order
};

namespace detail {

/// A name from a file, safe for a message: control characters, quotes and
/// backslashes escaped (\xNN), cut to 200 bytes.
inline std::string gguf_printable(const std::string& name) {
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
            out += static_cast<char>(c);
        }
    }
    if (keep < name.size()) out += "...";
    return out;
}

/// A cursor over the file's bytes: every read is checked against the end.
class gguf_cursor {
public:
    gguf_cursor(const unsigned char* p, std::size_t n, const std::string& where) : p_(p), n_(n), where_(where) {}

    [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
    [[noreturn]] void fail_at(std::size_t pos, const std::string& what) const {
        sqllm::detail::fail(errc::corrupt_data, where_ + ": " + what + " (at byte " + sqllm::detail::to_string(pos) + ")");
    }

    std::size_t pos() const noexcept { return pos_; }
    std::size_t left() const noexcept { return n_ - pos_; }
    const unsigned char* here() const noexcept { return p_ + pos_; }

    void need(std::size_t bytes, const char* what) const {
        if (bytes > left())
            fail(std::string("truncated: ") + what + " needs " + sqllm::detail::to_string(bytes) + " bytes, " +
                 sqllm::detail::to_string(left()) + " left");
    }
    void skip(std::size_t bytes, const char* what) {
        need(bytes, what);
        pos_ += bytes;
    }
    std::uint64_t uint(std::size_t bytes, const char* what) {
        need(bytes, what);
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < bytes; ++i)
            v |= std::uint64_t(p_[pos_ + i]) << (8 * i);
        pos_ += bytes;
        return v;
    }
    std::uint32_t u32(const char* what) { return static_cast<std::uint32_t>(uint(4, what)); }
    std::uint64_t u64(const char* what) { return uint(8, what); }
    /// A length-prefixed string; the length is checked against the bytes left first.
    std::string str(const char* what) {
        const std::uint64_t len = u64(what);
        if (len > left())
            fail(std::string("truncated: ") + what + " has length " + sqllm::detail::to_string(len) + ", " +
                 sqllm::detail::to_string(left()) + " bytes left");
        std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<std::size_t>(len));
        pos_ += static_cast<std::size_t>(len);
        return s;
    }
    /// Skips a length-prefixed string.
    void skip_str(const char* what) {
        const std::uint64_t len = u64(what);
        if (len > left())
            fail(std::string("truncated: ") + what + " has length " + sqllm::detail::to_string(len) + ", " +
                 sqllm::detail::to_string(left()) + " bytes left");
        pos_ += static_cast<std::size_t>(len);
    }

private:
    const unsigned char* p_;
    std::size_t n_;
    std::size_t pos_ = 0;
    const std::string& where_;
};

inline bool gguf_known_type(std::uint32_t t) noexcept { return t <= static_cast<std::uint32_t>(gguf_type::f64); }

/// Fewest bytes one element of type `t` takes in the file.
inline std::size_t gguf_min_bytes(gguf_type t) noexcept {
    if (t == gguf_type::string) return 8;   // the length
    if (t == gguf_type::array) return 12;   // element type + count
    return size_of(t);
}

/// Reads an array's element type and count after its tag; checks the count
/// against the bytes left (each element takes at least gguf_min_bytes).
inline void gguf_array_head(gguf_cursor& c, const std::string& key, gguf_type& element, std::uint64_t& count) {
    const std::size_t at = c.pos();
    const std::uint32_t et = c.u32("array element type");
    if (!gguf_known_type(et))
        c.fail_at(at, "key \"" + gguf_printable(key) + "\": array of unknown type " + sqllm::detail::to_string(et));
    element = static_cast<gguf_type>(et);
    count = c.u64("array length");
    if (count > c.left() / gguf_min_bytes(element))
        c.fail("truncated: key \"" + gguf_printable(key) + "\" holds an array of " + sqllm::detail::to_string(count) +
               " " + to_string(element) + " values, " + sqllm::detail::to_string(c.left()) + " bytes left");
}

/// Skips `count` elements of type `element`; nested arrays count against `depth`.
inline void gguf_skip_elements(gguf_cursor& c, const std::string& key, gguf_type element, std::uint64_t count, int depth) {
    if (element == gguf_type::string) {
        for (std::uint64_t i = 0; i < count; ++i)
            c.skip_str("array string");
    } else if (element == gguf_type::array) {
        if (depth >= gguf_max_array_depth)
            c.fail("key \"" + gguf_printable(key) + "\": arrays nested deeper than " +
                   sqllm::detail::to_string(gguf_max_array_depth));
        for (std::uint64_t i = 0; i < count; ++i) {
            gguf_type e;
            std::uint64_t n = 0;
            gguf_array_head(c, key, e, n);
            gguf_skip_elements(c, key, e, n, depth + 1);
        }
    } else {
        // count · size was bounded by the bytes left in gguf_array_head
        c.skip(static_cast<std::size_t>(count) * size_of(element), "array");
    }
}

/// Reads one value of type `t` (after its tag) into `kv`.
inline void gguf_read_value(gguf_cursor& c, gguf_kv& kv) {
    if (kv.type == gguf_type::string) {
        kv.text = c.str("string value");
    } else if (kv.type == gguf_type::array) {
        gguf_array_head(c, kv.key, kv.element, kv.count);
        if (kv.element == gguf_type::string) {
            kv.strings.reserve(static_cast<std::size_t>(kv.count));  // ≤ bytes left / 8
            for (std::uint64_t i = 0; i < kv.count; ++i)
                kv.strings.push_back(c.str("array string"));
        } else {
            kv.offset = c.pos();
            gguf_skip_elements(c, kv.key, kv.element, kv.count, 1);
        }
    } else {
        kv.bits = c.uint(size_of(kv.type), "value");
    }
}

}  // namespace detail

/// Parses and validates the header of the GGUF image `file` of `size`
/// bytes; `where` names it in messages. Checks everything listed at the top
/// of this header; throws sqllm::error (errc::corrupt_data).
inline gguf_header parse_gguf_header(const unsigned char* file, std::size_t size, const std::string& where) {
    using sqllm::detail::to_string;
    detail::gguf_cursor c(file, size, where);
    gguf_header h;
    c.need(4, "magic");
    if (std::memcmp(file, "GGUF", 4) != 0) c.fail("not a GGUF file (no \"GGUF\" magic)");
    c.skip(4, "magic");
    h.version = c.u32("version");
    if (h.version != 0 && (h.version & 0xFFFFu) == 0)
        c.fail("GGUF version " + to_string(h.version) + ": a big-endian file? (only little-endian is read)");
    if (h.version < 2 || h.version > 3)
        c.fail("GGUF version " + to_string(h.version) + " is not supported (only 2 and 3)");
    const std::uint64_t n_tensors = c.u64("tensor count");
    const std::uint64_t n_kv = c.u64("metadata count");
    // A key-value pair takes ≥ 13 bytes (length, one key byte, type, one value byte);
    // a tensor info ≥ 24 (name length, n_dims, type, offset).
    if (n_kv > c.left() / 13)
        c.fail("truncated: " + to_string(n_kv) + " metadata entries cannot fit the " + to_string(c.left()) +
               " bytes left");
    if (n_tensors > c.left() / 24)
        c.fail("truncated: " + to_string(n_tensors) + " tensor infos cannot fit the " + to_string(c.left()) +
               " bytes left");

    h.metadata.reserve(static_cast<std::size_t>(n_kv));
    for (std::uint64_t i = 0; i < n_kv; ++i) {
        gguf_kv kv;
        const std::size_t at = c.pos();
        kv.key = c.str("metadata key");
        if (kv.key.empty()) c.fail_at(at, "metadata key " + to_string(i) + " is empty");
        const std::size_t type_at = c.pos();
        const std::uint32_t t = c.u32("value type");
        if (!detail::gguf_known_type(t))
            c.fail_at(type_at, "key \"" + detail::gguf_printable(kv.key) + "\" has unknown value type " + to_string(t));
        kv.type = static_cast<gguf_type>(t);
        detail::gguf_read_value(c, kv);
        h.metadata.push_back(std::move(kv));
    }
    {
        std::vector<const std::string*> keys;
        keys.reserve(h.metadata.size());
        for (const auto& kv : h.metadata)
            keys.push_back(&kv.key);
        std::sort(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
        for (std::size_t i = 1; i < keys.size(); ++i)
            if (*keys[i] == *keys[i - 1])
                sqllm::detail::fail(errc::corrupt_data,
                                    where + ": metadata key \"" + detail::gguf_printable(*keys[i]) + "\" appears twice");
    }
    for (const auto& kv : h.metadata) {
        if (kv.key != "general.alignment") continue;
        if (kv.type != gguf_type::u32)
            sqllm::detail::fail(errc::corrupt_data, where + ": general.alignment is " + to_string(kv.type) + ", not u32");
        if (kv.bits == 0 || (kv.bits & (kv.bits - 1)) != 0)
            sqllm::detail::fail(errc::corrupt_data,
                                where + ": general.alignment " + to_string(kv.bits) + " is not a power of two");
        h.alignment = static_cast<std::size_t>(kv.bits);
    }

    h.tensors.reserve(static_cast<std::size_t>(n_tensors));
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
        gguf_tensor t;
        const std::size_t at = c.pos();
        t.name = c.str("tensor name");
        const std::string named = "tensor \"" + detail::gguf_printable(t.name) + "\"";
        const std::uint32_t n_dims = c.u32("tensor dimension count");
        if (n_dims > 4) c.fail_at(at, named + " has " + to_string(n_dims) + " dimensions (at most 4)");
        t.numel = 1;
        for (std::uint32_t d = 0; d < n_dims; ++d) {
            const std::uint64_t v = c.u64("tensor dimension");
            if (v > static_cast<std::uint64_t>(INT64_MAX)) c.fail_at(at, named + " has a negative dimension");
            t.ne.push_back(static_cast<std::size_t>(v));
            if (!mul_fits(t.numel, t.ne.back(), t.numel)) c.fail_at(at, named + ": element count overflows");
        }
        const std::uint32_t type = c.u32("tensor type");
        ggml_type_traits tr;
        if (!ggml_type_info(type, tr)) c.fail_at(at, named + " has unknown or unsupported ggml type " + to_string(type));
        t.type = type;
        if (!t.ne.empty() && t.ne[0] % tr.block_elems != 0)
            c.fail_at(at, named + " (" + tr.name + ") has " + to_string(t.ne[0]) + " elements a row, not a multiple of " +
                              to_string(tr.block_elems));
        if (t.ne.empty() && tr.block_elems != 1)
            c.fail_at(at, named + " is a scalar of block type " + tr.name);
        if (!mul_fits(t.numel / tr.block_elems, tr.block_bytes, t.nbytes))
            c.fail_at(at, named + ": byte count overflows");
        const std::uint64_t off = c.u64("tensor offset");
        if (off % h.alignment != 0)
            c.fail_at(at, named + " has offset " + to_string(off) + ", not a multiple of the alignment " +
                              to_string(h.alignment));
        if (off > static_cast<std::uint64_t>(size)) c.fail_at(at, named + " has offset " + to_string(off) + " past the file's end");
        t.offset = static_cast<std::size_t>(off);
        h.tensors.push_back(std::move(t));
    }
    {
        std::vector<const std::string*> names;
        names.reserve(h.tensors.size());
        for (const auto& t : h.tensors)
            names.push_back(&t.name);
        std::sort(names.begin(), names.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
        for (std::size_t i = 1; i < names.size(); ++i)
            if (*names[i] == *names[i - 1])
                sqllm::detail::fail(errc::corrupt_data,
                                    where + ": tensor \"" + detail::gguf_printable(*names[i]) + "\" appears twice");
    }

    // The data section starts at the next multiple of the alignment.
    std::size_t data = c.pos();
    if (!h.tensors.empty()) {
        std::size_t padded = 0;
        if (!add_fits(data, h.alignment - 1, padded) || (padded & ~(h.alignment - 1)) > size)
            sqllm::detail::fail(errc::corrupt_data, where + ": truncated: the data section would start past the file's end");
        data = padded & ~(h.alignment - 1);
    }
    h.data_offset = data;
    for (const auto& t : h.tensors) {
        std::size_t end = 0;
        if (!add_fits(data, t.offset, end) || !add_fits(end, t.nbytes, end) || end > size)
            sqllm::detail::fail(errc::corrupt_data, where + ": tensor \"" + detail::gguf_printable(t.name) + "\" (" +
                                                        to_string(t.nbytes) + " bytes at data offset " +
                                                        to_string(t.offset) + ") lies past the file's end (" +
                                                        to_string(size) + " bytes; truncated?)");
    }
    return h;
}

/// A GGUF file, memory-mapped (or read into memory: mapped_file::mode::read)
/// and validated on open; tensor data is read in place.
class gguf_file {
public:
    /// Opens and validates `path`; throws sqllm::error (errc::io_error for
    /// the file system, errc::corrupt_data for the bytes).
    explicit gguf_file(const std::string& path, mapped_file::mode m = mapped_file::mode::map)
        : file_(path, m), header_(parse_gguf_header(file_.data(), file_.size(), path)) {
        by_name_.reserve(header_.tensors.size());
        for (std::size_t i = 0; i < header_.tensors.size(); ++i)
            by_name_.push_back(i);
        std::sort(by_name_.begin(), by_name_.end(),
                  [this](std::size_t a, std::size_t b) { return header_.tensors[a].name < header_.tensors[b].name; });
        keys_.reserve(header_.metadata.size());
        for (std::size_t i = 0; i < header_.metadata.size(); ++i)
            keys_.push_back(i);
        std::sort(keys_.begin(), keys_.end(),
                  [this](std::size_t a, std::size_t b) { return header_.metadata[a].key < header_.metadata[b].key; });
    }

    const std::string& path() const noexcept { return file_.path(); }
    const gguf_header& header() const noexcept { return header_; }
    std::uint32_t version() const noexcept { return header_.version; }
    /// Metadata in file order.
    const std::vector<gguf_kv>& metadata() const noexcept { return header_.metadata; }
    /// Tensors in file order.
    const std::vector<gguf_tensor>& tensors() const noexcept { return header_.tensors; }

    /// The metadata entry `key`, or nullptr. O(log n).
    const gguf_kv* find_key(const std::string& key) const noexcept {
        const auto it = std::lower_bound(keys_.begin(), keys_.end(), key,
                                         [this](std::size_t i, const std::string& k) { return header_.metadata[i].key < k; });
        return it != keys_.end() && header_.metadata[*it].key == key ? &header_.metadata[*it] : nullptr;
    }
    /// The tensor `name`, or nullptr. O(log n).
    const gguf_tensor* find(const std::string& name) const noexcept {
        const auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                                         [this](std::size_t i, const std::string& n) { return header_.tensors[i].name < n; });
        return it != by_name_.end() && header_.tensors[*it].name == name ? &header_.tensors[*it] : nullptr;
    }

    /// The tensor's bytes, in place (inside the file: checked on open).
    span<const unsigned char> bytes(const gguf_tensor& t) const noexcept {
        return {file_.data() + header_.data_offset + t.offset, t.nbytes};
    }
    /// The elements of an array of fixed-size values, in place (little-endian).
    span<const unsigned char> array_bytes(const gguf_kv& kv) const noexcept {
        if (!kv.is_array() || size_of(kv.element) == 0) return {};
        return {file_.data() + kv.offset, static_cast<std::size_t>(kv.count) * size_of(kv.element)};
    }

    /// An F32 tensor's values (numel floats). Other types throw
    /// errc::shape_mismatch naming the tensor: sqllm converts no ggml types.
    std::vector<float> read_f32(const gguf_tensor& t) const {
        if (t.type != static_cast<std::uint32_t>(ggml_type::f32))
            sqllm::detail::fail(errc::shape_mismatch, path() + ": tensor \"" + detail::gguf_printable(t.name) + "\" is " +
                                                          t.describe() + ", not F32 (other ggml types are not read)");
        std::vector<float> out(t.numel);
        const unsigned char* p = bytes(t).data();
        for (std::size_t i = 0; i < t.numel; ++i) {
            std::uint32_t b = 0;
            for (int k = 0; k < 4; ++k)
                b |= std::uint32_t(p[4 * i + static_cast<std::size_t>(k)]) << (8 * k);
            std::memcpy(&out[i], &b, sizeof b);
        }
        return out;
    }

private:
    mapped_file file_;
    gguf_header header_;
    std::vector<std::size_t> by_name_, keys_;
};

}  // namespace io
SQLLM_NAMESPACE_END
