// sqllm/cuda/launch_plan.hpp — how the CUDA LUT kernels (cuda/gemm.cuh) cut
// a multiply into launches: plain C++, so that every launch parameter is
// computed, and tested, on the CPU (tests/test_gpu_layout.cpp).
//
// The main kernel gives each warp one row and one slice of its 1024-column
// blocks (layout/gpu.hpp); blocks hold 4 warps (rows). When the rows alone
// would leave the GPU's warp slots idle, the columns are split into slices
// (grid.y) whose partial sums are combined either
//   - mode::fast: by float atomics into an fp32 accumulator that was zeroed
//     first (the output itself for fp32 outputs, else a workspace converted
//     afterwards): no extra pass, but the order of the additions varies;
//   - mode::deterministic: each slice writes its partial sums to a workspace
//     and a second pass adds them in slice order: identical bits every run.
// With one slice (or few rows, many columns) both modes write the output
// directly. The sparse part runs fused (a row's warp adds its CSR terms),
// except a nonzero-balanced format in fast mode, whose terms follow in a
// kernel that splits the nonzeros evenly and adds with atomics.
#pragma once

#include <algorithm>
#include <cstddef>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../error.hpp"
#include "../layout/gpu.hpp"

SQLLM_NAMESPACE_BEGIN
namespace cuda {

/// How partial sums are combined (see above).
enum class mode { fast, deterministic };

/// The largest batch (activation vectors) one call takes.
constexpr std::size_t max_batch = 64;
/// Threads of the main kernel's blocks: 4 warps, one row each.
constexpr unsigned rows_per_block = 4, threads_per_block = rows_per_block * 32;
/// Splitting columns costs launches (a memset and a conversion, or a
/// reduction pass: microseconds each, against ~1.3 µs of weight reads for a
/// 3-bit 4096² matrix on an H100), so columns are split only when the rows
/// alone give fewer warps than this per SM; above it, each warp streams a
/// whole row with its next block's words in flight (cuda/lut_kernels.cuh).
constexpr std::size_t target_warps_per_sm = 16;
/// At most this many column slices (each must keep ≥ 2 blocks of columns).
constexpr std::size_t max_splits = 16;
/// Threads of the balanced sparse kernel per SM (fast mode).
constexpr std::size_t sparse_threads_per_sm = 1024;

/// Everything a launch needs, computed from the shapes and the device's SM count.
struct launch_plan {
    std::size_t padded_cols = 0;       ///< gpu_layout row length
    std::size_t row_words = 0;         ///< words per row (gpu_layout)
    std::size_t col_blocks = 0;        ///< 1024-column blocks per row
    unsigned grid_rows = 0;            ///< grid.x: blocks of rows_per_block rows
    unsigned splits = 1;               ///< grid.y: column slices
    std::size_t blocks_per_split = 0;  ///< column blocks per slice (the last slice may have fewer)
    unsigned batch_tile = 1;           ///< vectors a warp accumulates at once: 1, 2, 4 or 8
    std::size_t shared_bytes = 0;      ///< dynamic shared memory of the main kernel (the LUTs as fp32)
    bool atomic = false;               ///< fast mode: partial sums added with atomics into an fp32 accumulator
    bool accumulate_in_workspace = false;  ///< that accumulator is the workspace (outputs are not fp32)
    bool partials = false;             ///< deterministic mode: per-slice partial sums in the workspace
    bool fused_sparse = false;         ///< the row's warp adds its CSR terms
    bool balanced_sparse_pass = false; ///< a following balanced kernel adds them (fast mode)
    unsigned sparse_threads = 0;       ///< threads of that kernel
    std::size_t workspace_bytes = 0;   ///< what the caller must pass (0: none)
};

namespace impl {
inline unsigned grid_dim(std::size_t n, const char* what) {
    if (n > 0x7fffffffu) detail::fail(errc::out_of_range, std::string(what) + " exceeds CUDA's grid limit");
    return static_cast<unsigned>(n);
}
}  // namespace impl

/// The plan for rows × cols codes of Bits bits (LUT 2^Bits entries), `batch`
/// vectors, `sms` multiprocessors; `output_is_fp32`: Y is float (atomics may
/// go there directly); `has_sparse`/`balanced`: the CSR part and its
/// schedule. Throws sqllm::error on a batch outside 1..max_batch, a size that
/// overflows, or a grid beyond CUDA's limits.
inline launch_plan plan_gemm(std::size_t rows, std::size_t cols, int bits, std::size_t batch, mode m, std::size_t sms,
                             bool output_is_fp32, bool has_sparse, bool balanced) {
    if (batch < 1 || batch > max_batch)
        detail::fail(errc::invalid_argument, "batch " + detail::to_string(batch) +
                                                           " is outside 1.." + detail::to_string(max_batch));
    if (bits < 1 || bits > 8)
        detail::fail(errc::invalid_argument, "code width " + detail::to_string(bits) +
                                                           " is outside 1..8");
    if (m != mode::fast && m != mode::deterministic) detail::fail(errc::invalid_argument, "unknown mode");
    launch_plan p;
    p.padded_cols = gpu_geometry::padded_cols(cols);
    p.row_words = checked_mul(p.padded_cols / 32, static_cast<std::size_t>(bits), "GPU layout words per row");
    p.col_blocks = gpu_geometry::blocks(p.padded_cols);
    p.grid_rows = impl::grid_dim(rows / rows_per_block + (rows % rows_per_block != 0), "rows / 4");
    p.batch_tile = batch == 1 ? 1u : batch == 2 ? 2u : batch <= 4 ? 4u : 8u;
    p.shared_bytes = std::size_t{rows_per_block} * (std::size_t{1} << bits) * sizeof(float);

    // Slices: enough warps for the whole GPU, never a slice under 2 blocks.
    const std::size_t want = std::max<std::size_t>(sms, 1) * target_warps_per_sm;
    std::size_t splits = rows == 0 ? 1 : (want + rows - 1) / rows;
    splits = std::min({splits, max_splits, std::max<std::size_t>(p.col_blocks / 2, 1)});
    splits = std::max<std::size_t>(splits, 1);
    p.blocks_per_split = p.col_blocks == 0 ? 0 : (p.col_blocks + splits - 1) / splits;
    // Rounding up may leave the last slices empty: recount.
    if (p.blocks_per_split != 0) splits = (p.col_blocks + p.blocks_per_split - 1) / p.blocks_per_split;
    p.splits = static_cast<unsigned>(std::max<std::size_t>(splits, 1));

    p.balanced_sparse_pass = has_sparse && balanced && m == mode::fast;
    p.fused_sparse = has_sparse && !p.balanced_sparse_pass;
    if (p.balanced_sparse_pass)
        p.sparse_threads =
            static_cast<unsigned>(std::min<std::size_t>(std::max<std::size_t>(sms, 1) * sparse_threads_per_sm,
                                                        std::size_t{1} << 20));
    const std::size_t outputs = checked_mul(batch, rows, "batch × rows");
    if (m == mode::fast) {
        p.atomic = p.splits > 1 || p.balanced_sparse_pass;
        p.accumulate_in_workspace = p.atomic && !output_is_fp32;
        if (p.accumulate_in_workspace) p.workspace_bytes = checked_mul(outputs, sizeof(float), "workspace bytes");
    } else {
        p.partials = p.splits > 1;
        if (p.partials)
            p.workspace_bytes = checked_mul(checked_mul(outputs, p.splits, "workspace floats"), sizeof(float),
                                            "workspace bytes");
    }
    return p;
}

}  // namespace cuda
SQLLM_NAMESPACE_END
