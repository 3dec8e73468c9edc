// sqllm/kernels/gemv.hpp — y = W·x, the decode-time multiply.
//
// sqllm::gemv picks the fastest kernel for the matrix's types and the running
// CPU: AVX-512 or AVX2 kernels (kernels/x86/row_blocks.hpp) for
// striped_layout (Bits 2, 3, 4, 8) and row_stream_layout (Bits 2, 3, 4) with
// float / half / bfloat16 LUTs, the scalar reference (kernels/reference.hpp)
// otherwise. The isa overloads run one named path (tests, benchmarks).
#pragma once

#include <string>
#include <type_traits>

#include "../arch/cpu.hpp"
#include "reference.hpp"
#include "x86/row_blocks.hpp"

namespace sqllm {

/// True if gemv has a SIMD path for these types at `level` (else it runs the
/// scalar reference whatever the level).
template <int Bits, class Lut, class Layout>
constexpr bool gemv_has_simd_path(isa level) noexcept {
    return level != isa::scalar && x86::has_gemv<Bits, Lut, Layout>::value;
}

namespace detail {

inline void require_isa(isa level) {
    if (!isa_supported(level))
        fail(errc::invalid_argument, std::string("this CPU cannot run the ") + isa_name(level) + " path");
}

}  // namespace detail

/// y = W·x with the path for `level` (isa::scalar: the reference). Throws
/// sqllm::error(invalid_argument) if this CPU cannot run `level`.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemv(isa level, const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const float> x, span<float> y,
          const Executor& exec = {}) {
    detail::require_isa(level);
    if constexpr (x86::has_gemv<Bits, Lut, Layout>::value) {
        if (level != isa::scalar) {
            detail::check_gemv_shapes(W, x.size(), y.size());
            auto body = [&](std::size_t b, std::size_t e) {
                x86::gemv_rows<Bits, Lut, Layout>(level, W.words(), W.lut(), W.cols(), x.data(), y.data(), b, e);
                detail::sparse_gemv_rows<Sparse>(W.sparse(), x.data(), y.data(), b, e);  // one pass over y
            };
            parallel_blocks(exec, W.rows(), detail::row_tasks(W.rows(), W.cols(), exec.concurrency()), body);
            detail::sparse_gemv_split<Sparse>(W.sparse(), x.data(), y.data(), exec);
            return;
        }
    }
    reference::gemv(W, x, y, exec);
}

/// y = W·x with the best path this CPU runs (see reference::gemv for the
/// conventions). Results match the reference within float32 rounding.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemv(const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const float> x, span<float> y,
          const Executor& exec = {}) {
    gemv(best_isa(), W, x, y, exec);
}

}  // namespace sqllm
