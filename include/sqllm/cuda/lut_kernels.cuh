// sqllm/cuda/lut_kernels.cuh — the CUDA kernels behind cuda/gemm.cuh: the
// LUT matrix multiply straight from gpu_layout (layout/gpu.hpp), the
// deterministic reduction of column slices, the nonzero-balanced sparse
// pass, the hybrid dense rows and the fp32 → activation conversion. nvcc only.
//
// Main kernel: one warp per row, 4 rows per block, grid.y = column slices
// (cuda/launch_plan.hpp). A warp stages its row's LUT as fp32 in shared
// memory (≤ 32 entries sit in distinct banks, so any lookup pattern of a warp
// is conflict-free; 8-bit tables of 256 entries can conflict), then walks its
// slice's blocks: lane l loads its Bits plane words (each a coalesced
// 128-byte warp load), and for each of the 8 runs of 4 slots decodes 4 codes
// (constant shifts: layout/gpu.hpp's slot_code, shared with the CPU tests),
// looks them up and multiplies them with 4 consecutive activations of each
// vector (one 16-byte load for fp32, 8 for fp16/bf16, when aligned). The
// batch is accumulated NB vectors at a time in registers (NB = 1, 2, 4, 8;
// larger batches loop, re-reading the row's words from L1/L2). The warp's
// 32 partial sums are added by a fixed xor-shuffle tree: a row's result
// depends only on the plan, never on scheduling. fp32 accumulation.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "../config.hpp"
#include "../layout/gpu.hpp"
#include "../types/lut_value.hpp"

