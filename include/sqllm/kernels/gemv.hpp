// sqllm/kernels/gemv.hpp — y = W·x, the decode-time multiply.
//
// The work is split by rows across the executor's tasks; each task runs the
// dense rows through the chosen target's driver for the matrix's layout
// (kernels/layout_kernels.hpp), then, for row-fused sparse formats, its rows'
// sparse terms; formats that split their own work run after all tasks
// (sparse/format.hpp). The target is chosen once per call, at the one
// dispatch point (target/dispatch.hpp): the best one this CPU runs that has a
// kernel for the layout, or the one the caller forces.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>

#include "../config.hpp"
#include "../core/executor.hpp"
#include "../core/span.hpp"
#include "../matrix/quantized_matrix.hpp"
#include "../target/dispatch.hpp"
#include "layout_kernels.hpp"
#include "per_target.hpp"
#include "reference.hpp"
#include "row_blocks.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {

/// "gemv of a 3-bit striped matrix with f16 LUT" (for error messages).
template <int Bits, class Lut, class Layout>
std::string kernel_description(const char* op) {
    return std::string(op) + " of a " + detail::to_string(Bits) + "-bit " + Layout::name + " matrix with " +
           lut_value_traits<Lut>::name + " LUT";
}

/// The dense rows [b, e) of gemv on target Tag (a compiled target that has a
/// kernel for Layout, or scalar).
template <class Tag, int Bits, class Lut, class Sparse, class Layout>
void gemv_dense_rows(Tag, const quantized_view<Bits, Lut, Sparse, Layout>& W, const float* x, float* y, std::size_t b,
                     std::size_t e) {
    using K = layout_kernels<Layout>;
    if constexpr (K::driven)
        K::template gemv<typename impl_of<Tag>::type, Lut>(W.words(), W.lut(), W.rows(), W.cols(), x, y, b, e);
    else
        oracle_gemv_rows(W, x, y, b, e);
}

template <class Tag, int Bits, class Lut, class Sparse, class Layout, class Executor>
void gemv_on(Tag tag, const quantized_view<Bits, Lut, Sparse, Layout>& W, const float* x, float* y,
             const Executor& exec) {
    using S = sparse_format_traits<Sparse>;
    parallel_blocks(
        exec, W.rows(), row_tasks(W.rows(), W.cols(), exec.concurrency()),
        [&](std::size_t b, std::size_t e) {
            gemv_dense_rows(tag, W, x, y, b, e);
            if constexpr (S::row_fused) S::gemv_rows(W.sparse(), x, y, b, e);  // one pass over y
        },
        layout_kernels<Layout>::row_align);
    if constexpr (!S::row_fused) S::gemv_split(W.sparse(), x, y, exec);
}

}  // namespace detail

/// The target gemv(W, ...) and gemm(W, ...) run on: the best target this
/// CPU runs that has a kernel for W's layout (scalar at worst).
template <int Bits, class Lut, class Sparse, class Layout>
target_id kernel_target(const quantized_view<Bits, Lut, Sparse, Layout>&) noexcept {
    return choose_target<layout_kernels<Layout>>();
}

/// True if target t has gemv and gemm kernels for W's types and this CPU runs t.
template <int Bits, class Lut, class Sparse, class Layout>
bool has_kernel(target_id t, const quantized_view<Bits, Lut, Sparse, Layout>&) noexcept {
    return target_supported(t) && layout_kernels<Layout>::has(t);
}

/// y = W·x on target t. Throws sqllm::error(invalid_argument) if this build
/// or CPU lacks t or t has no kernel for W's types (never a silent
/// fallback), sqllm::error(shape_mismatch) if x or y does not fit W.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemv(target_id t, const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const float> x, span<float> y,
          const Executor& exec = {}) {
    if (!has_kernel(t, W))  // the message is built only to throw (calls allocate nothing)
        require_target<layout_kernels<Layout>>(t, detail::kernel_description<Bits, Lut, Layout>("gemv").c_str());
    detail::check_gemv_shapes(W.rows(), W.cols(), x.size(), y.size());
    with_target(t, [&](auto tag) { detail::gemv_on(tag, W, x.data(), y.data(), exec); });
}

/// y = W·x on the target named by a tag, e.g. gemv(sqllm::target::avx2{}, W, x, y).
template <class Target, int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor,
          class = std::enable_if_t<is_target<Target>::value>>
void gemv(Target, const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const float> x, span<float> y,
          const Executor& exec = {}) {
    gemv(Target::id, W, x, y, exec);
}

/// y = W·x on kernel_target(W). x has W.cols() values, y W.rows(); y is
/// overwritten. fp32 arithmetic throughout: the result differs from
/// reference::gemv only by summation order.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemv(const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const float> x, span<float> y,
          const Executor& exec = {}) {
    detail::check_gemv_shapes(W.rows(), W.cols(), x.size(), y.size());
    with_target(kernel_target(W), [&](auto tag) { detail::gemv_on(tag, W, x.data(), y.data(), exec); });
}

SQLLM_NAMESPACE_END
