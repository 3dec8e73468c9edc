// llama2c.hpp — read model checkpoints of Karpathy's llama2.c in its "legacy"
// format (version 0, the `.bin` files `run.c` loads). Part of the llama2c
// example, not of the installed library; sqllm-quantize reads .bin models
// through it too (tools/CMakeLists.txt puts this directory on its path).
//
// The format: a header of 7 little-endian int32
//     dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
// (a negative vocab_size means the classifier is a separate matrix; positive,
// that it shares the token embedding), then little-endian float32 arrays, each
// kind for all layers before the next kind:
//     tok_embeddings [vocab][dim]
//     rms_att [L][dim], wq [L][dim][dim], wk [L][kv_dim][dim], wv [L][kv_dim][dim],
//     wo [L][dim][dim], rms_ffn [L][dim], w1 [L][hidden][dim], w2 [L][dim][hidden],
//     w3 [L][hidden][dim]
//     rms_final [dim]
//     freq_cis_real, freq_cis_imag [seq_len][head_size / 2] each (RoPE tables)
//     output [vocab][dim]                 only when the classifier is not shared
// with kv_dim = dim · n_kv_heads / n_heads and every matrix [out][in]. The RoPE
// tables are optional at the end of a shared-classifier file and are skipped:
// users compute RoPE (`run.c` ignores them too).
//
// The reader returns every weight under a canonical name (see
// llama2c_tensor_names), the names sqllm-quantize and this example use for
// per-layer data such as Fisher information: "tok_embeddings",
// "layers.{l}.rms_att", "layers.{l}.wq" ... "layers.{l}.w3", "rms_final",
// "output".
//
// Error policy: every malformed input throws sqllm::error naming the file and
// the problem: errc::io_error when the file cannot be opened or read,
// errc::corrupt_data for a bad header or a size that does not match it
// (truncated, or bytes beyond the optional RoPE tables), errc::non_finite for
// a NaN or infinite weight. Nothing is read past what the header implies and
// the file holds.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <sqllm/error.hpp>

#include "open_file.hpp"

namespace llama2c {

/// Hyper-parameters of a llama2.c model, from the checkpoint header.
struct llama2c_config {
    int dim = 0;                    ///< width of the residual stream
    int hidden_dim = 0;             ///< inner width of the SwiGLU feed-forward block
    int n_layers = 0;               ///< transformer blocks
    int n_heads = 0;                ///< query heads
    int n_kv_heads = 0;             ///< key/value heads (grouped-query attention when < n_heads)
    int vocab_size = 0;             ///< tokens; always positive here (the header's sign is shared_classifier)
    int seq_len = 0;                ///< longest context the model was trained for
    bool shared_classifier = true;  ///< logits = tok_embeddings · x (header vocab_size > 0)
    float norm_eps = 1e-5f;         ///< RMSNorm ε (llama2.c's; a Hugging Face config.json's rms_norm_eps)
    double rope_theta = 10000.0;    ///< RoPE base (llama2.c's; config.json's rope_theta)

    /// Width of one attention head: dim / n_heads.
    int head_size() const { return dim / n_heads; }
    /// Width of the keys and values of one position: head_size · n_kv_heads.
    int kv_dim() const { return head_size() * n_kv_heads; }
};

/// Header values above this are taken for corruption rather than a model (16 Mi).
constexpr int llama2c_max_header_value = 1 << 24;

/// One weight array of a checkpoint, row-major, owning its values.
struct llama2c_tensor {
    std::string name;                ///< canonical name, e.g. "layers.3.wk"
    std::vector<std::size_t> shape;  ///< [rows, cols] for matrices, [n] for norm weights
    std::vector<float> data;         ///< shape[0] · shape[1] (or shape[0]) values

    /// Number of values: the product of the shape.
    std::size_t numel() const {
        std::size_t n = 1;
        for (std::size_t d : shape)
            n *= d;
        return n;
    }
};

/// A checkpoint read by read_llama2c: its configuration and weights.
struct llama2c_model_file {
    llama2c_config config;                ///< from the header
    std::vector<llama2c_tensor> tensors;  ///< every weight, in file order (RoPE tables skipped)

