// sqllm/io/imatrix.hpp — llama.cpp importance matrices ("imatrix" files):
// each linear weight's mean squared input activation per input column,
// E[x_j²], the per-column sensitivity sqllm's quantizer accepts ([cols]).
//
// Part of sqllm's optional I/O layer; standard library only.
//
// Two formats, told apart by the magic:
// - GGUF (llama-imatrix's default since mid 2025; io/gguf.hpp): metadata
//   general.type = "imatrix", imatrix.datasets (array of strings),
//   imatrix.chunk_count and imatrix.chunk_size (u32); per weight W two F32
//   tensors "W.in_sum2" [n_mat][cols] (sums of x_j² over the tokens seen) and
//   "W.counts" [n_mat][1] (how many tokens), n_mat = 1 for a 2-D weight and
//   the experts of a 3-D MoE weight. "W.in_sum" (sums of x_j) may be present
//   and is ignored, as are tensors of other names.
//   Mean squared activation = in_sum2 / counts.
// - legacy .dat (no magic): i32 entry count, then per entry i32 name
//   length, the name, i32 ncall, i32 nval, nval F32 values; then optionally
//   i32 last chunk and (i32 length, bytes) the dataset's name. llama.cpp
//   stores each value as (sum x_j² / tokens) · ncall, so the mean squared
//   activation is value / ncall. Experts' values are concatenated with no
//   shape, so a legacy entry reads as one matrix of nval columns.
// Both are read as (sums, count) pairs: a legacy entry's count is its ncall.
//
// Entries are named the llama.cpp way ("blk.3.attn_q.weight");
// imatrix::find also takes the weight's Hugging Face or llama2.c name (see
// gguf_weight_name). llama.cpp's converter permutes the rows of q and k, but
// an importance matrix is per input column, so its columns match the
// original weight's as they are.
//
// Checks: the file's structure on open (truncation, counts against the file
// size, F32 data, shapes, pairs of in_sum2/counts, duplicates: corrupt_data);
// values when an entry is read (mean_squares): NaN or Inf (non_finite),
// negative sums or counts (negative_value), a count of 0 — llama.cpp keeps
// experts no calibration token reached — is errc::invalid_argument naming
// the entry, since it has no data.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../error.hpp"
#include "gguf.hpp"
#include "mapped_file.hpp"

