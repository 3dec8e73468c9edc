// linear.hpp — the one interface every linear layer of the llama2c example
// goes through, and its fp32 implementation.
//
// The forward pass (model.hpp) never touches weights directly: a quantized
// implementation (LUT codes + sparse part) replaces dense_linear without any
// other change, so fp32 and quantized models run exactly the same code.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <sqllm/error.hpp>

namespace llama2c {

/// y = W·x for one token, Y = W·X for a batch. W is rows × cols (out × in).
class linear {
public:
    virtual ~linear() = default;
    /// Output features (rows of W).
    virtual std::size_t rows() const = 0;
    /// Input features (columns of W).
    virtual std::size_t cols() const = 0;
    /// y[rows] = W · x[cols]
    virtual void gemv(const float* x, float* y) const = 0;
    /// X: n × cols (one token per row), Y: n × rows
    virtual void gemm(const float* X, std::size_t n, float* Y) const = 0;
    /// bytes of weight storage
    virtual std::size_t storage_bytes() const = 0;
    /// e.g. "fp32" or "3-bit LUT + 0.45% CSR"
    virtual std::string describe() const = 0;
};

/// An fp32 weight matrix.
///
/// Stored transposed, Wᵀ [cols][rows], so that both products are plain loops
/// every compiler vectorizes without reassociating a sum: y = Σ_c x[c] · Wᵀ[c]
/// accumulates whole rows of Wᵀ into y (contiguous, independent outputs), in
/// column order c = 0, 1, ... — the order of a textbook dot product. gemm
/// runs the same accumulation for 4 tokens at a time, so that each row of Wᵀ
/// is read once per 4 tokens while their outputs stay in L1. gemv and gemm
/// therefore compute every output with the same operations in the same
/// order, and agree to the last bit.
class dense_linear final : public linear {
public:
    /// W = weights, row-major [rows][cols] (rows · cols values). Throws
    /// sqllm::error: errc::invalid_argument when a dimension is 0,
    /// errc::shape_mismatch when the size is not rows · cols.
    dense_linear(std::size_t rows, std::size_t cols, const std::vector<float>& weights) : rows_(rows), cols_(cols) {
        if (rows == 0 || cols == 0)
            throw sqllm::error(sqllm::errc::invalid_argument, "dense_linear: empty " + std::to_string(rows) + " x " +
                                                                  std::to_string(cols) + " matrix");
        if (weights.size() / cols != rows || weights.size() % cols != 0)
            throw sqllm::error(sqllm::errc::shape_mismatch, "dense_linear: " + std::to_string(weights.size()) +
                                                                " weights for a " + std::to_string(rows) + " x " +
                                                                std::to_string(cols) + " matrix");
        wt_.resize(weights.size());
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols; ++c)
                wt_[c * rows + r] = weights[r * cols + c];
    }

    std::size_t rows() const override { return rows_; }
    std::size_t cols() const override { return cols_; }

    void gemv(const float* x, float* y) const override {
        std::fill_n(y, rows_, 0.0f);
        for (std::size_t c = 0; c < cols_; ++c)
            accumulate(x[c], &wt_[c * rows_], y);
    }

    void gemm(const float* X, std::size_t n, float* Y) const override {
        std::fill_n(Y, n * rows_, 0.0f);
        for (std::size_t t0 = 0; t0 < n; t0 += tile_tokens) {
            const std::size_t t1 = std::min(n, t0 + tile_tokens);
            for (std::size_t c = 0; c < cols_; ++c)
                for (std::size_t t = t0; t < t1; ++t)
                    accumulate(X[t * cols_ + c], &wt_[c * rows_], Y + t * rows_);
        }
    }

    std::size_t storage_bytes() const override { return wt_.size() * sizeof(float); }
    std::string describe() const override { return "fp32"; }

    /// W[r][c].
    float weight(std::size_t r, std::size_t c) const { return wt_[c * rows_ + r]; }

private:
    static constexpr std::size_t tile_tokens = 4;

    /// y[r] += a · w[r] for every row r.
    void accumulate(float a, const float* w, float* y) const {
        for (std::size_t r = 0; r < rows_; ++r)
            y[r] += a * w[r];
    }

    std::size_t rows_, cols_;
    std::vector<float> wt_;  // Wᵀ: [cols][rows]
};

}  // namespace llama2c