    /// The tensor called `name`, or nullptr when there is none.
    const llama2c_tensor* find(const std::string& name) const {
        for (const auto& t : tensors)
            if (t.name == name) return &t;
        return nullptr;
    }
    /// The tensor called `name`; throws errc::invalid_argument when there is none.
    const llama2c_tensor& at(const std::string& name) const {
        const llama2c_tensor* t = find(name);
        if (!t) throw sqllm::error(sqllm::errc::invalid_argument, "llama2.c model has no tensor \"" + name + "\"");
        return *t;
    }
};

/// Name and shape of one weight array (no values).
struct llama2c_tensor_info {
    std::string name;                ///< canonical name
    std::vector<std::size_t> shape;  ///< as in llama2c_tensor
};

/// The weights a checkpoint with configuration `c` holds, in file order,
/// with their canonical names and shapes (the RoPE tables are not listed).
/// `c` must be valid (see validate_llama2c_config).
inline std::vector<llama2c_tensor_info> llama2c_tensor_names(const llama2c_config& c) {
    using sz = std::size_t;
    const sz dim = sz(c.dim), hidden = sz(c.hidden_dim), kv = sz(c.kv_dim()), vocab = sz(c.vocab_size);
    std::vector<llama2c_tensor_info> out;
    out.push_back({"tok_embeddings", {vocab, dim}});
    const auto per_layer = [&](const char* kind, std::vector<sz> shape) {
        for (int l = 0; l < c.n_layers; ++l)
            out.push_back({"layers." + std::to_string(l) + "." + kind, shape});
    };
    per_layer("rms_att", {dim});
    per_layer("wq", {dim, dim});
    per_layer("wk", {kv, dim});
    per_layer("wv", {kv, dim});
    per_layer("wo", {dim, dim});
    per_layer("rms_ffn", {dim});
    per_layer("w1", {hidden, dim});
    per_layer("w2", {dim, hidden});
    per_layer("w3", {hidden, dim});
    out.push_back({"rms_final", {dim}});
    if (!c.shared_classifier) out.push_back({"output", {vocab, dim}});
    return out;
}

/// Checks that `c` describes a well-formed model: every size positive and at
/// most llama2c_max_header_value, dim divisible by n_heads, n_heads by
/// n_kv_heads, an even head_size (RoPE rotates pairs). Throws
/// errc::corrupt_data naming `where` (a file name) and the problem.
inline void validate_llama2c_config(const llama2c_config& c, const std::string& where) {
    const auto bad = [&](const std::string& what) {
        throw sqllm::error(sqllm::errc::corrupt_data, where + ": invalid llama2.c header: " + what);
    };
    const std::pair<const char*, int> fields[] = {
        {"dim", c.dim},         {"hidden_dim", c.hidden_dim}, {"n_layers", c.n_layers},
        {"n_heads", c.n_heads}, {"n_kv_heads", c.n_kv_heads}, {"vocab_size", c.vocab_size},
        {"seq_len", c.seq_len}};
    for (const auto& f : fields) {
        if (f.second <= 0) bad(std::string(f.first) + " = " + std::to_string(f.second) + " is not positive");
        if (f.second > llama2c_max_header_value)
            bad(std::string(f.first) + " = " + std::to_string(f.second) + " exceeds " +
                std::to_string(llama2c_max_header_value));
    }
    if (c.dim % c.n_heads != 0)
        bad("dim = " + std::to_string(c.dim) + " is not a multiple of n_heads = " + std::to_string(c.n_heads));
    if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0)
        bad("n_heads = " + std::to_string(c.n_heads) +
            " is not a multiple of n_kv_heads = " + std::to_string(c.n_kv_heads));
    if (c.head_size() % 2 != 0) bad("head_size = " + std::to_string(c.head_size()) + " is odd (RoPE rotates pairs)");
    if (!(c.norm_eps > 0.0f) || !std::isfinite(c.norm_eps))
        bad("RMSNorm epsilon " + std::to_string(c.norm_eps) + " is not a positive finite number");
    if (!(c.rope_theta > 1.0) || !std::isfinite(c.rope_theta))
        bad("RoPE theta " + std::to_string(c.rope_theta) + " is not a finite number > 1");
}