SQLLM_NAMESPACE_BEGIN
namespace cuda {
namespace impl {

/// Activation types: loads (scalar and 4 consecutive) and the store of an fp32 result.
template <class Act>
struct act;
template <>
struct act<float> {
    static constexpr std::size_t vec_bytes = 16;
    __device__ static float load(const float* p) { return __ldg(p); }
    __device__ static void load4(const float* p, float* v) {
        const float4 q = __ldg(reinterpret_cast<const float4*>(p));
        v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
    }
    __device__ static float to_float(float v) { return v; }
    __device__ static float from_float(float v) { return v; }
};
template <>
struct act<__half> {
    static constexpr std::size_t vec_bytes = 8;
    __device__ static float load(const __half* p) { return __half2float(__ldg(p)); }
    __device__ static void load4(const __half* p, float* v) {
        const uint2 q = __ldg(reinterpret_cast<const uint2*>(p));
        __half2 a, b;
        a = *reinterpret_cast<const __half2*>(&q.x);
        b = *reinterpret_cast<const __half2*>(&q.y);
        const float2 fa = __half22float2(a), fb = __half22float2(b);
        v[0] = fa.x, v[1] = fa.y, v[2] = fb.x, v[3] = fb.y;
    }
    __device__ static float to_float(__half v) { return __half2float(v); }
    __device__ static __half from_float(float v) { return __float2half_rn(v); }
};
template <>
struct act<__nv_bfloat16> {
    static constexpr std::size_t vec_bytes = 8;
    __device__ static float load(const __nv_bfloat16* p) { return __bfloat162float(__ldg(p)); }
    __device__ static void load4(const __nv_bfloat16* p, float* v) {
        const uint2 q = __ldg(reinterpret_cast<const uint2*>(p));
        __nv_bfloat162 a, b;
        a = *reinterpret_cast<const __nv_bfloat162*>(&q.x);
        b = *reinterpret_cast<const __nv_bfloat162*>(&q.y);
        const float2 fa = __bfloat1622float2(a), fb = __bfloat1622float2(b);
        v[0] = fa.x, v[1] = fa.y, v[2] = fb.x, v[3] = fb.y;
    }
    __device__ static float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
    __device__ static __nv_bfloat16 from_float(float v) { return __float2bfloat16_rn(v); }
};

/// Where the main kernel's row sums go.
enum class out_kind : int {
    direct,   ///< Y(b, r) = sum (one slice)
    atomic,   ///< atomicAdd(acc(b, r), sum) (fast mode, zeroed first)
    partial,  ///< acc[slice](b, r) = sum (deterministic mode)
};

/// The main kernel's arguments (by value).
template <class Lut, class Act>
struct gemm_args {
    const std::uint32_t* words;
    const Lut* lut;
    std::size_t rows, cols, padded, row_words, col_blocks, blocks_per_split;
    const std::int32_t* row_ptr;  // fused sparse terms (nullptr: none here)
    const std::int32_t* col;
    const float* val;
    const Act* X;
    std::size_t ldx, batch;
    bool x_vec;  // X and ldx allow aligned 4-value loads
    Act* Y;
    std::size_t ldy;
    float* acc;  // atomic: the fp32 accumulator (stride ld_acc); partial: slices of batch × rows
    std::size_t ld_acc;
    out_kind out;
};

/// Adds the 4 activations of vector b at column c (c < cols) times v[0..3] to s.
template <class Act>
__device__ __forceinline__ float dot4(const Act* xb, std::size_t c, std::size_t cols, bool vec, const float* v,
                                      float s) {
    float x[4];
    if (vec && c + 4 <= cols) {
        act<Act>::load4(xb + c, x);
    } else {
#pragma unroll
        for (int i = 0; i < 4; ++i) x[i] = c + i < cols ? act<Act>::load(xb + c + i) : 0.0f;
    }
    s = fmaf(v[0], x[0], s);
    s = fmaf(v[1], x[1], s);
    s = fmaf(v[2], x[2], s);
    return fmaf(v[3], x[3], s);
}

/// Lane `lane`'s Bits plane words of block blk of a row (nothing past ke or
/// past the block's lanes: those lanes' words are left as they are).
template <int Bits>
__device__ __forceinline__ void load_block(const std::uint32_t* row, std::size_t padded, std::size_t blk,
                                           std::size_t ke, unsigned lane, std::uint32_t* w) {
    if (blk >= ke) return;
    const std::size_t c0 = blk * gpu_geometry::block_cols, nl = gpu_geometry::block_lanes(padded, c0);
    if (lane >= nl) return;
#pragma unroll
    for (int m = 0; m < Bits; ++m) w[m] = __ldg(row + gpu_layout<Bits>::word_offset(c0, nl, lane, m));
}

/// Resident blocks per SM the register budget is sized for: 8 blocks (32
/// warps: twice the plan's minimum) at NB = 1 (≤ 64 registers), fewer as the
/// accumulators grow. Without a minimum, ptxas held the NB = 1 kernel to 32
/// registers and spilled; at 12 blocks (40 registers) the 8-bit one spilled.
template <int NB>
constexpr int min_blocks_per_sm = NB == 1 ? 8 : NB == 2 ? 6 : 4;

template <int Bits, class Lut, class Act, int NB>
__global__ void __launch_bounds__(128, min_blocks_per_sm<NB>) lut_gemm_kernel(const gemm_args<Lut, Act> a) {
    using L = gpu_layout<Bits>;
    constexpr int K = 1 << Bits;
    extern __shared__ float shared_luts[];
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    const std::size_t r = static_cast<std::size_t>(blockIdx.x) * (blockDim.x >> 5) + warp;
    if (r >= a.rows) return;  // the whole warp: no block-wide barrier follows
    float* lut = shared_luts + warp * K;
    for (unsigned i = lane; i < static_cast<unsigned>(K); i += 32)
        lut[i] = lut_value_traits<Lut>::to_float(a.lut[r * K + i]);
    __syncwarp();

    const std::size_t kb = static_cast<std::size_t>(blockIdx.y) * a.blocks_per_split;
    const std::size_t ke = kb + a.blocks_per_split < a.col_blocks ? kb + a.blocks_per_split : a.col_blocks;
    const std::uint32_t* row = a.words + r * a.row_words;
    for (std::size_t b0 = 0; b0 < a.batch; b0 += NB) {
        const std::size_t nb = a.batch - b0 < NB ? a.batch - b0 : NB;
        float acc[NB];
#pragma unroll
        for (int b = 0; b < NB; ++b) acc[b] = 0.0f;
        // The next block's words are loaded before this block is used: two
        // blocks' loads in flight per warp (one is too few bytes to cover
        // DRAM latency at 16 warps per SM).
        std::uint32_t w[Bits], next[Bits];
        load_block<Bits>(row, a.padded, kb, ke, lane, next);
        for (std::size_t blk = kb; blk < ke; ++blk) {
            const std::size_t c0 = blk * gpu_geometry::block_cols;
            const std::size_t nl = gpu_geometry::block_lanes(a.padded, c0);
#pragma unroll
            for (int m = 0; m < Bits; ++m) w[m] = next[m];
            load_block<Bits>(row, a.padded, blk + 1, ke, lane, next);
            if (lane >= nl) continue;
#pragma unroll
            for (int q = 0; q < 8; ++q) {
                const std::size_t c = c0 + q * 4 * nl + 4 * lane;
                if (c >= a.cols) break;  // padding from here on (later runs lie further right)
                float v[4];
#pragma unroll
                for (int i = 0; i < 4; ++i) v[i] = lut[L::slot_code(w, q * 4 + i)];
#pragma unroll
                for (int b = 0; b < NB; ++b)
                    if (b < nb) acc[b] = dot4(a.X + (b0 + b) * a.ldx, c, a.cols, a.x_vec, v, acc[b]);
            }
        }
        if (a.row_ptr != nullptr && blockIdx.y == 0) {  // the row's sparse terms, in lane-strided order
            const std::int32_t e0 = a.row_ptr[r], e1 = a.row_ptr[r + 1];
            for (std::int32_t e = e0 + static_cast<std::int32_t>(lane); e < e1; e += 32) {
                const std::int32_t c = a.col[e];
                if (c < 0 || static_cast<std::size_t>(c) >= a.cols) continue;  // never read outside X
                const float v = a.val[e];
#pragma unroll
                for (int b = 0; b < NB; ++b)
                    if (b < nb) acc[b] = fmaf(v, act<Act>::load(a.X + (b0 + b) * a.ldx + c), acc[b]);
            }
        }
#pragma unroll
        for (int b = 0; b < NB; ++b)
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) acc[b] += __shfl_xor_sync(0xffffffffu, acc[b], off);
        if (lane == 0) {
#pragma unroll
            for (int b = 0; b < NB; ++b) {
                if (b >= nb) break;
                const std::size_t i = b0 + b;
                switch (a.out) {
                    case out_kind::direct: a.Y[i * a.ldy + r] = act<Act>::from_float(acc[b]); break;
                    case out_kind::atomic: atomicAdd(a.acc + i * a.ld_acc + r, acc[b]); break;
                    case out_kind::partial: a.acc[(blockIdx.y * a.batch + i) * a.rows + r] = acc[b]; break;
                }
            }
        }
    }
}

/// Deterministic mode: Y(b, r) = Σ_{s < splits} acc[s](b, r), in slice order (+ nothing else).
template <class Act>
__global__ void reduce_partials_kernel(const float* acc, std::size_t splits, std::size_t batch, std::size_t rows,
                                       Act* Y, std::size_t ldy) {
    const std::size_t n = batch * rows;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
        float s = 0.0f;
        for (std::size_t k = 0; k < splits; ++k) s += acc[k * n + i];
        Y[(i / rows) * ldy + i % rows] = act<Act>::from_float(s);
    }
}

