// sqllm/kernels/gemm.hpp — Y = W·X for a small batch of activation vectors
// (2–64: speculative decoding, batched serving, prefill chunks).
//
// For striped_layout with Bits 2, 3, 4, 8 and float / half / bfloat16 LUTs
// the AVX-512 / AVX2 kernels decode a tile of rows to fp32 once and reuse it
// for every batch vector (kernels/x86/row_blocks.hpp); other types run the
// scalar reference. A batch of one is routed to gemv.
#pragma once

#include <type_traits>

#include "gemv.hpp"

namespace sqllm {

/// True if gemm has a SIMD path for these types at `level`.
template <int Bits, class Lut, class Layout>
constexpr bool gemm_has_simd_path(isa level) noexcept {
    return level != isa::scalar && x86::has_gemm<Bits, Lut, Layout>::value;
}

/// Y = W·X with the path for `level` (isa::scalar: the reference). X is
/// N × cols (one activation vector per row), Y is N × rows, overwritten.
/// Throws sqllm::error(invalid_argument) if this CPU cannot run `level`.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemm(isa level, const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const float> X,
          matrix_view<float> Y, const Executor& exec = {}) {
    detail::require_isa(level);
    if constexpr (x86::has_gemm<Bits, Lut, Layout>::value) {
        if (level != isa::scalar) {
            detail::check_gemm_shapes(W, X.rows(), X.cols(), Y.rows(), Y.cols());
            if (X.rows() == 1)
                return gemv(level, W, span<const float>(X.row(0), X.cols()), span<float>(Y.row(0), Y.cols()), exec);
            auto body = [&](std::size_t b, std::size_t e) {
                x86::gemm_rows<Bits, Lut>(level, W.words(), W.lut(), W.cols(), X, Y, b, e);
                detail::sparse_gemm_rows<Sparse>(W.sparse(), X, Y, b, e);
            };
            parallel_blocks(exec, W.rows(), detail::row_tasks(W.rows(), W.cols(), exec.concurrency()), body);
            detail::sparse_gemm_split<Sparse>(W.sparse(), X, Y, exec);
            return;
        }
    }
    reference::gemm(W, X, Y, exec);
}

/// Y = W·X with the best path this CPU runs. Results match reference::gemm
/// within float32 rounding.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemm(const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const float> X, matrix_view<float> Y,
          const Executor& exec = {}) {
    gemm(best_isa(), W, X, Y, exec);
}

}  // namespace sqllm