namespace detail {

/// True on a little-endian host (the format's byte order).
inline bool llama2c_host_is_little_endian() {
    const std::uint32_t one = 1;
    unsigned char first = 0;
    std::memcpy(&first, &one, 1);
    return first == 1;
}

/// Reverses the bytes of each 4-byte word of p[0, n) (big-endian hosts).
inline void llama2c_byteswap32(void* p, std::size_t n) {
    auto* b = static_cast<unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i, b += 4) {
        std::swap(b[0], b[3]);
        std::swap(b[1], b[2]);
    }
}

/// a · b, or false when it overflows std::uint64_t.
inline bool llama2c_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
    if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
    out = a * b;
    return true;
}

/// Reads exactly `bytes` bytes into `dst` or throws errc::io_error.
inline void llama2c_read_exact(std::ifstream& in, void* dst, std::size_t bytes, const std::string& path,
                               const std::string& what) {
    constexpr std::size_t chunk = std::size_t(1) << 30;  // streamsize may be 32-bit
    auto* p = static_cast<char*>(dst);
    for (std::size_t done = 0; done < bytes;) {
        const std::size_t n = std::min(chunk, bytes - done);
        in.read(p + done, static_cast<std::streamsize>(n));
        if (static_cast<std::size_t>(in.gcount()) != n)
            throw sqllm::error(sqllm::errc::io_error, path + ": read error in " + what);
        done += n;
    }
}

}  // namespace detail

/// The first int32 of llama2.c's versioned exports ("ak42"); only version 0
/// (legacy, no magic) is read here.
constexpr std::uint32_t llama2c_versioned_magic = 0x616b3432u;

