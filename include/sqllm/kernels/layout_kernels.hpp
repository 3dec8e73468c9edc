// sqllm/kernels/layout_kernels.hpp — which driver reads which layout: the
// kernel set of a layout, as target/dispatch.hpp wants it.
//
// layout_kernels<L>::has(t) says whether target t has gemv/gemm code for L;
// gemv/gemm<Entry, Lut> call the driver through a target's entry points
// (kernels/per_target.hpp); row_align is the row granularity the driver
// prefers for task boundaries. A layout without a specialisation runs the
// scalar oracle (kernels/reference.hpp) and has no other target.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../config.hpp"
#include "../core/span.hpp"
#include "../layout/reference.hpp"
#include "../layout/striped.hpp"
#include "../target/cpu.hpp"
#include "row_blocks.hpp"

SQLLM_NAMESPACE_BEGIN

template <class Layout>
struct layout_kernels {
    static constexpr bool driven = false;  ///< no driver: the scalar oracle
    static constexpr const char* driver = "oracle";
    static constexpr std::size_t row_align = 1;
    static constexpr bool has(target_id t) noexcept { return t == target_id::scalar; }
};

/// striped_layout: kernels/driver/striped.inl.
template <int Bits>
struct layout_kernels<striped_layout<Bits>> {
    static constexpr bool driven = true;
    static constexpr const char* driver = "striped";
    static constexpr std::size_t row_align = detail::striped_tile_rows;  // tasks start where tiles do
    static constexpr bool has(target_id t) noexcept { return target_compiled(t); }
    template <class Entry, class Lut>
    static void gemv(const std::uint32_t* words, const Lut* lut, std::size_t rows, std::size_t cols, const float* x,
                     float* y, std::size_t b, std::size_t e) noexcept {
        Entry::template striped_gemv<Bits, Lut>(words, lut, rows, cols, x, y, b, e);
    }
    template <class Entry, class Lut>
    static void gemm(const std::uint32_t* words, const Lut* lut, std::size_t rows, std::size_t cols,
                     matrix_view<const float> X, matrix_view<float> Y, std::size_t b, std::size_t e) noexcept {
        Entry::template striped_gemm<Bits, Lut>(words, lut, rows, cols, X, Y, b, e);
    }
};

/// reference_layout: kernels/driver/row_lanes.inl (rows in SIMD lanes).
template <int Bits>
struct layout_kernels<reference_layout<Bits>> {
    static constexpr bool driven = true;
    static constexpr const char* driver = "row_lanes";
    static constexpr std::size_t row_align = 16;  // whole lines of each word row at every target's width
    static constexpr bool has(target_id t) noexcept { return target_compiled(t); }
    template <class Entry, class Lut>
    static void gemv(const std::uint32_t* words, const Lut* lut, std::size_t rows, std::size_t cols, const float* x,
                     float* y, std::size_t b, std::size_t e) noexcept {
        Entry::template row_lanes_gemv<Bits, Lut>(words, lut, rows, cols, x, y, b, e);
    }
    template <class Entry, class Lut>
    static void gemm(const std::uint32_t* words, const Lut* lut, std::size_t rows, std::size_t cols,
                     matrix_view<const float> X, matrix_view<float> Y, std::size_t b, std::size_t e) noexcept {
        Entry::template row_lanes_gemm<Bits, Lut>(words, lut, rows, cols, X, Y, b, e);
    }
};

SQLLM_NAMESPACE_END
