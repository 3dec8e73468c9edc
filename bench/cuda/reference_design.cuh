// bench/cuda/reference_design.cuh — the SqueezeLLM reference CUDA kernel design,
// reimplemented for bench_cuda as the baseline to beat (docs/DESIGN.md §5).
//
// The design (SqueezeAILab/SqueezeLLM, squeezellm/quant_cuda_kernel.cu), written
// here from its description, not copied:
//  - codes in the reference checkpoint layout (sqllm::reference_layout<Bits>,
//    DESIGN §3): word w of output row r at words[w·rows + r], so the 128 threads
//    of a block, one per output row, read 128 consecutive words (coalesced);
//  - 128 threads per block, one output row each; grid.y = rows / 128 row blocks;
//  - grid.x = cols / 128 K slices: each block multiplies its 128 rows by one
//    128-column slice of x (staged in shared memory) and atomicAdds its partial
//    sums into y, which must be zeroed first (the caller's memset is part of the
//    operation and is timed with it);
//  - each block stages the LUTs of its 128 rows in shared memory, transposed
//    (lut_s[code][thread]) so a lookup of any code is bank-conflict free;
//  - fp32 LUT, fp32 activations, fp32 output; rows and cols multiples of 128,
//    no bounds checks (the reference has none);
//  - batch N > 1 as the reference's *Batched kernels do: the N vectors are looped
//    inside the block (the x slice restaged per vector, the codes re-read per
//    vector from L1/L2), one atomicAdd per vector and row;
//  - the sparse part as a second launch, one thread per row over the CSR
//    (128 threads per block), looping the N vectors, atomicAdd into y.
// The reference has 3- and 4-bit kernels only; Bits is a template parameter here
// (2, 3, 4 all work: 128 codes are exactly 4·Bits words), 2-bit being an
// extrapolation of the design.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace sqllm_bench {
namespace refdesign {

constexpr int block_width = 128;  // threads per block = output rows per block = K slice width

template <int Bits>
__global__ void __launch_bounds__(block_width)
lut_gemv_kernel(const float* __restrict__ x, std::size_t ldx, const std::uint32_t* __restrict__ words,
                float* __restrict__ y, std::size_t ldy, const float* __restrict__ lut, int rows, int batch) {
    constexpr int levels = 1 << Bits;
    constexpr int words_per_slice = block_width * Bits / 32;  // 4·Bits
    constexpr std::uint32_t mask = (1u << Bits) - 1u;

    __shared__ float x_s[block_width];
    __shared__ float lut_s[levels][block_width];

    const int t = static_cast<int>(threadIdx.x);
    const int slice = static_cast<int>(blockIdx.x);
    const int row = static_cast<int>(blockIdx.y) * block_width + t;

    // This row's LUT, transposed into shared memory.
#pragma unroll
    for (int v = 0; v < levels; ++v) lut_s[v][t] = lut[static_cast<std::size_t>(row) * levels + v];

    const std::uint32_t* w = words + static_cast<std::size_t>(slice) * words_per_slice * rows + row;
    const std::size_t x0 = static_cast<std::size_t>(slice) * block_width;

    for (int b = 0; b < batch; ++b) {
        __syncthreads();  // previous vector's x_s fully consumed (and, for b = 0, lut_s written)
        x_s[t] = x[static_cast<std::size_t>(b) * ldx + x0 + t];
        __syncthreads();

        float acc = 0.0f;
        // Four groups of 32 codes; each group is Bits words of one LSB-first bit stream.
#pragma unroll
        for (int g = 0; g < 4; ++g) {
            std::uint32_t gw[Bits];
#pragma unroll
            for (int j = 0; j < Bits; ++j) gw[j] = w[static_cast<std::size_t>(g * Bits + j) * rows];
#pragma unroll
            for (int k = 0; k < 32; ++k) {
                const int bit = k * Bits;
                const int wi = bit / 32, sh = bit % 32;
                std::uint32_t code = gw[wi] >> sh;
                if (sh + Bits > 32) code |= gw[wi + 1] << (32 - sh);  // a code straddling two words
                acc += lut_s[code & mask][t] * x_s[g * 32 + k];
            }
        }
        atomicAdd(&y[static_cast<std::size_t>(b) * ldy + row], acc);
    }
}

// One thread per row of the CSR; y += S·x for each of the batch vectors.
__global__ void __launch_bounds__(block_width)
csr_spmv_kernel(const std::int32_t* __restrict__ row_ptr, const std::int32_t* __restrict__ col,
                const float* __restrict__ val, const float* __restrict__ x, std::size_t ldx, float* __restrict__ y,
                std::size_t ldy, int rows, int batch) {
    const int row = static_cast<int>(blockIdx.x) * block_width + static_cast<int>(threadIdx.x);
    if (row >= rows) return;
    const int begin = row_ptr[row], end = row_ptr[row + 1];
    for (int b = 0; b < batch; ++b) {
        const float* xb = x + static_cast<std::size_t>(b) * ldx;
        float acc = 0.0f;
        for (int i = begin; i < end; ++i) acc += val[i] * xb[col[i]];
        atomicAdd(&y[static_cast<std::size_t>(b) * ldy + row], acc);
    }
}

/// Operands of one reference-design multiply (device pointers).
template <int Bits>
struct operands {
    const std::uint32_t* words = nullptr;  // sqllm::reference_layout<Bits>: words[w·rows + r]
    const float* lut = nullptr;            // rows × 2^Bits
    int rows = 0, cols = 0;                // multiples of 128
    const std::int32_t* row_ptr = nullptr;  // CSR; nullptr: no sparse part
    const std::int32_t* col = nullptr;
    const float* val = nullptr;
};

/// Y (batch × rows, stride ldy) = W·X (X batch × cols, stride ldx): zeroes Y
/// (ldy == rows required, one memset), the dense launch, the sparse launch.
/// Returns the first launch error (cudaSuccess otherwise); does not synchronize.
template <int Bits>
cudaError_t gemm(const operands<Bits>& W, const float* x, std::size_t ldx, float* y, std::size_t ldy, int batch,
                 cudaStream_t stream) {
    if (W.rows % block_width != 0 || W.cols % block_width != 0 || batch < 1 || ldy != static_cast<std::size_t>(W.rows))
        return cudaErrorInvalidValue;
    cudaError_t e = cudaMemsetAsync(y, 0, sizeof(float) * static_cast<std::size_t>(batch) * ldy, stream);
    if (e != cudaSuccess) return e;
    const dim3 grid(static_cast<unsigned>(W.cols / block_width), static_cast<unsigned>(W.rows / block_width));
    lut_gemv_kernel<Bits><<<grid, block_width, 0, stream>>>(x, ldx, W.words, y, ldy, W.lut, W.rows, batch);
    e = cudaGetLastError();
    if (e != cudaSuccess || W.row_ptr == nullptr) return e;
    const unsigned sparse_blocks = static_cast<unsigned>((W.rows + block_width - 1) / block_width);
    csr_spmv_kernel<<<sparse_blocks, block_width, 0, stream>>>(W.row_ptr, W.col, W.val, x, ldx, y, ldy, W.rows,
                                                                batch);
    return cudaGetLastError();
}

}  // namespace refdesign
}  // namespace sqllm_bench
