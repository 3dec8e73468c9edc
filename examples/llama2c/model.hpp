// model.hpp — a Llama model in the llama2.c architecture, and its forward pass.
//
// The architecture is that of llama2.c's `run.c`: token embedding, then per
// layer x += Wo·attention(RoPE(Wq·n), RoPE(Wk·n), Wv·n) with n = RMSNorm(x),
// and x += W2·(silu(W1·n) ⊙ W3·n) with n = RMSNorm(x); finally logits =
// classifier·RMSNorm(x). RMSNorm uses ε = 1e-5, RoPE rotates the pairs
// (2i, 2i+1) of each head by pos · 10000^(-2i/head_size), attention is causal
// and grouped-query (query head h reads key/value head h / (n_heads/n_kv_heads)).
// (ε and the base 10000 are config.norm_eps and config.rope_theta, which a
// Hugging Face config.json may set otherwise; hf_checkpoint.hpp brings HF's
// q/k rows into this pair order at load.)
//
// Every matrix product goes through the `linear` interface (linear.hpp), so
// fp32 and quantized weights run the same code. The engine evaluates either
// one token at a time against its KV cache (`forward_token`, linear::gemv;
// generation) or a whole window from an empty context at once
// (`forward_window`, linear::gemm; perplexity and calibration).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <sqllm/error.hpp>

#include "linear.hpp"
#include "llama2c.hpp"

