// sqllm/core/quantized_matrix.hpp — a dense-and-sparse LUT-quantized matrix.
//
// W ≈ dense + sparse, dense(r, c) = lut(r, code(r, c)), generic at compile time over
//   Bits    code width, 1..8 (K = 2^Bits LUT entries per row),
//   Lut     LUT value type: float, sqllm::half or sqllm::bfloat16,
//   Sparse  sparse format tag: csr<...> or no_sparse,
//   Layout  packed code layout: row_stream_layout<Bits> (default) or reference_layout<Bits>.
// quantized_view is non-owning (point it at memory-mapped weights);
// quantized_matrix owns its arrays and hands out views. Kernels take views.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../layout/row_stream.hpp"
#include "../sparse/csr.hpp"
#include "../sparse/none.hpp"
#include "../types/lut_value.hpp"
#include "bits.hpp"
#include "span.hpp"

namespace sqllm {

/// Tag for constructors that skip validation, for data the caller has
/// already validated (e.g. a view re-made per call from a checked matrix).
struct unchecked_t {
    explicit unchecked_t() = default;
};
constexpr unchecked_t unchecked{};

template <int Bits, class Lut = float, class Sparse = csr<>, class Layout = row_stream_layout<Bits>>
class quantized_view {
    static_assert(is_lut_value<Lut>::value, "the LUT type must be float, sqllm::half or sqllm::bfloat16");
    static_assert(Layout::bits == Bits, "the layout's bit width must match the matrix's");

public:
    static constexpr int bits = Bits;
    static constexpr int levels = bit_width<Bits>::levels;
    using lut_type = Lut;
    using sparse_format = Sparse;
    using layout = Layout;
    using sparse_view = typename sparse_format_traits<Sparse>::view;
    using word_type = std::uint32_t;

    quantized_view() = default;

    /// Views caller-owned arrays. Checks their sizes against the shape
    /// (lut: rows·2^Bits, words: Layout::word_count(rows, cols)), the LUT for
    /// NaN/Inf and the sparse part for consistency; throws sqllm::error.
    quantized_view(std::size_t rows, std::size_t cols, span<const Lut> lut, span<const word_type> words,
                   sparse_view sparse = {})
        : rows_(rows), cols_(cols), lut_(lut.data()), words_(words.data()), sparse_(sparse) {
        detail::require(rows > 0 && cols > 0, errc::invalid_argument, "a quantized matrix needs rows > 0 and cols > 0");
        if (!(lut.size() == rows * levels))
            detail::fail(errc::shape_mismatch, "LUT has " + std::to_string(lut.size()) +
                                                   " values, expected rows × 2^Bits = " + std::to_string(rows) + " × " +
                                                   std::to_string(levels));
        if (!(words.size() == Layout::word_count(rows, cols)))
            detail::fail(errc::shape_mismatch, "packed codes have " + std::to_string(words.size()) + " words, the " +
                                                   std::string(Layout::name) + " layout of " + std::to_string(rows) +
                                                   " × " + std::to_string(cols) + " needs " +
                                                   std::to_string(Layout::word_count(rows, cols)));
        for (std::size_t i = 0; i < lut.size(); ++i)
            if (!(std::isfinite(lut_value_traits<Lut>::to_float(lut[i]))))
                detail::fail(errc::non_finite, "LUT value of row " + std::to_string(i / levels) + " is NaN or Inf");
        validate(sparse_, rows, cols);
    }

    /// Views the arrays without any check (sizes included): the caller vouches for them.
    quantized_view(unchecked_t, std::size_t rows, std::size_t cols, const Lut* lut, const word_type* words,
                   sparse_view sparse = {}) noexcept
        : rows_(rows), cols_(cols), lut_(lut), words_(words), sparse_(sparse) {}

    std::size_t rows() const noexcept { return rows_; }
    std::size_t cols() const noexcept { return cols_; }
    /// The LUT, rows × 2^Bits, row-major.
    const Lut* lut() const noexcept { return lut_; }
    const Lut* lut_row(std::size_t r) const noexcept { return lut_ + r * levels; }
    /// Packed codes in Layout.
    const word_type* words() const noexcept { return words_; }
    std::size_t word_count() const noexcept { return Layout::word_count(rows_, cols_); }
    const sparse_view& sparse() const noexcept { return sparse_; }

    /// Code of (r, c); no bounds check.
    std::uint32_t code(std::size_t r, std::size_t c) const { return Layout::get(words_, rows_, cols_, r, c); }
    /// Dense value LUT(r, code(r, c)) as float.
    float dense_value(std::size_t r, std::size_t c) const {
        return lut_value_traits<Lut>::to_float(lut_row(r)[code(r, c)]);
    }

    /// Exact storage: packed codes (padding included) + LUT + sparse part.
    std::size_t storage_bytes() const noexcept {
        return word_count() * sizeof(word_type) + rows_ * levels * sizeof(Lut) + sqllm::storage_bytes(sparse_);
    }
    /// storage_bytes() · 8 / (rows · cols).
    double bits_per_weight() const noexcept {
        return rows_ && cols_ ? static_cast<double>(storage_bytes()) * 8.0 / (static_cast<double>(rows_) * cols_) : 0.0;
    }

private:
    std::size_t rows_ = 0;
    std::size_t cols_ = 0;
    const Lut* lut_ = nullptr;
    const word_type* words_ = nullptr;
    sparse_view sparse_{};
};

/// Owning counterpart of quantized_view: holds the LUT, the packed codes and
/// the sparse part in std::vectors.
template <int Bits, class Lut = float, class Sparse = csr<>, class Layout = row_stream_layout<Bits>>
class quantized_matrix {
public:
    using view_type = quantized_view<Bits, Lut, Sparse, Layout>;
    using sparse_storage = typename sparse_format_traits<Sparse>::storage;
    using word_type = std::uint32_t;
    static constexpr int bits = Bits;
    static constexpr int levels = bit_width<Bits>::levels;

    quantized_matrix() = default;

    /// Takes ownership of the arrays after validating them as quantized_view does.
    quantized_matrix(std::size_t rows, std::size_t cols, std::vector<Lut> lut, std::vector<word_type> words,
                     sparse_storage sparse = {})
        : rows_(rows), cols_(cols), lut_(std::move(lut)), words_(std::move(words)), sparse_(std::move(sparse)) {
        (void)view_type(rows_, cols_, lut_, words_, sparse_.view());  // validates
    }

    std::size_t rows() const noexcept { return rows_; }
    std::size_t cols() const noexcept { return cols_; }
    const std::vector<Lut>& lut() const noexcept { return lut_; }
    const std::vector<word_type>& words() const noexcept { return words_; }
    const sparse_storage& sparse() const noexcept { return sparse_; }

    /// A view of this matrix (validated once, at construction).
    view_type view() const noexcept {
        return view_type(unchecked, rows_, cols_, lut_.data(), words_.data(), sparse_.view());
    }
    std::size_t storage_bytes() const noexcept { return view().storage_bytes(); }
    double bits_per_weight() const noexcept { return view().bits_per_weight(); }

private:
    std::size_t rows_ = 0;
    std::size_t cols_ = 0;
    std::vector<Lut> lut_;
    std::vector<word_type> words_;
    sparse_storage sparse_;
};

}  // namespace sqllm
