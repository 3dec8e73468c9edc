// sqllm/kernels/gemv.hpp — the public multiply entry points.
//
// sqllm::gemv / sqllm::gemm pick the fastest kernel available for the
// matrix's types and the running CPU; today that is the scalar reference
// (kernels/reference.hpp), which SIMD paths will be tested against.
#pragma once

#include "reference.hpp"

namespace sqllm {

/// y = W·x (see reference::gemv for the conventions).
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemv(const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const float> x, span<float> y,
          const Executor& exec = {}) {
    reference::gemv(W, x, y, exec);
}

/// Y = W·X for a batch of activation vectors (see reference::gemm).
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemm(const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const float> X, matrix_view<float> Y,
          const Executor& exec = {}) {
    reference::gemm(W, X, Y, exec);
}

}  // namespace sqllm