/// Fast mode with non-fp32 outputs: Y(b, r) = acc(b, r).
template <class Act>
__global__ void convert_kernel(const float* acc, std::size_t ld_acc, std::size_t batch, std::size_t rows, Act* Y,
                               std::size_t ldy) {
    const std::size_t n = batch * rows;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
        Y[(i / rows) * ldy + i % rows] = act<Act>::from_float(acc[(i / rows) * ld_acc + i % rows]);
}

/// Fast mode, nonzero-balanced CSR: thread t takes nonzeros [t·chunk, (t+1)·chunk),
/// finds its first row by binary search and adds one atomic per row it touches.
template <class Act>
__global__ void balanced_sparse_kernel(const std::int32_t* row_ptr, const std::int32_t* col, const float* val,
                                       std::size_t rows, std::size_t cols, std::size_t nnz, std::size_t chunk,
                                       const Act* X, std::size_t ldx, std::size_t batch, float* acc,
                                       std::size_t ld_acc) {
    const std::size_t t = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
    const std::size_t e0 = t * chunk;
    if (e0 >= nnz) return;
    const std::size_t e1 = e0 + chunk < nnz ? e0 + chunk : nnz;
    // The row holding e0: the last r with row_ptr[r] <= e0.
    std::size_t lo = 0, hi = rows;
    while (hi - lo > 1) {
        const std::size_t mid = lo + (hi - lo) / 2;
        if (static_cast<std::size_t>(row_ptr[mid]) <= e0) lo = mid;
        else hi = mid;
    }
    for (std::size_t b = 0; b < batch; ++b) {
        const Act* x = X + b * ldx;
        std::size_t r = lo, end = static_cast<std::size_t>(row_ptr[r + 1]);
        float s = 0.0f;
        for (std::size_t e = e0; e < e1; ++e) {
            while (e >= end && r + 1 < rows) {  // next non-empty row
                if (s != 0.0f) atomicAdd(acc + b * ld_acc + r, s);
                s = 0.0f;
                ++r;
                end = static_cast<std::size_t>(row_ptr[r + 1]);
            }
            const std::int32_t c = col[e];
            if (c >= 0 && static_cast<std::size_t>(c) < cols) s = fmaf(val[e], act<Act>::load(x + c), s);
        }
        if (s != 0.0f) atomicAdd(acc + b * ld_acc + r, s);
    }
}