SQLLM_NAMESPACE_BEGIN
namespace io {

/// The llama.cpp (GGUF) name of a weight named the Hugging Face way
/// ("model.layers.3.self_attn.q_proj.weight", "lm_head.weight",
/// "model.embed_tokens.weight"), the llama2.c/Meta way
/// ("layers.3.attention.wq.weight", "layers.3.feed_forward.w1.weight",
/// "tok_embeddings.weight") or this repository's llama2.c way ("layers.3.wq",
/// "output", "tok_embeddings"): "blk.3.attn_q.weight" and so on, with w1 =
/// ffn_gate, w2 = ffn_down, w3 = ffn_up. Empty if the name is none of these.
inline std::string gguf_weight_name(const std::string& name) {
    static const char* const whole[][2] = {
        {"lm_head.weight", "output.weight"},          {"output", "output.weight"},
        {"model.embed_tokens.weight", "token_embd.weight"}, {"tok_embeddings", "token_embd.weight"},
        {"tok_embeddings.weight", "token_embd.weight"},
    };
    for (const auto& w : whole)
        if (name == w[0]) return w[1];
    // "<prefix><layer>.<kind>": the layer a decimal number without leading zeros.
    static const char* const prefixes[] = {"model.layers.", "layers."};
    static const char* const kinds[][2] = {
        {"self_attn.q_proj.weight", "attn_q"},  {"self_attn.k_proj.weight", "attn_k"},
        {"self_attn.v_proj.weight", "attn_v"},  {"self_attn.o_proj.weight", "attn_output"},
        {"mlp.gate_proj.weight", "ffn_gate"},   {"mlp.up_proj.weight", "ffn_up"},
        {"mlp.down_proj.weight", "ffn_down"},   {"attention.wq.weight", "attn_q"},
        {"attention.wk.weight", "attn_k"},      {"attention.wv.weight", "attn_v"},
        {"attention.wo.weight", "attn_output"}, {"feed_forward.w1.weight", "ffn_gate"},
        {"feed_forward.w2.weight", "ffn_down"}, {"feed_forward.w3.weight", "ffn_up"},
        {"wq", "attn_q"},                       {"wk", "attn_k"},
        {"wv", "attn_v"},                       {"wo", "attn_output"},
        {"w1", "ffn_gate"},                     {"w2", "ffn_down"},
        {"w3", "ffn_up"},
    };
    for (const char* prefix : prefixes) {
        const std::size_t plen = std::strlen(prefix);
        if (name.compare(0, plen, prefix) != 0) continue;
        std::size_t i = plen;
        while (i < name.size() && name[i] >= '0' && name[i] <= '9')
            ++i;
        const std::size_t digits = i - plen;
        if (digits == 0 || digits > 9 || (digits > 1 && name[plen] == '0') || i >= name.size() || name[i] != '.')
            return {};
        const std::string layer = name.substr(plen, digits), kind = name.substr(i + 1);
        // "model.layers." names are Hugging Face's only; bare "layers." the llama2.c ones.
        const bool hf = plen == std::strlen("model.layers.");
        for (const auto& k : kinds) {
            const bool hf_kind = std::strncmp(k[0], "self_attn.", 10) == 0 || std::strncmp(k[0], "mlp.", 4) == 0;
            if (hf == hf_kind && kind == k[0]) return "blk." + layer + "." + k[1] + ".weight";
        }
        return {};
    }
    return {};
}

/// One entry of an importance matrix (where its numbers lie in the file).
struct imatrix_entry {
    std::string name;              ///< llama.cpp's name of the weight ("blk.0.attn_q.weight")
    std::size_t cols = 0;          ///< input columns of the weight
    std::size_t matrices = 1;      ///< 1, or the experts of a 3-D MoE weight
    std::size_t sums_at = 0;       ///< file offset of matrices × cols little-endian F32 sums
    std::size_t counts_at = 0;     ///< GGUF: file offset of `matrices` F32 counts
    std::int32_t legacy_ncall = 0; ///< legacy format: the count (ncall) of every matrix
};

/// Metadata of an importance matrix.
struct imatrix_info {
    std::vector<std::string> datasets;  ///< calibration data the sums came from (file names)
    std::uint32_t chunk_count = 0;      ///< chunks of text processed; 0 if unknown
    std::uint32_t chunk_size = 0;       ///< tokens a chunk; 0 if unknown (the legacy format has none)
};

/// A llama.cpp importance matrix (GGUF or legacy .dat), validated on open.
/// Entries' values are read and checked on demand (mean_squares).
class imatrix {
public:
    enum class format { gguf, legacy };

    /// Opens and validates `path`; throws sqllm::error (io_error: the file
    /// system; corrupt_data: a malformed file; invalid_argument: a GGUF file
    /// that is not an importance matrix, e.g. a model).
    explicit imatrix(const std::string& path, mapped_file::mode m = mapped_file::mode::map) : file_(path, m) {
        if (file_.size() == 0) fail(errc::corrupt_data, "file is empty");
        if (file_.size() >= 4 && std::memcmp(file_.data(), "GGUF", 4) == 0) {
            format_ = format::gguf;
            open_gguf();
        } else {
            format_ = format::legacy;
            open_legacy();
        }
        std::sort(entries_.begin(), entries_.end(),
                  [](const imatrix_entry& a, const imatrix_entry& b) { return a.name < b.name; });
        for (std::size_t i = 1; i < entries_.size(); ++i)
            if (entries_[i].name == entries_[i - 1].name)
                fail(errc::corrupt_data, "entry \"" + detail::gguf_printable(entries_[i].name) + "\" appears twice");
    }

