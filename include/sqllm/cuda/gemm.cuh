// sqllm/cuda/gemm.cuh — Y = W·X on an NVIDIA GPU, straight from the GPU
// layout: the CUDA target of sqllm's LUT kernels. nvcc only; the CPU umbrella
// header sqllm.hpp never includes it.
//
//   cuda::matrix_view<3, sqllm::half> W{words, lut, rows, cols, sparse, hybrid};
//   std::size_t ws = cuda::workspace_bytes<3, sqllm::half, __half>(W, batch, cuda::mode::fast);
//   cuda::gemm(W, X, ldx, Y, ldy, batch, cuda::mode::fast, workspace, ws, stream);
//
// Generic over Bits (1..8), the LUT type (float, sqllm::half,
// sqllm::bfloat16) and the activation type (float, __half, __nv_bfloat16),
// fp32 accumulation; X is batch × cols, Y batch × rows (row strides ldx, ldy
// in elements), batch 1..64 (1 is the GEMV). Any shape. The launches go to
// `stream` and allocate nothing: mode::fast may need, and
// mode::deterministic needs when it splits columns, a workspace of
// workspace_bytes(...) bytes (launch_plan.hpp says when). mode::deterministic
// gives identical bits on every run (no float atomics); mode::fast may use
// atomics across column slices and for the balanced sparse pass.
// Errors (shapes, null pointers, a short workspace, CUDA failures) throw
// sqllm::error before or at launch; asynchronous kernel faults surface, as
// with any CUDA call, at the next synchronising call.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../error.hpp"
#include "error.cuh"
#include "launch_plan.hpp"
#include "lut_kernels.cuh"
#include "matrix_view.cuh"