namespace llama2c {

/// One transformer block.
struct layer {
    std::vector<float> rms_att, rms_ffn;                 ///< RMSNorm weights, [dim] each
    std::unique_ptr<linear> wq, wk, wv, wo, w1, w2, w3;  ///< projections, W [out][in]
};

/// A whole model. Shapes: tok_embeddings [vocab][dim], rms_final [dim],
/// classifier vocab × dim (a dense_linear over a copy of the embedding when
/// config.shared_classifier), per layer wq dim × dim, wk and wv kv_dim × dim,
/// wo dim × dim, w1 and w3 hidden × dim, w2 dim × hidden.
struct model {
    llama2c_config config;                         ///< hyper-parameters
    std::vector<float> tok_embeddings, rms_final;  ///< fp32 always
    std::unique_ptr<linear> classifier;            ///< logits = classifier · RMSNorm(x)
    std::vector<layer> layers;                     ///< config.n_layers blocks
};

/// The canonical names of a layer's linear weights ("wq" ... "w3"), in
/// the order of the layer's members.
inline const std::array<const char*, 7>& linear_kinds() {
    static const std::array<const char*, 7> kinds{"wq", "wk", "wv", "wo", "w1", "w2", "w3"};
    return kinds;
}

/// The linear `kind` (one of linear_kinds()) of layer `l`, e.g. to replace
/// it with a quantized implementation. Throws errc::invalid_argument for an
/// unknown kind.
inline std::unique_ptr<linear>& linear_of(layer& l, const std::string& kind) {
    if (kind == "wq") return l.wq;
    if (kind == "wk") return l.wk;
    if (kind == "wv") return l.wv;
    if (kind == "wo") return l.wo;
    if (kind == "w1") return l.w1;
    if (kind == "w2") return l.w2;
    if (kind == "w3") return l.w3;
    throw sqllm::error(sqllm::errc::invalid_argument, "no linear layer kind \"" + kind + "\"");
}

/// The linear `kind` (one of linear_kinds()) of layer `l`.
inline const std::unique_ptr<linear>& linear_of(const layer& l, const std::string& kind) {
    return linear_of(const_cast<layer&>(l), kind);  // only reads
}

/// Checks that every part of `m` is present and shaped as its config says
/// (any loader should call it). Throws sqllm::error: errc::corrupt_data for a
/// bad config, errc::shape_mismatch for a wrong size, errc::invalid_argument
/// for a missing linear layer.
inline void validate(const model& m) {
    const auto& c = m.config;
    validate_llama2c_config(c, "model");
    using sz = std::size_t;
    const sz dim = sz(c.dim), hidden = sz(c.hidden_dim), kv = sz(c.kv_dim()), vocab = sz(c.vocab_size);
    const auto vec = [](const std::vector<float>& v, sz n, const std::string& name) {
        if (v.size() != n)
            throw sqllm::error(sqllm::errc::shape_mismatch, "model: " + name + " has " + std::to_string(v.size()) +
                                                                " values, expected " + std::to_string(n));
    };
    const auto mat = [](const std::unique_ptr<linear>& w, sz rows, sz cols, const std::string& name) {
        if (!w) throw sqllm::error(sqllm::errc::invalid_argument, "model: " + name + " is missing");
        if (w->rows() != rows || w->cols() != cols)
            throw sqllm::error(sqllm::errc::shape_mismatch, "model: " + name + " is " + std::to_string(w->rows()) +
                                                                " x " + std::to_string(w->cols()) + ", expected " +
                                                                std::to_string(rows) + " x " + std::to_string(cols));
    };
    vec(m.tok_embeddings, vocab * dim, "tok_embeddings");
    vec(m.rms_final, dim, "rms_final");
    mat(m.classifier, vocab, dim, "classifier");
    if (m.layers.size() != sz(c.n_layers))
        throw sqllm::error(sqllm::errc::shape_mismatch, "model: " + std::to_string(m.layers.size()) +
                                                            " layers, config says " + std::to_string(c.n_layers));
    for (sz l = 0; l < m.layers.size(); ++l) {
        const layer& L = m.layers[l];
        const std::string p = "layers." + std::to_string(l) + ".";
        vec(L.rms_att, dim, p + "rms_att");
        vec(L.rms_ffn, dim, p + "rms_ffn");
        mat(L.wq, dim, dim, p + "wq");
        mat(L.wk, kv, dim, p + "wk");
        mat(L.wv, kv, dim, p + "wv");
        mat(L.wo, dim, dim, p + "wo");
        mat(L.w1, hidden, dim, p + "w1");
        mat(L.w2, dim, hidden, p + "w2");
        mat(L.w3, hidden, dim, p + "w3");
    }
}

/// Loads an fp32 llama2.c legacy `.bin` checkpoint (read_llama2c;
/// throws its errors). Every linear layer becomes a dense_linear.
inline model load_bin(const std::string& path) {
    llama2c_model_file file = read_llama2c(path);
    const auto take = [&file](const std::string& name) {
        for (auto& t : file.tensors)
            if (t.name == name) return std::move(t);
        throw sqllm::error(sqllm::errc::corrupt_data, "load_bin: no tensor " + name);  // unreachable after read
    };
    const auto dense = [&take](const std::string& name) -> std::unique_ptr<linear> {
        llama2c_tensor t = take(name);
        return std::make_unique<dense_linear>(t.shape[0], t.shape[1], t.data);
    };
    model m;
    m.config = file.config;
    m.tok_embeddings = take("tok_embeddings").data;
    m.rms_final = take("rms_final").data;
    m.classifier = m.config.shared_classifier
                       ? std::make_unique<dense_linear>(std::size_t(m.config.vocab_size), std::size_t(m.config.dim),
                                                        m.tok_embeddings)
                       : dense("output");
    m.layers.resize(std::size_t(m.config.n_layers));
    for (std::size_t l = 0; l < m.layers.size(); ++l) {
        layer& L = m.layers[l];
        const std::string p = "layers." + std::to_string(l) + ".";
        L.rms_att = take(p + "rms_att").data;
        L.rms_ffn = take(p + "rms_ffn").data;
        L.wq = dense(p + "wq");
        L.wk = dense(p + "wk");
        L.wv = dense(p + "wv");
        L.wo = dense(p + "wo");
        L.w1 = dense(p + "w1");
        L.w2 = dense(p + "w2");
        L.w3 = dense(p + "w3");
    }
    validate(m);
    return m;
}

/// One line about `m`: its shape, and its linear weights' kinds and bytes.
inline std::string summary(const model& m) {
    validate(m);
    const auto& c = m.config;
    std::map<std::string, std::size_t> kinds;  // describe() -> matrices
    std::size_t bytes = 0, matrices = 0;
    const auto count = [&](const linear& w) {
        ++kinds[w.describe()];
        bytes += w.storage_bytes();
        ++matrices;
    };
    for (const layer& L : m.layers)
        for (const auto* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w1, &L.w2, &L.w3})
            count(**w);
    std::string out = "dim " + std::to_string(c.dim) + ", hidden " + std::to_string(c.hidden_dim) + ", " +
                      std::to_string(c.n_layers) + " layers, " + std::to_string(c.n_heads) + " heads (" +
                      std::to_string(c.n_kv_heads) + " kv), vocab " + std::to_string(c.vocab_size) + ", seq_len " +
                      std::to_string(c.seq_len) + "; " + std::to_string(matrices) + " layer matrices: ";
    bool first = true;
    for (const auto& k : kinds) {
        out += (first ? "" : ", ") + std::to_string(k.second) + " x " + k.first;
        first = false;
    }
    out += ", " + std::to_string(bytes) + " bytes; classifier " + m.classifier->describe() +
           (c.shared_classifier ? " (tied to the embedding)" : "");
    return out;
}