    const std::string& path() const noexcept { return file_.path(); }
    format file_format() const noexcept { return format_; }
    const imatrix_info& info() const noexcept { return info_; }
    /// All entries, sorted by name.
    const std::vector<imatrix_entry>& entries() const noexcept { return entries_; }

    /// The entry named exactly `name`, or nullptr. O(log n).
    const imatrix_entry* find_exact(const std::string& name) const noexcept {
        const auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                                         [](const imatrix_entry& e, const std::string& n) { return e.name < n; });
        return it != entries_.end() && it->name == name ? &*it : nullptr;
    }
    /// The entry for the weight `weight_name`: the entry of that exact name,
    /// else the one of its llama.cpp name (gguf_weight_name), else nullptr.
    const imatrix_entry* find(const std::string& weight_name) const {
        if (const imatrix_entry* e = find_exact(weight_name)) return e;
        const std::string g = gguf_weight_name(weight_name);
        return g.empty() ? nullptr : find_exact(g);
    }

    /// Mean squared input activation of each column of matrix `matrix` of
    /// `e` (an entry of this file): sums / count, cols values. Throws
    /// sqllm::error naming the entry: non_finite (NaN/Inf in the file, or a
    /// quotient past FLT_MAX), negative_value, invalid_argument for a count of
    /// 0 (no data) or a matrix index past the entry's.
    std::vector<float> mean_squares(const imatrix_entry& e, std::size_t matrix = 0) const {
        const std::string where = "entry \"" + detail::gguf_printable(e.name) + "\"";
        if (matrix >= e.matrices)
            fail(errc::invalid_argument, where + " has " + sqllm::detail::to_string(e.matrices) + " matrices; asked for matrix " +
                                             sqllm::detail::to_string(matrix));
        const float count = format_ == format::gguf ? f32_at(e.counts_at + 4 * matrix) : static_cast<float>(e.legacy_ncall);
        const std::string mwhere = e.matrices > 1 ? where + " (expert " + sqllm::detail::to_string(matrix) + ")" : where;
        if (!std::isfinite(count)) fail(errc::non_finite, mwhere + " has a non-finite count");
        if (count < 0) fail(errc::negative_value, mwhere + " has a negative count");
        if (count == 0)
            fail(errc::invalid_argument, mwhere + " has no data (count 0: no calibration token reached this weight)");
        std::vector<float> out(e.cols);
        const std::size_t base = e.sums_at + 4 * matrix * e.cols;
        for (std::size_t j = 0; j < e.cols; ++j) {
            const float s = f32_at(base + 4 * j);
            if (!std::isfinite(s)) fail(errc::non_finite, mwhere + " column " + sqllm::detail::to_string(j) + " is NaN or Inf");
            if (s < 0) fail(errc::negative_value, mwhere + " column " + sqllm::detail::to_string(j) + " is negative");
            out[j] = s / count;
            if (!std::isfinite(out[j]))
                fail(errc::non_finite, mwhere + " column " + sqllm::detail::to_string(j) + ": sum / count overflows");
        }
        return out;
    }

private:
    [[noreturn]] void fail(errc code, const std::string& what) const { sqllm::detail::fail(code, path() + ": " + what); }

    float f32_at(std::size_t at) const noexcept {
        const unsigned char* p = file_.data() + at;
        const std::uint32_t b = std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
                                std::uint32_t(p[3]) << 24;
        float f;
        std::memcpy(&f, &b, sizeof f);
        return f;
    }

    static bool strip_suffix(const std::string& s, const char* suffix, std::string& base) {
        const std::size_t n = std::strlen(suffix);
        if (s.size() <= n || s.compare(s.size() - n, n, suffix) != 0) return false;
        base = s.substr(0, s.size() - n);
        return true;
    }