SQLLM_NAMESPACE_BEGIN
namespace cuda {

/// The plan cuda::gemm follows for W, `batch` vectors of Act and mode m on
/// the current device (cuda/launch_plan.hpp).
template <int Bits, class Lut, class Act>
launch_plan plan(const matrix_view<Bits, Lut>& W, std::size_t batch, mode m) {
    return plan_gemm(W.rows, W.cols, Bits, batch, m, current_sm_count(), std::is_same<Act, float>::value,
                     W.sparse.row_ptr != nullptr && W.sparse.nnz != 0, W.sparse.balanced);
}

/// Bytes of workspace cuda::gemm needs for these arguments on the current device (0: none).
template <int Bits, class Lut, class Act>
std::size_t workspace_bytes(const matrix_view<Bits, Lut>& W, std::size_t batch, mode m) {
    return plan<Bits, Lut, Act>(W, batch, m).workspace_bytes;
}

namespace impl {
inline unsigned grid_for(std::size_t n, unsigned threads) {
    const std::size_t blocks = n / threads + (n % threads != 0);
    return static_cast<unsigned>(blocks < 65535 * 8 ? (blocks == 0 ? 1 : blocks) : 65535 * 8);
}

template <int Bits, class Lut, class Act>
void check_arguments(const matrix_view<Bits, Lut>& W, const Act* X, std::size_t ldx, const Act* Y, std::size_t ldy,
                     std::size_t batch) {
    static_assert(std::is_same<Act, float>::value || std::is_same<Act, __half>::value ||
                      std::is_same<Act, __nv_bfloat16>::value,
                  "sqllm::cuda::gemm: activations are float, __half or __nv_bfloat16");
    if (W.rows == 0) return;
    if (W.words == nullptr && W.cols != 0) detail::fail(errc::invalid_argument, "W.words is null");
    if (W.lut == nullptr) detail::fail(errc::invalid_argument, "W.lut is null");
    if (X == nullptr && W.cols != 0) detail::fail(errc::invalid_argument, "X is null");
    if (Y == nullptr) detail::fail(errc::invalid_argument, "Y is null");
    if (ldx < W.cols)
        detail::fail(errc::shape_mismatch, "ldx " + detail::to_string(ldx) + " is less than the matrix's " +
                                               detail::to_string(W.cols) + " columns");
    if (ldy < W.rows)
        detail::fail(errc::shape_mismatch,
                     "ldy " + detail::to_string(ldy) + " is less than the matrix's " + detail::to_string(W.rows) + " rows");
    // The last element of X and Y must be addressable.
    checked_add(checked_mul(batch - 1, ldx, "X extent"), W.cols, "X extent");
    checked_add(checked_mul(batch - 1, ldy, "Y extent"), W.rows, "Y extent");
    checked_mul(W.rows, std::size_t{1} << Bits, "LUT entries");
    checked_mul(W.rows, checked_mul(gpu_geometry::padded_cols(W.cols) / 32, std::size_t{Bits}, "words"), "words");
    const sparse_view& S = W.sparse;
    if (S.row_ptr != nullptr && S.nnz != 0 && (S.col == nullptr || S.val == nullptr))
        detail::fail(errc::invalid_argument, "the sparse part has nonzeros but no col or val array");
    if (S.nnz > 0x7fffffffu) detail::fail(errc::out_of_range, "more sparse nonzeros than int32 indices address");
    const hybrid_view& H = W.hybrid;
    if (H.count != 0 && (H.index == nullptr || H.values == nullptr))
        detail::fail(errc::invalid_argument, "hybrid rows without index or values");
    if (H.count > W.rows) detail::fail(errc::invalid_argument, "more hybrid rows than rows");
    if (H.count != 0) impl::grid_dim(H.count, "hybrid rows");
}
}  // namespace impl

/// Y = W·X (see the file comment). Throws sqllm::error: invalid_argument
/// (null pointers, batch outside 1..64, a workspace smaller than
/// workspace_bytes), shape_mismatch (ldx < cols, ldy < rows), out_of_range
/// (sizes that overflow, grids beyond CUDA's limits), device_error (a CUDA
/// call or launch failed).
template <int Bits, class Lut, class Act>
void gemm(const matrix_view<Bits, Lut>& W, const Act* X, std::size_t ldx, Act* Y, std::size_t ldy, std::size_t batch,
          mode m, void* workspace, std::size_t workspace_size, cudaStream_t stream) {
    const launch_plan p = plan<Bits, Lut, Act>(W, batch, m);  // checks batch and mode
    impl::check_arguments(W, X, ldx, Y, ldy, batch);
    if (W.rows == 0) return;
    if (p.workspace_bytes != 0 && (workspace == nullptr || workspace_size < p.workspace_bytes))
        detail::fail(errc::invalid_argument, "the workspace has " + detail::to_string(workspace_size) +
                                                 " bytes, this call needs " + detail::to_string(p.workspace_bytes) +
                                                 " (cuda::workspace_bytes)");
    using impl::out_kind;
    float* ws = static_cast<float*>(workspace);
    float* acc = nullptr;
    std::size_t ld_acc = 0;
    out_kind out = out_kind::direct;
    if (p.atomic) {
        out = out_kind::atomic;
        if (p.accumulate_in_workspace) {
            acc = ws, ld_acc = W.rows;
            check(cudaMemsetAsync(acc, 0, batch * W.rows * sizeof(float), stream), "cudaMemsetAsync");
        } else {
            acc = reinterpret_cast<float*>(Y), ld_acc = ldy;  // Act is float here
            check(cudaMemset2DAsync(acc, ldy * sizeof(float), 0, W.rows * sizeof(float), batch, stream),
                  "cudaMemset2DAsync");
        }
    } else if (p.partials) {
        out = out_kind::partial;
        acc = ws, ld_acc = W.rows;
    }

    if (W.cols == 0 || p.col_blocks == 0) {  // no columns: W·X is zero (+ nothing)
        if (out == out_kind::direct)
            check(cudaMemset2DAsync(Y, ldy * sizeof(Act), 0, W.rows * sizeof(Act), batch, stream),
                  "cudaMemset2DAsync");
    } else {
        impl::gemm_args<Lut, Act> a{};
        a.words = W.words, a.lut = W.lut, a.rows = W.rows, a.cols = W.cols;
        a.padded = p.padded_cols, a.row_words = p.row_words, a.col_blocks = p.col_blocks;
        a.blocks_per_split = p.blocks_per_split;
        if (p.fused_sparse) a.row_ptr = W.sparse.row_ptr, a.col = W.sparse.col, a.val = W.sparse.val;
        a.X = X, a.ldx = ldx, a.batch = batch;
        a.x_vec = reinterpret_cast<std::uintptr_t>(X) % impl::act<Act>::vec_bytes == 0 && ldx % 4 == 0;
        a.Y = Y, a.ldy = ldy, a.acc = acc, a.ld_acc = ld_acc, a.out = out;
        const dim3 grid(p.grid_rows, p.splits), block(threads_per_block);
        switch (p.batch_tile) {
            case 1: impl::lut_gemm_kernel<Bits, Lut, Act, 1><<<grid, block, p.shared_bytes, stream>>>(a); break;
            case 2: impl::lut_gemm_kernel<Bits, Lut, Act, 2><<<grid, block, p.shared_bytes, stream>>>(a); break;
            case 4: impl::lut_gemm_kernel<Bits, Lut, Act, 4><<<grid, block, p.shared_bytes, stream>>>(a); break;
            default: impl::lut_gemm_kernel<Bits, Lut, Act, 8><<<grid, block, p.shared_bytes, stream>>>(a); break;
        }
        check(cudaGetLastError(), "sqllm::cuda lut_gemm_kernel launch");
    }

    if (p.balanced_sparse_pass) {
        const std::size_t chunk = W.sparse.nnz / p.sparse_threads + 1;
        const std::size_t threads = W.sparse.nnz / chunk + 1;
        impl::balanced_sparse_kernel<Act><<<impl::grid_for(threads, 256), 256, 0, stream>>>(
            W.sparse.row_ptr, W.sparse.col, W.sparse.val, W.rows, W.cols, W.sparse.nnz, chunk, X, ldx, batch, acc,
            ld_acc);
        check(cudaGetLastError(), "sqllm::cuda balanced_sparse_kernel launch");
    }
    if (W.hybrid.count != 0) {
        impl::hybrid_rows_kernel<Act><<<static_cast<unsigned>(W.hybrid.count), 128, 0, stream>>>(
            W.hybrid.index, W.hybrid.values, W.hybrid.count, W.rows, W.cols, X, ldx, batch, acc, ld_acc, Y, ldy);
        check(cudaGetLastError(), "sqllm::cuda hybrid_rows_kernel launch");
    }
    const std::size_t n = batch * W.rows;
    if (p.partials) {
        impl::reduce_partials_kernel<Act>
            <<<impl::grid_for(n, 256), 256, 0, stream>>>(acc, p.splits, batch, W.rows, Y, ldy);
        check(cudaGetLastError(), "sqllm::cuda reduce_partials_kernel launch");
    } else if (p.accumulate_in_workspace) {
        impl::convert_kernel<Act><<<impl::grid_for(n, 256), 256, 0, stream>>>(acc, ld_acc, batch, W.rows, Y, ldy);
        check(cudaGetLastError(), "sqllm::cuda convert_kernel launch");
    }
}

/// y = W·x: gemm with batch 1.
template <int Bits, class Lut, class Act>
void gemv(const matrix_view<Bits, Lut>& W, const Act* x, Act* y, mode m, void* workspace, std::size_t workspace_size,
          cudaStream_t stream) {
    gemm(W, x, W.cols, y, W.rows, 1, m, workspace, workspace_size, stream);
}

}  // namespace cuda
SQLLM_NAMESPACE_END