/// Receives the input activations of a linear layer before it is applied:
/// X is n × cols, one token per row. Names are the tensor names
/// ("layers.{l}.wq" ... "layers.{l}.w3"; "output" for the classifier). Inputs
/// shared by several layers (wq/wk/wv, w1/w3) are reported once per name.
using linear_observer =
    std::function<void(const std::string& linear_name, const float* X, std::size_t n, std::size_t cols)>;

/// The forward pass of a model, with its KV cache and scratch buffers.
/// Holds a reference to the model, which must outlive it and keep its shapes
/// (they are validated once, here). Not thread-safe; use one engine per
/// thread (they may share the model).
class engine {
public:
    /// An engine for contexts of up to `max_positions` tokens (0: the model's
    /// seq_len). Validates the model (see validate); throws
    /// errc::invalid_argument for max_positions above seq_len.
    explicit engine(const model& m, std::size_t max_positions = 0) : m_(m) {
        validate(m);
        const auto& c = m.config;
        if (max_positions > std::size_t(c.seq_len))
            throw sqllm::error(sqllm::errc::invalid_argument, "engine: max_positions " + std::to_string(max_positions) +
                                                                  " exceeds seq_len " + std::to_string(c.seq_len));
        max_pos_ = max_positions == 0 ? std::size_t(c.seq_len) : max_positions;
        const std::size_t kv = std::size_t(c.kv_dim()), half = std::size_t(c.head_size()) / 2;
        key_cache_.assign(m.layers.size() * max_pos_ * kv, 0.0f);
        value_cache_.assign(key_cache_.size(), 0.0f);
        // RoPE table: angle pos · theta^(-2i/head_size) (theta = 10000 for llama2.c), computed in double.
        rope_cos_.resize(max_pos_ * half);
        rope_sin_.resize(max_pos_ * half);
        for (std::size_t p = 0; p < max_pos_; ++p)
            for (std::size_t i = 0; i < half; ++i) {
                const double angle = double(p) * std::pow(c.rope_theta, -2.0 * double(i) / double(c.head_size()));
                rope_cos_[p * half + i] = static_cast<float>(std::cos(angle));
                rope_sin_[p * half + i] = static_cast<float>(std::sin(angle));
            }
        scores_.resize(max_pos_);
        for (std::size_t l = 0; l < m.layers.size(); ++l)
            for (std::size_t k = 0; k < linear_kinds().size(); ++k)
                names_.push_back("layers." + std::to_string(l) + "." + linear_kinds()[k]);
    }

    /// No engine over a temporary model (it would dangle).
    explicit engine(model&&, std::size_t = 0) = delete;

    /// The model this engine runs.
    const model& get_model() const { return m_; }
    /// Longest context: positions 0 ... max_positions() - 1.
    std::size_t max_positions() const { return max_pos_; }

    /// Calls `observer` with every linear layer's input from now on (an empty
    /// function turns it off).
    void set_observer(linear_observer observer) { observer_ = std::move(observer); }

