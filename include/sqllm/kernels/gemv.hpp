// sqllm/kernels/gemv.hpp — y = W·x, the decode-time multiply.
//
// The work is split by rows across the executor's tasks; each task runs the
// dense rows through the chosen target's driver for the matrix's layout
// (kernels/layout_kernels.hpp) and, for row-fused sparse formats, its rows'
// sparse terms, slice by slice of 16 rows (row_blocks.hpp: sparse_slice_rows);
// formats that split their own work run after all tasks (sparse/format.hpp).
// The target is chosen once per call, at the one dispatch point
// (target/dispatch.hpp): the best one this CPU runs that has a kernel for the
// layout, or the one the caller forces.
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
#include "output_pass.hpp"
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

/// y = W·x in fp32, then `finish` (if any) on each block of rows: in the
/// same task for row-fused sparse formats, in a second parallel pass after
/// the split sparse multiply otherwise.
template <class Tag, int Bits, class Lut, class Sparse, class Layout, class Executor>
void gemv_on(Tag tag, const quantized_view<Bits, Lut, Sparse, Layout>& W, const float* x, float* y,
             const Executor& exec, const output_pass* finish = nullptr) {
    using S = sparse_format_traits<Sparse>;
    if (finish && finish->trivial()) finish = nullptr;
    const std::size_t tasks = row_tasks(W.rows(), W.cols(), exec.concurrency());
    parallel_blocks(
        exec, W.rows(), tasks,
        [&](std::size_t b, std::size_t e) {
            if constexpr (S::row_fused) {
                // Dense then sparse terms of each slice of rows (every y
                // element sums in the same order whatever the slicing).
                for_each_slice(b, e, sparse_slice_rows, W.nonzeros() == 0, [&](std::size_t sb, std::size_t se) {
                    gemv_dense_rows(tag, W, x, y, sb, se);
                    S::gemv_rows(W.sparse(), x, y, sb, se);
                });
                if (finish) (*finish)(b, e);
            } else {
                gemv_dense_rows(tag, W, x, y, b, e);
            }
        },
        layout_kernels<Layout>::row_align);
    if constexpr (!S::row_fused) {
        S::gemv_split(W.sparse(), x, y, exec);
        if (finish) parallel_blocks(exec, W.rows(), tasks, *finish);
    }
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

/// True for the activation and output types gemv and gemm take: float,
/// sqllm::half and sqllm::bfloat16.
template <class T>
struct is_activation : is_lut_value<std::remove_const_t<T>> {};

/// y = W·x on target t, with x and y of any activation type (float, half,
/// bfloat16; fp32 accumulation, rounded once to y's type). Other than fp32
/// activations cost one conversion of x (cols values) and an fp32 array of
/// rows floats, allocated per call. Errors as gemv(target_id, ...) above.
template <class XT, class YT, int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor,
          class = std::enable_if_t<is_activation<XT>::value && is_activation<YT>::value &&
                                   !(std::is_same<XT, float>::value && std::is_same<YT, float>::value)>>
void gemv(target_id t, const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const XT> x, span<YT> y,
          const Executor& exec = {}) {
    if (!has_kernel(t, W))
        require_target<layout_kernels<Layout>>(t, detail::kernel_description<Bits, Lut, Layout>("gemv").c_str());
    detail::check_gemv_shapes(W.rows(), W.cols(), x.size(), y.size());
    detail::typed_batch batch(t, {x.data(), scalar_type_of<XT>::value, 1, x.size(), x.size()},
                                    {y.data(), scalar_type_of<YT>::value, 1, y.size(), y.size()}, bias_ref{});
    with_target(t, [&](auto tag) {
        detail::gemv_on(tag, W, batch.X32.row(0), batch.Y32.row(0), exec, &batch.finish);
    });
}

/// y = W·x on kernel_target(W), x and y of any activation type (see above).
template <class XT, class YT, int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor,
          class = std::enable_if_t<is_activation<XT>::value && is_activation<YT>::value &&
                                   !(std::is_same<XT, float>::value && std::is_same<YT, float>::value)>>
void gemv(const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const XT> x, span<YT> y, const Executor& exec = {}) {
    gemv(kernel_target(W), W, x, y, exec);
}

SQLLM_NAMESPACE_END
