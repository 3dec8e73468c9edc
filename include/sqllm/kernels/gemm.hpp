// sqllm/kernels/gemm.hpp — Y = W·X for a small batch of activation vectors
// (2–64: speculative decoding, batched serving, prefill chunks).
//
// As gemv.hpp, with the layout's gemm driver: a tile of rows is decoded to
// fp32 once and reused for every batch vector. A batch of one is gemv.
#pragma once

#include <cstddef>
#include <type_traits>

#include "../config.hpp"
#include "../core/abi_std.hpp"
#include "gemv.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {

/// X packed by column into `data` (packed_batch). A vector of the ABI
/// namespace (core/abi_std.hpp): units built with other -m flags instantiate
/// their own copies, never each other's.
inline packed_batch pack_batch(matrix_view<const float> X, detail::vector<float>& data) {
    constexpr std::size_t G = packed_batch::group;
    const std::size_t groups = (X.rows() + G - 1) / G;
    data = detail::vector<float>(checked_mul(checked_mul(groups, X.cols(), "packed batch"), G, "packed batch"));
    for (std::size_t b = 0; b < X.rows(); ++b) {
        float* out = data.data() + (b / G) * X.cols() * G + b % G;
        const float* x = X.row(b);
        for (std::size_t c = 0; c < X.cols(); ++c) out[c * G] = x[c];
    }
    return {data.data(), X.cols(), X.rows()};
}

/// Y = W·X in fp32, then `finish` (if any) on each block of rows, as gemv_on.
template <class Tag, int Bits, class Lut, class Sparse, class Layout, class Executor>
void gemm_on(Tag tag, const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const float> X,
             matrix_view<float> Y, const Executor& exec, const output_pass* finish = nullptr) {
    if (X.rows() == 1) return gemv_on(tag, W, X.row(0), Y.row(0), exec, finish);
    if (finish && finish->trivial()) finish = nullptr;
    using S = sparse_format_traits<Sparse>;
    using K = layout_kernels<Layout>;
    const std::size_t tasks = row_tasks(W.rows(), W.cols(), exec.concurrency());
    // Sparse terms read X by column: packed once so that each reads one line
    // for 8 vectors (allocated per call: cols · 8 floats per 8 vectors).
    detail::vector<float> packed_data;
    packed_batch packed;
    if constexpr (S::row_fused && has_packed_gemm<Sparse>::value) {
        if (W.nonzeros() != 0) packed = pack_batch(X, packed_data);
    }
    parallel_blocks(
        exec, W.rows(), tasks,
        [&](std::size_t b, std::size_t e) {
            const auto dense = [&](std::size_t sb, std::size_t se) {
                if constexpr (K::driven)
                    K::template gemm<typename impl_of<Tag>::type, Lut>(W.words(), W.lut(), W.rows(), W.cols(), X, Y,
                                                                       sb, se);
                else
                    oracle_gemm_rows(W, X, Y, sb, se);
            };
            if constexpr (S::row_fused) {
                // Sliced as gemv_on: the decoded tile loop restarts per slice,
                // its column chunks still summed in order.
                for_each_slice(b, e, sparse_slice_rows, W.nonzeros() == 0, [&](std::size_t sb, std::size_t se) {
                    dense(sb, se);
                    if constexpr (has_packed_gemm<Sparse>::value) {
                        if (packed.data) return S::gemm_rows_packed(W.sparse(), packed, Y, sb, se);
                    }
                    S::gemm_rows(W.sparse(), X, Y, sb, se);
                });
                if (finish) (*finish)(b, e);
            } else {
                dense(b, e);
            }
        },
        K::row_align);
    if constexpr (!S::row_fused) {
        S::gemm_split(W.sparse(), X, Y, exec);
        if (finish) parallel_blocks(exec, W.rows(), tasks, *finish);
    }
}

}  // namespace detail

/// Y = W·X on target t (see gemv(target_id, ...) for the errors). X is
/// N × cols (one activation vector per row), Y is N × rows, overwritten.
/// A csr sparse part with entries makes the call copy X once, packed by
/// column for its terms (sparse/packed_batch.hpp): an allocation of X's size.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemm(target_id t, const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const float> X,
          matrix_view<float> Y, const Executor& exec = {}) {
    if (!has_kernel(t, W))
        require_target<layout_kernels<Layout>>(t, detail::kernel_description<Bits, Lut, Layout>("gemm").c_str());
    detail::check_gemm_shapes(W.rows(), W.cols(), X.rows(), X.cols(), Y.rows(), Y.cols());
    if (X.rows() == 0) return;
    with_target(t, [&](auto tag) { detail::gemm_on(tag, W, X, Y, exec); });
}

/// Y = W·X on the target named by a tag.
template <class Target, int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor,
          class = std::enable_if_t<is_target<Target>::value>>
void gemm(Target, const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const float> X, matrix_view<float> Y,
          const Executor& exec = {}) {
    gemm(Target::id, W, X, Y, exec);
}

/// Y = W·X on kernel_target(W). Results match reference::gemm within float32
/// rounding (summation order); batch vector j of the result equals gemv of
/// X's row j on the same target, bit for bit, when the batch is 1.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemm(const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const float> X, matrix_view<float> Y,
          const Executor& exec = {}) {
    detail::check_gemm_shapes(W.rows(), W.cols(), X.rows(), X.cols(), Y.rows(), Y.cols());
    if (X.rows() == 0) return;
    with_target(kernel_target(W), [&](auto tag) { detail::gemm_on(tag, W, X, Y, exec); });
}

/// Y = W·X on target t, with X and Y of any activation type (float, half,
/// bfloat16; fp32 accumulation). Other than fp32 activations cost one
/// conversion of X and an fp32 array of N × rows, allocated per call.
template <class XT, class YT, int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor,
          class = std::enable_if_t<is_activation<XT>::value && is_activation<YT>::value &&
                                   !(std::is_same<XT, float>::value && std::is_same<YT, float>::value)>>
void gemm(target_id t, const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const XT> X,
          matrix_view<YT> Y, const Executor& exec = {}) {
    if (!has_kernel(t, W))
        require_target<layout_kernels<Layout>>(t, detail::kernel_description<Bits, Lut, Layout>("gemm").c_str());
    detail::check_gemm_shapes(W.rows(), W.cols(), X.rows(), X.cols(), Y.rows(), Y.cols());
    if (X.rows() == 0) return;
    detail::typed_batch batch(t, {X.data(), scalar_type_of<XT>::value, X.rows(), X.cols(), X.stride()},
                                    {Y.data(), scalar_type_of<YT>::value, Y.rows(), Y.cols(), Y.stride()}, bias_ref{});
    with_target(t, [&](auto tag) { detail::gemm_on(tag, W, batch.X32, batch.Y32, exec, &batch.finish); });
}

/// Y = W·X on kernel_target(W), X and Y of any activation type (see above).
template <class XT, class YT, int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor,
          class = std::enable_if_t<is_activation<XT>::value && is_activation<YT>::value &&
                                   !(std::is_same<XT, float>::value && std::is_same<YT, float>::value)>>
void gemm(const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const XT> X, matrix_view<YT> Y,
          const Executor& exec = {}) {
    gemm(kernel_target(W), W, X, Y, exec);
}

SQLLM_NAMESPACE_END