    /// Dimensions ne (ggml order) read as [cols, n_mat, 1, 1].
    static bool as_matrix(const std::vector<std::size_t>& ne, std::size_t& cols, std::size_t& mats) {
        cols = ne.empty() ? 1 : ne[0];
        mats = ne.size() < 2 ? 1 : ne[1];
        for (std::size_t i = 2; i < ne.size(); ++i)
            if (ne[i] != 1) return false;
        return true;
    }

    void open_gguf() {
        const gguf_header h = parse_gguf_header(file_.data(), file_.size(), path());
        const gguf_kv* type = nullptr;
        for (const auto& kv : h.metadata) {
            if (kv.key == "general.type") {
                type = &kv;
                if (kv.type != gguf_type::string)
                    fail(errc::corrupt_data, std::string("general.type is ") + to_string(kv.type) + ", not a string");
            } else if (kv.key == "imatrix.chunk_count" || kv.key == "imatrix.chunk_size") {
                std::uint64_t v = 0;
                if (!kv.to_uint(v) || v > UINT32_MAX)
                    fail(errc::corrupt_data, kv.key + " is not an unsigned 32-bit integer");
                (kv.key == "imatrix.chunk_count" ? info_.chunk_count : info_.chunk_size) = static_cast<std::uint32_t>(v);
            } else if (kv.key == "imatrix.datasets") {
                if (!kv.is_array() || kv.element != gguf_type::string)
                    fail(errc::corrupt_data, "imatrix.datasets is not an array of strings");
                info_.datasets = kv.strings;
            }
        }
        if (type && type->text != "imatrix")
            fail(errc::invalid_argument, "a GGUF file of general.type \"" + detail::gguf_printable(type->text) +
                                             "\", not an importance matrix (\"imatrix\")");
        // Pair "W.in_sum2" with "W.counts" (both lists sorted by W).
        std::vector<std::pair<std::string, const gguf_tensor*>> sums, counts;
        for (const auto& t : h.tensors) {
            std::string base;
            if (strip_suffix(t.name, ".in_sum2", base)) sums.emplace_back(std::move(base), &t);
            else if (strip_suffix(t.name, ".counts", base)) counts.emplace_back(std::move(base), &t);
        }
        if (sums.empty())
            fail(type ? errc::corrupt_data : errc::invalid_argument,
                 "no importance-matrix entries (no \"<weight>.in_sum2\" tensors)" +
                     std::string(type ? "" : ": a GGUF model rather than an imatrix?"));
        const auto by_name = [](const std::pair<std::string, const gguf_tensor*>& a,
                                const std::pair<std::string, const gguf_tensor*>& b) { return a.first < b.first; };
        std::sort(sums.begin(), sums.end(), by_name);
        std::sort(counts.begin(), counts.end(), by_name);
        std::size_t k = 0;
        const auto f32 = static_cast<std::uint32_t>(ggml_type::f32);
        for (const auto& s : sums) {
            if (k < counts.size() && counts[k].first < s.first)
                fail(errc::corrupt_data, "tensor \"" + detail::gguf_printable(counts[k].second->name) +
                                             "\" has no matching .in_sum2 tensor");
            const std::string where = "entry \"" + detail::gguf_printable(s.first) + "\"";
            if (k == counts.size() || counts[k].first != s.first) fail(errc::corrupt_data, where + " has no .counts tensor");
            const gguf_tensor& ts = *s.second;
            const gguf_tensor& tc = *counts[k++].second;
            if (ts.type != f32 || tc.type != f32)
                fail(errc::corrupt_data, where + ": in_sum2 is " + ts.describe() + " and counts " + tc.describe() +
                                             " (both must be F32)");
            imatrix_entry e;
            e.name = s.first;
            std::size_t ccols = 0, cmats = 0;
            if (!as_matrix(ts.ne, e.cols, e.matrices) || !as_matrix(tc.ne, ccols, cmats) || ccols != 1 ||
                cmats != e.matrices || e.cols == 0 || e.matrices == 0)
                fail(errc::corrupt_data, where + ": in_sum2 " + ts.describe() + " and counts " + tc.describe() +
                                             " are not [n_mat, cols] and [n_mat, 1]");
            e.sums_at = h.data_offset + ts.offset;
            e.counts_at = h.data_offset + tc.offset;
            entries_.push_back(std::move(e));
        }
        if (k < counts.size())
            fail(errc::corrupt_data, "tensor \"" + detail::gguf_printable(counts[k].second->name) +
                                         "\" has no matching .in_sum2 tensor");
    }

