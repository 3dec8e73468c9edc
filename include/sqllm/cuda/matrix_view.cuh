// sqllm/cuda/matrix_view.cuh — what the CUDA kernels read: device pointers
// and sizes only (no std:: containers), copied by value into kernels.
//
// The caller owns the device memory (cudaMalloc'd, or part of an engine's
// arena); host-side conversion into these arrays is plain C++:
// pack_codes<gpu_layout<Bits>> or repack for the words, the quantized
// matrix's LUT as is, and its CSR arrays (sparse/csr_arrays.hpp) as is. The
// kernels trust the arrays' contents (CSR indices in range, row_ptr
// non-decreasing): check them on the host, where sqllm's loaders and
// quantized_matrix already do; an index out of range is skipped, never read.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN
namespace cuda {

/// The sparse part in CSR over rows (row_ptr: rows + 1 entries, col and val:
/// nnz), fp32 values and int32 indices, as sqllm's default csr<> and the
/// reference's checkpoints store them. row_ptr == nullptr: no sparse part.
/// `balanced`: the nonzero-balanced schedule (csr_schedule::nonzeros), for
/// skewed rows: in mode::fast its terms run in a kernel that splits the
/// nonzeros evenly; in mode::deterministic, like plain CSR, fused per row.
struct sparse_view {
    const std::int32_t* row_ptr = nullptr;
    const std::int32_t* col = nullptr;
    const float* val = nullptr;
    std::size_t nnz = 0;
    bool balanced = false;
};

/// The reference's hybrid dense rows (its `full_rows` / `full_row_indices`):
/// row index[t] gets Σ_c values[c·count + t]·x[c] added, for t < count.
/// `values` is cols × count, as the reference stores full_rows; the indices
/// must be distinct (the reference's are) and < rows.
struct hybrid_view {
    const std::int32_t* index = nullptr;
    const float* values = nullptr;
    std::size_t count = 0;
};

/// A quantized matrix on the device: rows × cols codes of Bits bits in
/// gpu_layout<Bits> (gpu_layout<Bits>::word_count(rows, cols) words), the
/// rows × 2^Bits LUT (Lut: float, sqllm::half or sqllm::bfloat16), and the
/// optional sparse and hybrid parts.
template <int Bits, class Lut>
struct matrix_view {
    const std::uint32_t* words = nullptr;
    const Lut* lut = nullptr;
    std::size_t rows = 0, cols = 0;
    sparse_view sparse{};
    hybrid_view hybrid{};
};

}  // namespace cuda
SQLLM_NAMESPACE_END