    /// Logits [vocab] of the next token after `token` at position `pos`,
    /// attending to the cached positions 0 ... pos - 1, which earlier calls
    /// (forward_token, or forward_window of at least pos tokens) must have
    /// filled; caches position pos. Linear layers run as gemv. The pointer is
    /// valid until the next forward call. Throws errc::out_of_range for a bad
    /// token or pos ≥ max_positions(), errc::invalid_argument when positions
    /// before pos are not cached.
    const float* forward_token(int token, std::size_t pos) {
        if (pos > cached_)
            throw sqllm::error(sqllm::errc::invalid_argument, "forward_token: position " + std::to_string(pos) +
                                                                  " but only " + std::to_string(cached_) +
                                                                  " positions are cached");
        run(&token, 1, pos, /*batched=*/false);
        return logits_.data();
    }

    /// Logits of all positions of tokens[0 ... n), n × vocab row-major (row i
    /// predicts token i + 1), from an empty context: the window is a prefill
    /// at positions 0 ... n - 1, whatever the cache held. Linear layers run as
    /// one gemm each over the n tokens. Afterwards forward_token(t, n) can
    /// continue the sequence. The pointer is valid until the next forward
    /// call. Throws errc::out_of_range for a bad token, n = 0 or
    /// n > max_positions().
    const float* forward_window(const int* tokens, std::size_t n) {
        run(tokens, n, 0, /*batched=*/true);
        return logits_.data();
    }

private:
    /// Runs tokens[0, n) at positions pos0 ... pos0 + n - 1.
    void run(const int* tokens, std::size_t n, std::size_t pos0, bool batched) {
        const auto& c = m_.config;
        const std::size_t dim = std::size_t(c.dim), kv = std::size_t(c.kv_dim()), hidden = std::size_t(c.hidden_dim),
                          vocab = std::size_t(c.vocab_size);
        if (n == 0 || pos0 >= max_pos_ || n > max_pos_ - pos0)
            throw sqllm::error(sqllm::errc::out_of_range,
                               "engine: positions " + std::to_string(pos0) + " ... " + std::to_string(pos0 + n) +
                                   " (exclusive) outside the context of " + std::to_string(max_pos_));
        for (std::size_t i = 0; i < n; ++i)
            if (tokens[i] < 0 || std::size_t(tokens[i]) >= vocab)
                throw sqllm::error(sqllm::errc::out_of_range, "engine: token " + std::to_string(tokens[i]) +
                                                                  " outside the vocabulary of " +
                                                                  std::to_string(vocab));
        cached_ = std::min(cached_, pos0);  // positions from pos0 on are overwritten below
        reserve(n);

        for (std::size_t i = 0; i < n; ++i)
            std::copy_n(&m_.tok_embeddings[std::size_t(tokens[i]) * dim], dim, &x_[i * dim]);

        for (std::size_t l = 0; l < m_.layers.size(); ++l) {
            const layer& L = m_.layers[l];
            const std::string* name = &names_[l * linear_kinds().size()];  // wq wk wv wo w1 w2 w3

            rmsnorm(x_.data(), L.rms_att.data(), n, xb_.data());
            apply(*L.wq, name[0], xb_.data(), n, q_.data(), batched);
            apply(*L.wk, name[1], xb_.data(), n, k_.data(), batched);
            apply(*L.wv, name[2], xb_.data(), n, v_.data(), batched);
            rope(q_.data(), n, pos0, std::size_t(c.n_heads), dim);
            rope(k_.data(), n, pos0, std::size_t(c.n_kv_heads), kv);
            // Into the caches, transposed: [kv_dim][position] per layer.
            float* keys_t = &key_cache_[l * kv * max_pos_];
            float* values_t = &value_cache_[l * kv * max_pos_];
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t d = 0; d < kv; ++d) {
                    keys_t[d * max_pos_ + pos0 + i] = k_[i * kv + d];
                    values_t[d * max_pos_ + pos0 + i] = v_[i * kv + d];
                }
            attention(l, n, pos0);
            apply(*L.wo, name[3], att_.data(), n, xb_.data(), batched);
            for (std::size_t i = 0; i < n * dim; ++i)
                x_[i] += xb_[i];

            rmsnorm(x_.data(), L.rms_ffn.data(), n, xb_.data());
            apply(*L.w1, name[4], xb_.data(), n, hb_.data(), batched);
            apply(*L.w3, name[6], xb_.data(), n, hb2_.data(), batched);
            for (std::size_t i = 0; i < n * hidden; ++i) {
                const float g = hb_[i];
                hb_[i] = g / (1.0f + std::exp(-g)) * hb2_[i];  // silu(w1 x) * (w3 x)
            }
            apply(*L.w2, name[5], hb_.data(), n, xb_.data(), batched);
            for (std::size_t i = 0; i < n * dim; ++i)
                x_[i] += xb_[i];
        }
        cached_ = pos0 + n;