/// Reads a llama2.c legacy (version 0) checkpoint. Validates the header
/// (validate_llama2c_config), that the file size is exactly what the header
/// implies — with or without the trailing RoPE tables when the classifier is
/// shared; with them when it is not, as `run.c` reads it — and that every
/// weight is finite. See the file comment for the layout and error policy.
inline llama2c_model_file read_llama2c(const std::string& path) {
    std::ifstream in;
    const std::uint64_t file_size = detail::llama2c_open(in, path);
    constexpr std::uint64_t header_bytes = 7 * 4;
    if (file_size < header_bytes)
        throw sqllm::error(sqllm::errc::corrupt_data, path + ": " + std::to_string(file_size) +
                                                          " bytes is too short for a llama2.c header (28 bytes)");
    std::int32_t h[7];
    detail::llama2c_read_exact(in, h, sizeof h, path, "the header");
    const bool little = detail::llama2c_host_is_little_endian();
    if (!little) detail::llama2c_byteswap32(h, 7);
    if (static_cast<std::uint32_t>(h[0]) == llama2c_versioned_magic)
        throw sqllm::error(sqllm::errc::corrupt_data, path + ": a versioned llama2.c export (version " +
                                                          std::to_string(h[1]) +
                                                          "); only the legacy format (version 0) is supported");

    llama2c_model_file file;
    llama2c_config& c = file.config;
    c.dim = h[0];
    c.hidden_dim = h[1];
    c.n_layers = h[2];
    c.n_heads = h[3];
    c.n_kv_heads = h[4];
    c.shared_classifier = h[5] > 0;
    // -INT_MIN overflows; it is not a valid size either, so map it to 0 for the check.
    c.vocab_size = h[5] == std::numeric_limits<std::int32_t>::min() ? 0 : (h[5] < 0 ? -h[5] : h[5]);
    c.seq_len = h[6];
    validate_llama2c_config(c, path);

    // Expected size, computed before anything is allocated (a corrupt header
    // must not make us build a list of 2^24 layers). Header values are below
    // 2^24, so each matrix has < 2^48 values and one layer < 2^52; only the
    // product with n_layers can overflow 64 bits, and is checked. Anything
    // over 2^62 bytes is no file, and that bound keeps the sums below exact.
    using u64 = std::uint64_t;
    const u64 dim = u64(c.dim), hidden = u64(c.hidden_dim), kv = u64(c.kv_dim()), vocab = u64(c.vocab_size);
    const u64 per_layer = 2 * dim + 2 * dim * dim + 2 * kv * dim + 3 * hidden * dim;
    u64 layer_floats = 0;
    bool ok = detail::llama2c_mul(per_layer, u64(c.n_layers), layer_floats) && layer_floats < (u64(1) << 60);
    const u64 weight_floats = layer_floats + vocab * dim * (c.shared_classifier ? 1 : 2) + dim;
    const u64 weight_bytes = 4 * weight_floats;
    ok = ok && weight_bytes < (u64(1) << 62);
    const std::uint64_t rope_floats = std::uint64_t(c.seq_len) * std::uint64_t(c.head_size());  // < 2^48
    const std::uint64_t rope_bytes = 4 * rope_floats;
    const std::string config_text = "dim=" + std::to_string(c.dim) + " hidden_dim=" + std::to_string(c.hidden_dim) +
                                    " n_layers=" + std::to_string(c.n_layers) +
                                    " n_heads=" + std::to_string(c.n_heads) +
                                    " n_kv_heads=" + std::to_string(c.n_kv_heads) +
                                    " vocab_size=" + std::to_string(h[5]) + " seq_len=" + std::to_string(c.seq_len);
    if (!ok || weight_bytes > std::numeric_limits<std::size_t>::max())
        throw sqllm::error(sqllm::errc::corrupt_data, path + ": the header (" + config_text +
                                                          ") implies a size beyond "
                                                          "2^62 bytes or this machine's address space");
    const std::uint64_t base = header_bytes + weight_bytes;  // no RoPE tables
    bool has_rope = false;
    if (c.shared_classifier) {
        if (file_size == base + rope_bytes)
            has_rope = true;
        else if (file_size != base)
            throw sqllm::error(sqllm::errc::corrupt_data,
                               path + ": " + std::to_string(file_size) + " bytes, but the header (" + config_text +
                                   ") implies " + std::to_string(base) + " (or " + std::to_string(base + rope_bytes) +
                                   " with the RoPE tables): " + (file_size < base ? "truncated" : "trailing bytes"));
    } else {
        has_rope = true;  // the separate classifier comes after the tables
        if (file_size != base + rope_bytes)
            throw sqllm::error(sqllm::errc::corrupt_data,
                               path + ": " + std::to_string(file_size) + " bytes, but the header (" + config_text +
                                   ") implies " + std::to_string(base + rope_bytes) + ": " +
                                   (file_size < base + rope_bytes ? "truncated" : "trailing bytes"));
    }

    const std::vector<llama2c_tensor_info> infos = llama2c_tensor_names(c);
    file.tensors.reserve(infos.size());
    for (const auto& info : infos) {
        if (info.name == "output" && has_rope) in.seekg(static_cast<std::streamoff>(rope_bytes), std::ios::cur);
        llama2c_tensor t{info.name, info.shape, {}};
        t.data.resize(t.numel());
        detail::llama2c_read_exact(in, t.data.data(), t.data.size() * sizeof(float), path, "tensor " + t.name);
        if (!little) detail::llama2c_byteswap32(t.data.data(), t.data.size());
        for (std::size_t i = 0; i < t.data.size(); ++i)
            if (!std::isfinite(t.data[i]))
                throw sqllm::error(sqllm::errc::non_finite, path + ": tensor " + t.name + " has a non-finite value (" +
                                                                std::to_string(t.data[i]) + ") at flat index " +
                                                                std::to_string(i));
        file.tensors.push_back(std::move(t));
    }
    return file;
}

}  // namespace llama2c
