// sqllm/matrix/quantized_matrix.hpp — a dense-and-sparse LUT-quantized matrix.
//
// W ≈ dense + sparse, dense(r, c) = lut(r, code(r, c)), generic at compile time over
//   Bits    code width, 1..8 (K = 2^Bits LUT entries per row),
//   Lut     LUT value type: float, sqllm::half or sqllm::bfloat16 (types/lut_value.hpp),
//   Sparse  sparse format tag: csr<...>, balanced_csr<...> or no_sparse (sparse/format.hpp),
//   Layout  packed code layout: striped_layout<Bits> (the default) or
//           reference_layout<Bits> (a checkpoint's qweight as is) (layout/concept.hpp).
// quantized_view is non-owning (point it at memory-mapped weights);
// quantized_matrix owns its arrays and hands out views. Kernels take views.
//
// The defaults are named once, here: default_layout and default_sparse.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/bits.hpp"
#include "../core/checked.hpp"
#include "../core/span.hpp"
#include "../error.hpp"
#include "../layout/concept.hpp"
#include "../layout/striped.hpp"
#include "../sparse/csr.hpp"
#include "../sparse/format.hpp"
#include "../sparse/none.hpp"
#include "../types/lut_value.hpp"

SQLLM_NAMESPACE_BEGIN

/// The layout every function uses unless told otherwise: the one every
/// target has SIMD gemv and gemm for.
template <int Bits>
using default_layout = striped_layout<Bits>;

/// The sparse format every function uses unless told otherwise: the
/// reference's CSR (float values, int32 indices).
using default_sparse = csr<>;

/// Tag for constructors that skip validation, for data the caller has
/// already validated (e.g. a view re-made per call from a checked matrix).
struct unchecked_t {
    explicit unchecked_t() = default;
};
constexpr unchecked_t unchecked{};

namespace detail {
// Member types that stay well-formed for a wrong parameter, so that the
// static_asserts below are the errors a user sees.
template <class L, bool = is_layout<L>::value>
struct layout_bits : std::integral_constant<int, -1> {};
template <class L>
struct layout_bits<L, true> : std::integral_constant<int, L::bits> {};
template <class S, bool = is_sparse_format<S>::value>
struct sparse_types {
    using view = no_sparse_view;
    using storage = no_sparse_storage;
};
template <class S>
struct sparse_types<S, true> {
    using view = typename sparse_format_traits<S>::view;
    using storage = typename sparse_format_traits<S>::storage;
};

template <int Bits, class Lut, class Sparse, class Layout>
struct check_matrix_types {
    static_assert(Bits >= 1 && Bits <= 8, "sqllm: Bits must be 1..8");
    static_assert(
        is_lut_value<Lut>::value,
        "sqllm: Lut is not a LUT value type: use float, sqllm::half or sqllm::bfloat16 (types/lut_value.hpp)");
    static_assert(
        is_sparse_format<Sparse>::value,
        "sqllm: Sparse is not a sparse format: use csr<...>, balanced_csr<...> or no_sparse (sparse/format.hpp)");
    static_assert(
        is_layout<Layout>::value,
        "sqllm: Layout is not a layout: use striped_layout<Bits> or reference_layout<Bits> (layout/concept.hpp)");
    static_assert(!is_layout<Layout>::value || layout_bits<Layout>::value == Bits,
                  "sqllm: the layout packs codes of another bit width than the matrix's Bits");
    static constexpr bool value = true;
};
}  // namespace detail

template <int Bits, class Lut = float, class Sparse = default_sparse, class Layout = default_layout<Bits>>
class quantized_view {
    static_assert(detail::check_matrix_types<Bits, Lut, Sparse, Layout>::value, "");

public:
    static constexpr int bits = Bits;
    static constexpr int levels = 1 << Bits;
    using lut_type = Lut;
    using sparse_format = Sparse;
    using layout = Layout;
    using sparse_view = typename detail::sparse_types<Sparse>::view;
    using word_type = std::uint32_t;

    quantized_view() = default;

    /// Views caller-owned arrays. Checks their sizes against the shape
    /// (lut: rows·2^Bits, words: Layout::word_count(rows, cols)), the LUT for
    /// NaN/Inf and the sparse part for consistency; throws sqllm::error.
    quantized_view(std::size_t rows, std::size_t cols, span<const Lut> lut, span<const word_type> words,
                   sparse_view sparse = {})
        : rows_(rows), cols_(cols), lut_(lut.data()), words_(words.data()), sparse_(sparse) {
        detail::require(rows > 0 && cols > 0, errc::invalid_argument, "a quantized matrix needs rows > 0 and cols > 0");
        // Checked products: a wrapped rows × 2^Bits would let a short LUT pass.
        if (!(lut.size() == checked_mul(rows, levels, "LUT size (rows × 2^Bits)")))
            detail::fail(errc::shape_mismatch, "LUT has " + detail::to_string(lut.size()) +
                                                   " values, expected rows × 2^Bits = " + detail::to_string(rows) +
                                                   " × " + detail::to_string(levels));
        const std::size_t expect_words = Layout::word_count(rows, cols);
        if (!(words.size() == expect_words))
            detail::fail(errc::shape_mismatch, "packed codes have " + detail::to_string(words.size()) + " words, the " +
                                                   std::string(Layout::name) + " layout of " + detail::to_string(rows) +
                                                   " × " + detail::to_string(cols) + " needs " +
                                                   detail::to_string(expect_words));
        for (std::size_t i = 0; i < lut.size(); ++i)
            if (!(std::isfinite(lut_value_traits<Lut>::to_float(lut[i]))))
                detail::fail(errc::non_finite, "LUT value of row " + detail::to_string(i / levels) + " is NaN or Inf");
        sparse_format_traits<Sparse>::validate(sparse_, rows, cols);
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
    /// Weights kept exactly in the sparse part.
    std::size_t nonzeros() const noexcept { return sparse_format_traits<Sparse>::nonzeros(sparse_); }

    /// Code of (r, c); no bounds check.
    std::uint32_t code(std::size_t r, std::size_t c) const { return Layout::get(words_, rows_, cols_, r, c); }
    /// Dense value LUT(r, code(r, c)) as float.
    float dense_value(std::size_t r, std::size_t c) const {
        return lut_value_traits<Lut>::to_float(lut_row(r)[code(r, c)]);
    }

    /// Exact storage: packed codes (padding included) + LUT + sparse part.
    std::size_t storage_bytes() const noexcept {
        return word_count() * sizeof(word_type) + rows_ * levels * sizeof(Lut) +
               sparse_format_traits<Sparse>::storage_bytes(sparse_);
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
template <int Bits, class Lut = float, class Sparse = default_sparse, class Layout = default_layout<Bits>>
class quantized_matrix {
    static_assert(detail::check_matrix_types<Bits, Lut, Sparse, Layout>::value, "");

public:
    using view_type = quantized_view<Bits, Lut, Sparse, Layout>;
    using sparse_storage = typename detail::sparse_types<Sparse>::storage;
    using word_type = std::uint32_t;
    static constexpr int bits = Bits;
    static constexpr int levels = 1 << Bits;

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

SQLLM_NAMESPACE_END
