// llama2c_tokenizer.hpp — the tokenizer of Karpathy's llama2.c: its
// `tokenizer.bin` file format and the encode/decode rules of `run.c`. Part of
// the llama2c example, not of the installed library.
//
// File format (little-endian): int32 max_token_length, then for each of the
// vocab_size tokens (the count is not stored; it is the model's vocab_size):
// float32 score, int32 length, `length` bytes of the piece (not terminated).
// Pieces are sentencepiece pieces with "▁" already turned into " "; ids 0, 1, 2
// are <unk>, BOS and EOS, ids 3 ... 258 the byte-fallback pieces "<0x00>" ...
// "<0xFF>".
//
// encode() produces the same ids as `run.c`'s encode(): a dummy-prefix " "
// before any non-empty text (its byte-fallback id should the vocabulary lack
// " "; run.c would emit -1), one symbol per UTF-8 code point (a code point
// with no piece of its own becomes one byte-fallback symbol per byte, id =
// byte + 3), then, repeatedly, the adjacent pair whose concatenation is a
// piece with the highest score is merged (the leftmost such pair on ties).
// run.c rescans the whole sequence after each merge (quadratic); here the
// candidate pairs sit in a priority queue ordered by (score, position), which
// selects the same pair at every step in O(n log n). One deliberate
// difference: run.c starts its search at a best score of -1e10, so it never
// merges pairs scored at or below that; here any score qualifies (no real
// vocabulary scores that low). And the text may hold NUL bytes, where run.c's
// C strings would end.
//
// Error policy: a malformed file throws sqllm::error naming the file
// (errc::io_error when it cannot be opened or read, errc::corrupt_data for
// bad lengths or sizes, errc::non_finite for a NaN or infinite score).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sqllm/error.hpp>

#include "open_file.hpp"

namespace llama2c {

/// A llama2.c vocabulary with `run.c`'s encode and decode.
class llama2c_tokenizer {
public:
    static constexpr int unk_id = 0;                ///< <unk>
    static constexpr int bos_id = 1;                ///< beginning of sequence
    static constexpr int eos_id = 2;                ///< end of sequence
    static constexpr int byte_fallback_offset = 3;  ///< id of the piece "<0xNN>" is NN + 3

    /// A vocabulary from its pieces and scores (id = index). Throws
    /// errc::shape_mismatch when the sizes differ, errc::invalid_argument when
    /// there are fewer than 259 tokens (the byte-fallback ids must exist) or
    /// more than INT_MAX, errc::non_finite for a NaN or infinite score.
    /// When a piece occurs twice, lookups find the lower id.
    llama2c_tokenizer(std::vector<std::string> pieces, std::vector<float> scores)
        : pieces_(std::move(pieces)), scores_(std::move(scores)) {
        if (pieces_.size() != scores_.size())
            throw sqllm::error(sqllm::errc::shape_mismatch, "llama2c_tokenizer: " + std::to_string(pieces_.size()) +
                                                                " pieces but " + std::to_string(scores_.size()) +
                                                                " scores");
        if (pieces_.size() < std::size_t(byte_fallback_offset) + 256 ||
            pieces_.size() > std::size_t(std::numeric_limits<int>::max()))
            throw sqllm::error(sqllm::errc::invalid_argument,
                               "llama2c_tokenizer: " + std::to_string(pieces_.size()) +
                                   " tokens; byte fallback needs at least 259 (ids 3 + 0x00 ... 3 + 0xFF)");
        for (std::size_t i = 0; i < scores_.size(); ++i)
            if (!std::isfinite(scores_[i]))
                throw sqllm::error(sqllm::errc::non_finite,
                                   "llama2c_tokenizer: token " + std::to_string(i) + " has a non-finite score");
        ids_.reserve(pieces_.size());
        for (std::size_t i = 0; i < pieces_.size(); ++i)
            ids_.emplace(pieces_[i], static_cast<int>(i));  // keeps the first id of a duplicate
    }

    /// Number of tokens.
    int vocab_size() const { return static_cast<int>(pieces_.size()); }

    /// The piece (bytes) of token `id`; throws errc::out_of_range for a bad id.
    const std::string& piece(int id) const { return pieces_[checked(id)]; }

    /// The merge score of token `id`; throws errc::out_of_range for a bad id.
    float score(int id) const { return scores_[checked(id)]; }

    /// The id of the piece `text`, or -1 when it is not in the vocabulary.
    int find(const std::string& text) const {
        const auto it = ids_.find(text);
        return it == ids_.end() ? -1 : it->second;
    }