    void open_legacy() {
        const std::string& where = path();
        detail::gguf_cursor c(file_.data(), file_.size(), where);
        const auto i32 = [&c](const char* what) { return static_cast<std::int32_t>(c.u32(what)); };
        const std::int32_t n = i32("entry count");
        if (n < 1)
            c.fail_at(0, "not an importance matrix: neither GGUF nor a legacy .dat with entries (entry count " +
                             sqllm::detail::to_string(n) + ")");
        // An entry takes at least 13 bytes (three i32 and a one-byte name).
        if (static_cast<std::size_t>(n) > c.left() / 13)
            c.fail_at(0, "truncated or not an importance matrix: " + sqllm::detail::to_string(n) +
                             " entries cannot fit the file");
        entries_.reserve(static_cast<std::size_t>(n));
        for (std::int32_t i = 0; i < n; ++i) {
            const std::size_t at = c.pos();
            const std::int32_t len = i32("name length");
            if (len < 1) c.fail_at(at, "entry " + sqllm::detail::to_string(i) + " has name length " + sqllm::detail::to_string(len));
            c.need(static_cast<std::size_t>(len), "entry name");
            imatrix_entry e;
            e.name.assign(reinterpret_cast<const char*>(c.here()), static_cast<std::size_t>(len));
            c.skip(static_cast<std::size_t>(len), "entry name");
            const std::string named = "entry \"" + detail::gguf_printable(e.name) + "\"";
            e.legacy_ncall = i32("ncall");
            const std::int32_t nval = i32("value count");
            if (nval < 1) c.fail_at(at, named + " has " + sqllm::detail::to_string(nval) + " values");
            if (static_cast<std::size_t>(nval) > c.left() / 4)
                c.fail_at(at, "truncated: " + named + " has " + sqllm::detail::to_string(nval) + " values, " +
                                  sqllm::detail::to_string(c.left()) + " bytes left");
            e.cols = static_cast<std::size_t>(nval);
            e.sums_at = c.pos();
            c.skip(4 * e.cols, "values");
            entries_.push_back(std::move(e));
        }
        // Optional trailer: the last chunk, then the dataset's name.
        if (c.left() == 0) return;
        const std::size_t trailer = c.pos();
        if (c.left() < 4) c.fail("truncated trailer: " + sqllm::detail::to_string(c.left()) + " bytes after the entries");
        const std::int32_t last = i32("last chunk");
        info_.chunk_count = last > 0 ? static_cast<std::uint32_t>(last) : 0;
        if (c.left() == 0) return;
        const std::int32_t len = c.left() >= 4 ? i32("dataset name length") : -1;
        if (len < 0 || static_cast<std::size_t>(len) != c.left())
            c.fail_at(trailer, "unexpected bytes after the entries (not a chunk count and a dataset name)");
        info_.datasets.emplace_back(reinterpret_cast<const char*>(c.here()), static_cast<std::size_t>(len));
    }

    mapped_file file_;
    format format_ = format::gguf;
    imatrix_info info_;
    std::vector<imatrix_entry> entries_;
};

