// sqllm/kernels/dense.hpp — fp32 GEMV / GEMM for unquantized weights.
//
// For the layers an engine keeps in fp32 (embeddings used as an output head,
// small projections), and the yardstick the LUT kernels are benchmarked
// against: the same register tile (kernels/driver/tile.inl), prefetch
// distance, row split and dispatch as the LUT kernels, so the ratio between
// the two measures the weight format, not the care taken.
#pragma once

#include <cstddef>

#include "../config.hpp"
#include "../core/executor.hpp"
#include "../core/span.hpp"
#include "../target/dispatch.hpp"
#include "per_target.hpp"
#include "row_blocks.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {

/// Every compiled target has the dense kernels.
struct dense_kernels {
    static constexpr bool has(target_id t) noexcept { return target_compiled(t); }
};

template <class Executor>
void dense_gemv_on(target_id t, matrix_view<const float> W, const float* x, float* y, const Executor& exec) {
    with_target(t, [&](auto tag) {
        using E = typename impl_of<decltype(tag)>::type;
        parallel_blocks(exec, W.rows(), row_tasks(W.rows(), W.cols(), exec.concurrency()),
                        [&](std::size_t b, std::size_t e) { E::dense_gemv(W, x, y, b, e); });
    });
}

template <class Executor>
void dense_gemm_on(target_id t, matrix_view<const float> W, matrix_view<const float> X, matrix_view<float> Y,
                   const Executor& exec) {
    if (X.rows() == 1) return dense_gemv_on(t, W, X.row(0), Y.row(0), exec);
    with_target(t, [&](auto tag) {
        using E = typename impl_of<decltype(tag)>::type;
        parallel_blocks(exec, W.rows(), row_tasks(W.rows(), W.cols(), exec.concurrency()),
                        [&](std::size_t b, std::size_t e) { E::dense_gemm(W, X, Y, b, e); });
    });
}

}  // namespace detail

/// The target dense_gemv and dense_gemm run on by default.
inline target_id dense_target() noexcept { return choose_target<detail::dense_kernels>(); }

/// y = W·x for a row-major fp32 W (any row stride), on target t (by default
/// dense_target()). Throws sqllm::error on a shape mismatch or a target this
/// build or CPU lacks.
template <class Executor = sequential_executor>
void dense_gemv(target_id t, matrix_view<const float> W, span<const float> x, span<float> y, const Executor& exec = {}) {
    require_target<detail::dense_kernels>(t, "dense_gemv");
    detail::check_gemv_shapes(W.rows(), W.cols(), x.size(), y.size());
    detail::dense_gemv_on(t, W, x.data(), y.data(), exec);
}
template <class Executor = sequential_executor>
void dense_gemv(matrix_view<const float> W, span<const float> x, span<float> y, const Executor& exec = {}) {
    detail::check_gemv_shapes(W.rows(), W.cols(), x.size(), y.size());
    detail::dense_gemv_on(dense_target(), W, x.data(), y.data(), exec);
}

/// Y = W·X (X: N × cols, Y: N × rows) for a row-major fp32 W.
template <class Executor = sequential_executor>
void dense_gemm(target_id t, matrix_view<const float> W, matrix_view<const float> X, matrix_view<float> Y,
                const Executor& exec = {}) {
    require_target<detail::dense_kernels>(t, "dense_gemm");
    detail::check_gemm_shapes(W.rows(), W.cols(), X.rows(), X.cols(), Y.rows(), Y.cols());
    if (X.rows() != 0) detail::dense_gemm_on(t, W, X, Y, exec);
}
template <class Executor = sequential_executor>
void dense_gemm(matrix_view<const float> W, matrix_view<const float> X, matrix_view<float> Y,
                const Executor& exec = {}) {
    detail::check_gemm_shapes(W.rows(), W.cols(), X.rows(), X.cols(), Y.rows(), Y.cols());
    if (X.rows() != 0) detail::dense_gemm_on(dense_target(), W, X, Y, exec);
}

SQLLM_NAMESPACE_END