/// Hybrid dense rows: block t adds Σ_c values[c·count + t]·X(b, c) to the
/// target at row index[t] (fp32 accumulator `acc` if given, else Y), summed
/// in a fixed order (128 strided partial sums, then a fixed tree).
template <class Act>
__global__ void __launch_bounds__(128)
    hybrid_rows_kernel(const std::int32_t* index, const float* values, std::size_t count, std::size_t rows,
                       std::size_t cols, const Act* X, std::size_t ldx, std::size_t batch, float* acc,
                       std::size_t ld_acc, Act* Y, std::size_t ldy) {
    __shared__ float part[128];
    const std::size_t t = blockIdx.x;
    const std::int32_t r = index[t];
    const bool valid = r >= 0 && static_cast<std::size_t>(r) < rows;
    for (std::size_t b = 0; b < batch; ++b) {
        float s = 0.0f;
        if (valid)
            for (std::size_t c = threadIdx.x; c < cols; c += blockDim.x)
                s = fmaf(values[c * count + t], act<Act>::load(X + b * ldx + c), s);
        part[threadIdx.x] = s;
        __syncthreads();
        for (unsigned h = 64; h > 0; h >>= 1) {
            if (threadIdx.x < h) part[threadIdx.x] += part[threadIdx.x + h];
            __syncthreads();
        }
        if (threadIdx.x == 0 && valid) {
            if (acc != nullptr) {
                acc[b * ld_acc + r] += part[0];
            } else {
                Act& y = Y[b * ldy + r];
                y = act<Act>::from_float(act<Act>::to_float(y) + part[0]);
            }
        }
        __syncthreads();
    }
}

}  // namespace impl
}  // namespace cuda
SQLLM_NAMESPACE_END