/// An entry to write: per matrix (1 for a 2-D weight, one per expert for a
/// 3-D MoE weight) the sums of squared activations of `cols` columns and
/// the number of tokens summed.
struct imatrix_data {
    std::string name;            ///< llama.cpp's name ("blk.0.attn_q.weight")
    std::size_t cols = 0;
    std::vector<float> in_sum2;  ///< counts.size() × cols sums
    std::vector<float> counts;   ///< tokens, one per matrix (all > 0)
};

namespace detail {

inline void imatrix_check_data(const std::vector<imatrix_data>& entries) {
    for (const auto& e : entries) {
        const std::string where = "imatrix entry \"" + gguf_printable(e.name) + "\"";
        if (e.name.empty()) sqllm::detail::fail(errc::invalid_argument, "imatrix entry with an empty name");
        if (e.cols == 0 || e.counts.empty() ||
            e.in_sum2.size() != checked_mul(e.cols, e.counts.size(), "imatrix entry size"))
            sqllm::detail::fail(errc::shape_mismatch, where + ": in_sum2 must hold counts.size() × cols > 0 values");
        for (const float c : e.counts)
            if (!(c > 0) || !std::isfinite(c))
                sqllm::detail::fail(errc::invalid_argument, where + ": counts must be positive and finite");
    }
}

inline void put_le(std::vector<unsigned char>& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
        out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}
inline void put_f32(std::vector<unsigned char>& out, float f) {
    std::uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    put_le(out, b, 4);
}
inline void put_str(std::vector<unsigned char>& out, const std::string& s) {
    put_le(out, s.size(), 8);
    out.insert(out.end(), s.begin(), s.end());
}

inline void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (f) f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) sqllm::detail::fail(errc::io_error, path + ": cannot write");
}

}  // namespace detail

/// The bytes of a GGUF importance matrix as llama-imatrix writes it
/// (version 3, alignment 32, entries sorted by name, each "W.in_sum2" then
/// "W.counts"). Throws sqllm::error for inconsistent entries.
inline std::vector<unsigned char> imatrix_gguf_image(std::vector<imatrix_data> entries, const imatrix_info& info) {
    detail::imatrix_check_data(entries);
    std::sort(entries.begin(), entries.end(), [](const imatrix_data& a, const imatrix_data& b) { return a.name < b.name; });
    std::vector<unsigned char> out;
    out.insert(out.end(), {'G', 'G', 'U', 'F'});
    detail::put_le(out, 3, 4);
    detail::put_le(out, 2 * entries.size(), 8);
    detail::put_le(out, 4, 8);
    detail::put_str(out, "general.type");
    detail::put_le(out, static_cast<std::uint32_t>(gguf_type::string), 4);
    detail::put_str(out, "imatrix");
    detail::put_str(out, "imatrix.datasets");
    detail::put_le(out, static_cast<std::uint32_t>(gguf_type::array), 4);
    detail::put_le(out, static_cast<std::uint32_t>(gguf_type::string), 4);
    detail::put_le(out, info.datasets.size(), 8);
    for (const auto& d : info.datasets)
        detail::put_str(out, d);
    detail::put_str(out, "imatrix.chunk_count");
    detail::put_le(out, static_cast<std::uint32_t>(gguf_type::u32), 4);
    detail::put_le(out, info.chunk_count, 4);
    detail::put_str(out, "imatrix.chunk_size");
    detail::put_le(out, static_cast<std::uint32_t>(gguf_type::u32), 4);
    detail::put_le(out, info.chunk_size, 4);
    constexpr std::size_t align = 32;
    const auto padded = [](std::size_t n) { return (n + align - 1) / align * align; };
    std::size_t offset = 0;
    const auto tensor_info = [&](const std::string& name, std::size_t ne0, std::size_t ne1) {
        detail::put_str(out, name);
        const bool two = ne1 > 1;  // ggml drops trailing dimensions of 1
        detail::put_le(out, two ? 2 : 1, 4);
        detail::put_le(out, ne0, 8);
        if (two) detail::put_le(out, ne1, 8);
        detail::put_le(out, static_cast<std::uint32_t>(ggml_type::f32), 4);
        detail::put_le(out, offset, 8);
        offset += padded(4 * ne0 * ne1);
    };
    for (const auto& e : entries) {
        tensor_info(e.name + ".in_sum2", e.cols, e.counts.size());
        tensor_info(e.name + ".counts", 1, e.counts.size());
    }
    out.resize(padded(out.size()), 0);
    const auto put_data = [&](const std::vector<float>& v) {
        for (const float f : v)
            detail::put_f32(out, f);
        out.resize(padded(out.size()), 0);
    };
    for (const auto& e : entries) {
        put_data(e.in_sum2);
        put_data(e.counts);
    }
    return out;
}

