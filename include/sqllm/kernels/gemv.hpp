// sqllm/kernels/gemv.hpp — the public multiply entry points.
//
// sqllm::gemv picks the fastest kernel for the matrix's types and the running
// CPU: the AVX-512 or AVX2 row kernels (kernels/x86/lut_gemv.hpp) for
// row_stream_layout with Bits 2, 3, 4 and float / half / bfloat16 LUTs, the
// scalar reference (kernels/reference.hpp) otherwise. sqllm::gemm is the
// reference for now. The isa overloads run one named path (tests, benchmarks).
#pragma once

#include <type_traits>

#include "../arch/cpu.hpp"
#include "../layout/row_stream.hpp"
#include "reference.hpp"
#include "x86/lut_gemv.hpp"

namespace sqllm {
namespace detail {

template <int Bits, class Lut, class Layout>
struct has_x86_gemv
    : std::integral_constant<bool, SQLLM_X86_DISPATCH && x86::has_simd_rows<Bits>::value &&
                                       std::is_same<Layout, row_stream_layout<Bits>>::value &&
                                       (std::is_same<Lut, float>::value || std::is_same<Lut, half>::value ||
                                        std::is_same<Lut, bfloat16>::value)> {};

#if SQLLM_X86_DISPATCH
// Dense rows [b, e) of y = W·x with the row kernel for `level`. The kernels
// are compiled for their isa (target attributes); this loop calls one per row.
template <int Bits, class Lut, class View>
void dense_rows_x86(isa level, const View& W, const float* x, float* y, std::size_t b, std::size_t e) {
    const auto dot = level == isa::avx512 ? &x86::row_dot_avx512<Bits, Lut> : &x86::row_dot_avx2<Bits, Lut>;
    const std::size_t row_bytes = row_stream_layout<Bits>::words_per_row(W.cols()) * sizeof(std::uint32_t);
    const auto* base = reinterpret_cast<const unsigned char*>(W.words());
    for (std::size_t r = b; r < e; ++r)
        y[r] = dot(base + r * row_bytes, row_bytes, W.cols(), W.lut_row(r), x);
}
#endif

template <int Bits, class Lut, class Sparse, class Layout, class Executor>
void gemv_x86(isa level, const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const float> x, span<float> y,
              const Executor& exec, std::true_type) {
#if SQLLM_X86_DISPATCH
    check_gemv_shapes(W, x.size(), y.size());
    auto body = [&](std::size_t b, std::size_t e) {
        dense_rows_x86<Bits, Lut>(level, W, x.data(), y.data(), b, e);
        accumulate_gemv(W.sparse(), x.data(), y.data(), b, e);  // same row block: one pass over y
    };
    parallel_blocks(exec, W.rows(), row_tasks(W.rows(), W.cols(), exec.concurrency()), body);
#else
    (void)level;
    reference::gemv(W, x, y, exec);
#endif
}
template <int Bits, class Lut, class Sparse, class Layout, class Executor>
void gemv_x86(isa, const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const float> x, span<float> y,
              const Executor& exec, std::false_type) {
    reference::gemv(W, x, y, exec);
}

}  // namespace detail

/// True if gemv has a SIMD path for these types at `level` (else it runs the
/// scalar reference whatever the level).
template <int Bits, class Lut, class Layout>
constexpr bool gemv_has_simd_path(isa level) noexcept {
    return level != isa::scalar && detail::has_x86_gemv<Bits, Lut, Layout>::value;
}

/// y = W·x with the path for `level` (isa::scalar: the reference). Throws
/// sqllm::error(invalid_argument) if this CPU cannot run `level`.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemv(isa level, const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const float> x, span<float> y,
          const Executor& exec = {}) {
    if (!isa_supported(level))
        detail::fail(errc::invalid_argument, std::string("this CPU cannot run the ") + isa_name(level) + " path");
    if (level == isa::scalar) return reference::gemv(W, x, y, exec);
    detail::gemv_x86(level, W, x, y, exec, detail::has_x86_gemv<Bits, Lut, Layout>{});
}

/// y = W·x with the best path this CPU runs (see reference::gemv for the
/// conventions). Results match the reference within float32 rounding.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemv(const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const float> x, span<float> y,
          const Executor& exec = {}) {
    gemv(best_isa(), W, x, y, exec);
}

/// Y = W·X for a batch of activation vectors (see reference::gemm).
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemm(const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const float> X, matrix_view<float> Y,
          const Executor& exec = {}) {
    reference::gemm(W, X, Y, exec);
}

}  // namespace sqllm