    /// Token ids of `text` (any bytes; UTF-8 expected), as `run.c` encodes
    /// them: BOS first if `bos`, EOS last if `eos` (see the file comment).
    /// Throws errc::invalid_argument for a text of 2^31 - 2 bytes or more.
    std::vector<int> encode(const std::string& text, bool bos, bool eos) const {
        if (text.size() >= std::size_t(std::numeric_limits<int>::max()) - 1)
            throw sqllm::error(sqllm::errc::invalid_argument, "llama2c_tokenizer::encode: text of " +
                                                                  std::to_string(text.size()) + " bytes is too long");
        // Symbols form a doubly linked list over slots in text order; a merge
        // keeps the left slot (with the merged id) and unlinks the right one,
        // so slot order stays text order and "leftmost" is "lowest slot".
        std::vector<symbol> sym;
        sym.reserve(text.size() + 1);
        const auto push = [&sym](int id) {
            const int slot = static_cast<int>(sym.size());
            sym.push_back({id, slot - 1, slot + 1});
        };
        if (!text.empty()) push(id_or_byte(" ", ' '));
        for (std::size_t i = 0; i < text.size();) {
            std::size_t len = 1;  // a lead byte plus up to 3 continuation bytes 10xxxxxx
            while (len < 4 && i + len < text.size() && (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80)
                ++len;
            const int id = find(text.substr(i, len));
            if (id >= 0) {
                push(id);
            } else {
                for (std::size_t k = 0; k < len; ++k)
                    push(byte_fallback_offset + static_cast<unsigned char>(text[i + k]));
            }
            i += len;
        }
        if (!sym.empty()) sym.back().next = -1;

        std::priority_queue<candidate, std::vector<candidate>, lower_priority> queue;
        std::string key;  // reused: the concatenation of a pair's pieces
        const auto consider = [&](int left) {
            if (left < 0 || sym[left].next < 0) return;
            const int right = sym[left].next;
            key.assign(pieces_[sym[left].id]).append(pieces_[sym[right].id]);
            const int merged = find(key);
            if (merged >= 0) queue.push({scores_[merged], left, right, sym[left].id, sym[right].id, merged});
        };
        for (int s = 0; s + 1 < static_cast<int>(sym.size()); ++s)
            consider(s);
        while (!queue.empty()) {
            const candidate c = queue.top();
            queue.pop();
            // Stale entries: a pair changes whenever either side merges (ids only
            // grow longer, so equal ids and adjacency mean the pair is current).
            if (sym[c.left].id != c.left_id || sym[c.left].next != c.right || sym[c.right].id != c.right_id) continue;
            sym[c.left].id = c.merged;
            sym[c.left].next = sym[c.right].next;
            if (sym[c.right].next >= 0) sym[sym[c.right].next].prev = c.left;
            sym[c.right].id = -1;  // unlinked
            if (sym[c.left].prev >= 0) consider(sym[c.left].prev);
            consider(c.left);
        }

        std::vector<int> out;
        out.reserve(sym.size() + 2);
        if (bos) out.push_back(bos_id);
        for (int s = sym.empty() ? -1 : 0; s >= 0; s = sym[s].next)
            out.push_back(sym[s].id);
        if (eos) out.push_back(eos_id);
        return out;
    }

    /// The bytes token `token` contributes after `prev_token`, as `run.c`
    /// prints them: the piece, without its leading space right after BOS, and
    /// a raw byte for the byte-fallback pieces "<0xNN>". Throws
    /// errc::out_of_range when `token` is not an id (`prev_token` is only
    /// compared with BOS).
    std::string decode(int prev_token, int token) const {
        const std::string& p = pieces_[checked(token)];
        const std::size_t start = prev_token == bos_id && !p.empty() && p[0] == ' ' ? 1 : 0;
        int byte = 0;
        if (p.size() - start == 6 && p.compare(start, 3, "<0x") == 0 && p[start + 5] == '>' &&
            parse_hex_byte(p[start + 3], p[start + 4], byte))
            return std::string(1, static_cast<char>(byte));
        return p.substr(start);
    }

    /// The text of a token sequence: decode(tokens[i - 1], tokens[i]) for
    /// i ≥ 1, concatenated. tokens[0] (normally BOS) is context only, as in
    /// `run.c`'s generation loop; decode(encode(s, true, false)) == s.
    std::string decode(const std::vector<int>& tokens) const {
        std::string out;
        for (std::size_t i = 1; i < tokens.size(); ++i)
            out += decode(tokens[i - 1], tokens[i]);
        return out;
    }

private:
    struct symbol {
        int id;    // token id; -1 once merged into its left neighbour
        int prev;  // slot of the previous symbol, -1 at the front
        int next;  // slot of the next symbol, -1 at the end
    };
    struct candidate {
        float score;
        int left, right;        // slots
        int left_id, right_id;  // their ids when queued
        int merged;             // id of the concatenation
    };
    struct lower_priority {  // the queue's top: highest score, then leftmost
        bool operator()(const candidate& a, const candidate& b) const {
            return a.score != b.score ? a.score < b.score : a.left > b.left;
        }
    };

    std::size_t checked(int id) const {
        if (id < 0 || id >= vocab_size())
            throw sqllm::error(sqllm::errc::out_of_range, "llama2c_tokenizer: token id " + std::to_string(id) +
                                                              " outside [0, " + std::to_string(vocab_size()) + ")");
        return static_cast<std::size_t>(id);
    }
    int id_or_byte(const std::string& text, unsigned char byte) const {
        const int id = find(text);
        return id >= 0 ? id : byte_fallback_offset + byte;
    }
    static bool parse_hex_byte(char hi, char lo, int& out) {
        const auto digit = [](char ch) {
            if (ch >= '0' && ch <= '9') return ch - '0';
            if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
            if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
            return -1;
        };
        const int h = digit(hi), l = digit(lo);
        out = h * 16 + l;
        return h >= 0 && l >= 0;
    }

    std::vector<std::string> pieces_;
    std::vector<float> scores_;
    std::unordered_map<std::string, int> ids_;
};

/// Reads a llama2.c `tokenizer.bin` holding `vocab_size` tokens (the model's
/// vocab_size; the file does not store it). Throws errc::invalid_argument for
/// vocab_size < 259, errc::io_error when the file cannot be opened or read,
/// errc::corrupt_data when max_token_length is not positive, a piece length is
/// negative or exceeds it, the file ends early or has bytes after the last
/// token, errc::non_finite for a NaN or infinite score.
inline llama2c_tokenizer read_llama2c_tokenizer(const std::string& path, int vocab_size) {
    if (vocab_size < llama2c_tokenizer::byte_fallback_offset + 256)
        throw sqllm::error(sqllm::errc::invalid_argument, path + ": vocab_size " + std::to_string(vocab_size) +
                                                              " is below 259 (the byte-fallback ids)");
    std::ifstream in;
    const auto file_size = static_cast<std::streamoff>(detail::llama2c_open(in, path));
    // Every read is checked; bytes are decoded little-endian whatever the host.
    const auto read_bytes = [&](void* dst, std::size_t n, const std::string& what) {
        in.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
        if (static_cast<std::size_t>(in.gcount()) != n) {
            if (in.bad()) throw sqllm::error(sqllm::errc::io_error, path + ": read error in " + what);
            throw sqllm::error(sqllm::errc::corrupt_data, path + ": file ends inside " + what);
        }
    };
    const auto read_u32 = [&](const std::string& what) {
        unsigned char b[4];
        read_bytes(b, 4, what);
        return std::uint32_t(b[0]) | std::uint32_t(b[1]) << 8 | std::uint32_t(b[2]) << 16 | std::uint32_t(b[3]) << 24;
    };
    const auto as_int = [](std::uint32_t u) {  // two's complement, without implementation-defined casts
        return u <= 0x7FFFFFFFu ? static_cast<std::int64_t>(u) : static_cast<std::int64_t>(u) - (std::int64_t(1) << 32);
    };

    const std::int64_t max_len = as_int(read_u32("the header"));
    if (max_len <= 0)
        throw sqllm::error(sqllm::errc::corrupt_data,
                           path + ": max_token_length " + std::to_string(max_len) + " is not positive");
    // Each token takes at least 8 bytes (score, length): a vocab_size the
    // file cannot hold is refused before anything is allocated for it.
    if (static_cast<std::uint64_t>(vocab_size) > static_cast<std::uint64_t>(file_size - 4) / 8)
        throw sqllm::error(sqllm::errc::corrupt_data,
                           path + ": " + std::to_string(file_size) + " bytes cannot hold " + std::to_string(vocab_size) +
                               " tokens of at least 8 bytes each (is vocab_size right?)");
    std::vector<std::string> pieces(static_cast<std::size_t>(vocab_size));
    std::vector<float> scores(static_cast<std::size_t>(vocab_size));
    for (int i = 0; i < vocab_size; ++i) {
        const std::string what = "token " + std::to_string(i);
        const std::uint32_t score_bits = read_u32(what);
        std::memcpy(&scores[std::size_t(i)], &score_bits, sizeof(float));
        if (!std::isfinite(scores[std::size_t(i)]))
            throw sqllm::error(sqllm::errc::non_finite, path + ": " + what + " has a non-finite score");
        const std::int64_t len = as_int(read_u32(what));
        if (len < 0 || len > max_len)
            throw sqllm::error(sqllm::errc::corrupt_data,
                               path + ": " + what + " has length " + std::to_string(len) +
                                   ", outside [0, max_token_length = " + std::to_string(max_len) + "]");
        if (len > file_size - static_cast<std::streamoff>(in.tellg()))  // before allocating it
            throw sqllm::error(sqllm::errc::corrupt_data, path + ": file ends inside " + what);
        pieces[std::size_t(i)].resize(static_cast<std::size_t>(len));
        if (len > 0) read_bytes(&pieces[std::size_t(i)][0], static_cast<std::size_t>(len), what);
    }
    if (in.peek() != std::ifstream::traits_type::eof())
        throw sqllm::error(sqllm::errc::corrupt_data, path + ": bytes after the last of " + std::to_string(vocab_size) +
                                                          " tokens (is vocab_size right?)");
    return llama2c_tokenizer(std::move(pieces), std::move(scores));
}

}  // namespace llama2c