/// The bytes of a legacy .dat importance matrix as llama-imatrix writes it:
/// ncall = ceil(largest count / chunk_size), values (in_sum2 / count) ·
/// ncall, then the trailer (chunk_count, the first dataset's name).
/// info.chunk_size must be positive. Throws sqllm::error for inconsistent entries.
inline std::vector<unsigned char> imatrix_legacy_image(std::vector<imatrix_data> entries, const imatrix_info& info) {
    detail::imatrix_check_data(entries);
    if (info.chunk_size == 0) sqllm::detail::fail(errc::invalid_argument, "legacy imatrix: chunk_size must be positive");
    if (entries.empty() || entries.size() > INT32_MAX)
        sqllm::detail::fail(errc::invalid_argument, "legacy imatrix: needs 1 to 2^31 - 1 entries");
    std::sort(entries.begin(), entries.end(), [](const imatrix_data& a, const imatrix_data& b) { return a.name < b.name; });
    std::vector<unsigned char> out;
    detail::put_le(out, entries.size(), 4);
    for (const auto& e : entries) {
        if (e.name.size() > INT32_MAX || e.in_sum2.size() > INT32_MAX)
            sqllm::detail::fail(errc::out_of_range, "legacy imatrix: entry too large for 32-bit sizes");
        detail::put_le(out, e.name.size(), 4);
        out.insert(out.end(), e.name.begin(), e.name.end());
        const double most = *std::max_element(e.counts.begin(), e.counts.end());
        const double ncall = std::ceil(most / info.chunk_size);
        if (ncall > INT32_MAX) sqllm::detail::fail(errc::out_of_range, "legacy imatrix: ncall overflows 32 bits");
        detail::put_le(out, static_cast<std::uint32_t>(static_cast<std::int32_t>(ncall)), 4);
        detail::put_le(out, e.in_sum2.size(), 4);
        for (std::size_t i = 0; i < e.in_sum2.size(); ++i)
            detail::put_f32(out, static_cast<float>(e.in_sum2[i] / e.counts[i / e.cols] * ncall));
    }
    detail::put_le(out, info.chunk_count, 4);
    const std::string dataset = info.datasets.empty() ? std::string() : info.datasets.front();
    detail::put_le(out, dataset.size(), 4);
    out.insert(out.end(), dataset.begin(), dataset.end());
    return out;
}

/// Writes imatrix_gguf_image(entries, info) to `path` (errc::io_error on failure).
inline void write_imatrix_gguf(const std::string& path, const std::vector<imatrix_data>& entries,
                               const imatrix_info& info) {
    detail::write_bytes(path, imatrix_gguf_image(entries, info));
}

/// Writes imatrix_legacy_image(entries, info) to `path` (errc::io_error on failure).
inline void write_imatrix_dat(const std::string& path, const std::vector<imatrix_data>& entries,
                              const imatrix_info& info) {
    detail::write_bytes(path, imatrix_legacy_image(entries, info));
}

}  // namespace io
SQLLM_NAMESPACE_END