        rmsnorm(x_.data(), m_.rms_final.data(), n, xb_.data());
        apply(*m_.classifier, classifier_name_, xb_.data(), n, logits_.data(), batched);
    }

    /// Y = W·X through gemm (batched) or one gemv per token, after the observer.
    void apply(const linear& w, const std::string& name, const float* X, std::size_t n, float* Y, bool batched) {
        if (observer_) observer_(name, X, n, w.cols());
        if (batched) {
            w.gemm(X, n, Y);
        } else {
            for (std::size_t i = 0; i < n; ++i)
                w.gemv(X + i * w.cols(), Y + i * w.rows());
        }
    }

    /// out[i] = weight ⊙ x[i] / sqrt(mean(x[i]²) + ε) for each of the n rows (ε = config.norm_eps, 1e-5 for llama2.c).
    void rmsnorm(const float* x, const float* weight, std::size_t n, float* out) const {
        const std::size_t dim = std::size_t(m_.config.dim);
        const float eps = m_.config.norm_eps;
        for (std::size_t i = 0; i < n; ++i) {
            const float* xi = x + i * dim;
            float ss = 0.0f;
            for (std::size_t d = 0; d < dim; ++d)
                ss += xi[d] * xi[d];
            const float scale = 1.0f / std::sqrt(ss / float(dim) + eps);
            for (std::size_t d = 0; d < dim; ++d)
                out[i * dim + d] = weight[d] * (scale * xi[d]);
        }
    }

    /// Rotates the pairs (2j, 2j+1) of each of the `heads` heads of the n rows
    /// of v (row stride `stride`) by the angles of positions pos0, pos0 + 1, ...
    void rope(float* v, std::size_t n, std::size_t pos0, std::size_t heads, std::size_t stride) const {
        const std::size_t hs = std::size_t(m_.config.head_size()), half = hs / 2;
        for (std::size_t i = 0; i < n; ++i) {
            const float* cs = &rope_cos_[(pos0 + i) * half];
            const float* sn = &rope_sin_[(pos0 + i) * half];
            for (std::size_t h = 0; h < heads; ++h) {
                float* p = v + i * stride + h * hs;
                for (std::size_t j = 0; j < half; ++j) {
                    const float a = p[2 * j], b = p[2 * j + 1];
                    p[2 * j] = a * cs[j] - b * sn[j];
                    p[2 * j + 1] = a * sn[j] + b * cs[j];
                }
            }
        }
    }

    /// att_ row i = causal softmax attention of query row i (position pos0 + i)
    /// over the cached keys/values of positions 0 ... pos0 + i of layer l.
    ///
    /// Keys and values are cached transposed ([kv_dim][position]) so that
    /// every loop runs over contiguous positions: the scores accumulate as
    /// `score[s] += q[d] · keyᵀ[d][s]` (each still the dot product summed in
    /// the order d = 0, 1, ...), and each output is a dot product of the
    /// attention weights with valueᵀ[d], in lanes (see lane_dot).
    void attention(std::size_t l, std::size_t n, std::size_t pos0) {
        const auto& c = m_.config;
        const std::size_t dim = std::size_t(c.dim), kv = std::size_t(c.kv_dim()), hs = std::size_t(c.head_size()),
                          group = std::size_t(c.n_heads / c.n_kv_heads);
        const float scale = 1.0f / std::sqrt(float(hs));
        const float* keys_t = key_cache_.data() + l * kv * max_pos_;
        const float* values_t = value_cache_.data() + l * kv * max_pos_;
        float* sc = scores_.data();
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t len = pos0 + i + 1;  // positions attended to
            for (std::size_t h = 0; h < std::size_t(c.n_heads); ++h) {
                const float* q = q_.data() + i * dim + h * hs;
                const std::size_t off = (h / group) * hs;  // this head's key/value head
                std::fill_n(sc, len, 0.0f);
                for (std::size_t d = 0; d < hs; ++d) {
                    const float qd = q[d];
                    const float* kd = keys_t + (off + d) * max_pos_;
                    for (std::size_t s = 0; s < len; ++s)
                        sc[s] += qd * kd[s];
                }
                for (std::size_t s = 0; s < len; ++s)
                    sc[s] *= scale;
                const float max = lane_max(sc, len);
                for (std::size_t s = 0; s < len; ++s)
                    sc[s] = std::exp(sc[s] - max);
                const float inv_sum = 1.0f / lane_sum(sc, len);
                float* out = att_.data() + i * dim + h * hs;
                for (std::size_t d = 0; d < hs; ++d)
                    out[d] = lane_dot(sc, values_t + (off + d) * max_pos_, len) * inv_sum;
            }
        }
    }

    /// Reductions over 16 interleaved partial results (lane j takes elements
    /// j, j + 16, ...; then the lanes in order, then the tail): a fixed order,
    /// the same for every call, that compilers can vectorize without
    /// reassociating anything. A plain left-to-right loop would be one long
    /// chain of dependent additions.
    static constexpr std::size_t lanes = 16;
    static float lane_dot(const float* a, const float* b, std::size_t n) {
        float acc[lanes] = {};
        std::size_t s = 0;
        for (; s + lanes <= n; s += lanes)
            for (std::size_t j = 0; j < lanes; ++j)
                acc[j] += a[s + j] * b[s + j];
        float total = 0.0f;
        for (std::size_t j = 0; j < lanes; ++j)
            total += acc[j];
        for (; s < n; ++s)
            total += a[s] * b[s];
        return total;
    }
    static float lane_sum(const float* a, std::size_t n) {
        float acc[lanes] = {};
        std::size_t s = 0;
        for (; s + lanes <= n; s += lanes)
            for (std::size_t j = 0; j < lanes; ++j)
                acc[j] += a[s + j];
        float total = 0.0f;
        for (std::size_t j = 0; j < lanes; ++j)
            total += acc[j];
        for (; s < n; ++s)
            total += a[s];
        return total;
    }
    static float lane_max(const float* a, std::size_t n) {
        float acc[lanes];
        std::fill_n(acc, lanes, -std::numeric_limits<float>::infinity());
        std::size_t s = 0;
        for (; s + lanes <= n; s += lanes)
            for (std::size_t j = 0; j < lanes; ++j)
                acc[j] = std::max(acc[j], a[s + j]);
        float m = *std::max_element(acc, acc + lanes);
        for (; s < n; ++s)
            m = std::max(m, a[s]);
        return m;
    }

    /// Sizes the per-token buffers for n tokens (they only grow).
    void reserve(std::size_t n) {
        const auto& c = m_.config;
        const std::size_t dim = std::size_t(c.dim), hidden = std::size_t(c.hidden_dim);
        if (x_.size() >= n * dim) return;
        x_.resize(n * dim);
        xb_.resize(n * dim);
        q_.resize(n * dim);
        k_.resize(n * std::size_t(c.kv_dim()));
        v_.resize(n * std::size_t(c.kv_dim()));
        att_.resize(n * dim);
        hb_.resize(n * hidden);
        hb2_.resize(n * hidden);
        logits_.resize(n * std::size_t(c.vocab_size));
    }

    const model& m_;
    std::size_t max_pos_ = 0;
    std::size_t cached_ = 0;  // positions 0 ... cached_ - 1 hold keys and values
    linear_observer observer_;
    std::vector<std::string> names_;  // [layer][kind] observer names
    std::string classifier_name_ = "output";
    std::vector<float> key_cache_, value_cache_;  // [layer][kv_dim][position] (transposed)
    std::vector<float> rope_cos_, rope_sin_;      // [position][head_size / 2]
    std::vector<float> x_, xb_, q_, att_;         // [token][dim]: residual, normed/projected, queries, attention
    std::vector<float> k_, v_;                    // [token][kv_dim]: keys and values before they are cached
    std::vector<float> hb_, hb2_;                 // [token][hidden]: FFN gate and up projections
    std::vector<float> logits_;                   // [token][vocab]
    std::vector<float> scores_;                   // [position]: one head's attention weights
};

}  // namespace llama2c
