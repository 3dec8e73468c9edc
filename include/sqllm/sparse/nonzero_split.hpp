// sqllm/sparse/nonzero_split.hpp — a CSR multiply whose work is split by
// nonzeros, not rows (the schedule of balanced_csr, sparse/csr.hpp).
//
// The weights kept by the dense-and-sparse split concentrate in a few rows: a
// handful of rows can hold most of the nonzeros. Split by rows, the task that
// owns a heavy row does nearly all the sparse work while the others wait.
// Here [0, nnz) is cut into equal contiguous ranges, one per task. Rows wholly
// inside a range are added to the output by their task alone; a row cut by a
// range boundary gets per-task partial sums in a small carry array, added to
// the output serially, in task order, once all tasks are done. Sums are in
// float, as the row-split multiply's.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../config.hpp"
#include "../core/span.hpp"
#include "../types/lut_value.hpp"
#include "csr_arrays.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {

/// Fewest nonzeros worth a task of their own: below this, starting the task
/// and adding its carries would cost more than its multiply-adds.
constexpr std::size_t balanced_min_task_nonzeros = 4096;

/// A few tasks per unit of concurrency, so uneven task speeds even out.
inline std::size_t balanced_task_count(std::size_t nnz, std::size_t concurrency) noexcept {
    const std::size_t wanted = std::max<std::size_t>(1, concurrency) * 4;
    return std::max<std::size_t>(1, std::min(wanted, nnz / balanced_min_task_nonzeros));
}

/// Task t's share of the nonzeros and the rows it cannot own outright.
struct balanced_range {
    std::size_t begin = 0, end = 0;  ///< nonzeros [begin, end), never empty
    std::size_t head_row = 0;        ///< the row holding nonzero `begin`
    std::size_t head_end = 0;        ///< min(end, end of head_row)
    bool head_shared = false;        ///< head_row has nonzeros outside [begin, end): its sum goes to carry slot 0
    bool has_tail = false;           ///< another row is cut by `end`: its partial sum goes to carry slot 1
    std::size_t tail_row = 0;        ///< that row, when has_tail
};

/// The same for the task and for the serial carry pass, so both agree on
/// which rows went to the carries (no per-task row array to keep).
template <class Value, class Index>
balanced_range balanced_task_range(const csr_view<Value, Index>& s, std::size_t nnz, std::size_t tasks,
                                   std::size_t t) noexcept {
    const std::size_t block = nnz / tasks, extra = nnz % tasks;  // block >= 1: tasks <= nnz
    balanced_range g;
    g.begin = t * block + std::min(t, extra);
    g.end = g.begin + block + (t < extra ? 1 : 0);
    // The last row pointer <= k belongs to the row holding nonzero k (empty
    // rows before it end at k, so their pointers are not the last).
    const auto row_of = [&](std::size_t k) {
        return static_cast<std::size_t>(std::upper_bound(s.row_ptr.begin(), s.row_ptr.end(), static_cast<Index>(k)) -
                                        s.row_ptr.begin()) -
               1;
    };
    g.head_row = row_of(g.begin);
    const auto head_row_end = static_cast<std::size_t>(s.row_ptr[g.head_row + 1]);
    g.head_end = std::min(g.end, head_row_end);
    g.head_shared = static_cast<std::size_t>(s.row_ptr[g.head_row]) < g.begin || head_row_end > g.end;
    if (g.head_end < g.end) {
        g.tail_row = row_of(g.end - 1);
        g.has_tail = static_cast<std::size_t>(s.row_ptr[g.tail_row + 1]) > g.end;
    }
    return g;
}

/// acc + Σ v·x[c] over nonzeros [i, e), in stored order.
template <class Value, class Index>
float balanced_dot(const csr_view<Value, Index>& s, std::size_t i, std::size_t e, const float* x, float acc) noexcept {
    for (; i < e; ++i)
        acc += lut_value_traits<Value>::to_float(s.values[i]) * x[static_cast<std::size_t>(s.col_idx[i])];
    return acc;
}

/// out[b·stride] += Σ v·X(b, c) over nonzeros [i, e) for each batch vector b;
/// the batch loop sits inside so each nonzero is read once.
template <class Value, class Index>
void balanced_batch(const csr_view<Value, Index>& s, std::size_t i, std::size_t e, matrix_view<const float> X,
                    float* out, std::size_t stride) noexcept {
    for (; i < e; ++i) {
        const float v = lut_value_traits<Value>::to_float(s.values[i]);
        const auto c = static_cast<std::size_t>(s.col_idx[i]);
        for (std::size_t b = 0; b < X.rows(); ++b)
            out[b * stride] += v * X(b, c);
    }
}

/// y[r] += Σ v·x[c] over every row, the work split by nonzeros through
/// `exec`: a few contiguous nonzero ranges per unit of exec.concurrency(),
/// none under ~4096 nonzeros (one task for a small CSR). Each task finds its
/// first row by binary search and adds the rows wholly in its range straight
/// into y; the partial sums of the (at most two) rows cut by its range ends
/// go to carries, added to y serially in task order after exec.bulk returns,
/// so the result does not depend on the executor's scheduling, only on the
/// task count. Allocates a std::vector<float> of 2·tasks carries per call
/// when more than one task runs. Rows are summed in float in stored order,
/// from y[r] or (cut rows) from 0. The view must be valid for y's rows and
/// x's columns (validate); an empty CSR is a no-op. Tasks do not throw.
template <class Value, class Index, class Executor>
void csr_gemv_split(const csr_view<Value, Index>& s, const float* x, float* y, const Executor& exec) {
    const std::size_t nnz = s.col_idx.size();
    if (nnz == 0) return;
    const std::size_t rows = s.row_ptr.size() - 1;
    const std::size_t tasks = balanced_task_count(nnz, exec.concurrency());
    detail::vector<float> carry(tasks > 1 ? 2 * tasks : 0);  // one task owns every row: no carries
    exec.bulk(tasks, [&](std::size_t t) {
        const auto g = balanced_task_range(s, nnz, tasks, t);
        if (g.head_shared)
            carry[2 * t] = balanced_dot(s, g.begin, g.head_end, x, 0.0f);
        else
            y[g.head_row] = balanced_dot(s, g.begin, g.head_end, x, y[g.head_row]);
        // Rows starting inside the range end inside it too, except the tail row.
        const std::size_t stop = g.has_tail ? g.tail_row : rows;
        for (std::size_t r = g.head_row + 1; r < stop && static_cast<std::size_t>(s.row_ptr[r]) < g.end; ++r) {
            const auto b = static_cast<std::size_t>(s.row_ptr[r]), e = static_cast<std::size_t>(s.row_ptr[r + 1]);
            if (b != e) y[r] = balanced_dot(s, b, e, x, y[r]);
        }
        if (g.has_tail)
            carry[2 * t + 1] = balanced_dot(s, static_cast<std::size_t>(s.row_ptr[g.tail_row]), g.end, x, 0.0f);
    });
    if (tasks == 1) return;
    for (std::size_t t = 0; t < tasks; ++t) {
        const auto g = balanced_task_range(s, nnz, tasks, t);
        if (g.head_shared) y[g.head_row] += carry[2 * t];
        if (g.has_tail) y[g.tail_row] += carry[2 * t + 1];
    }
}

/// Y(b, r) += Σ v·X(b, c) for every row r and batch vector b (X: batch ×
/// cols, Y: batch × rows, one vector per row), split by nonzeros as
/// accumulate_gemv_split, with the same tasks; batch column b equals that
/// function's result on X's row b bit for bit. Allocates 2·tasks·batch float
/// carries per call when more than one task runs. Tasks do not throw.
template <class Value, class Index, class Executor>
void csr_gemm_split(const csr_view<Value, Index>& s, matrix_view<const float> X, matrix_view<float> Y,
                    const Executor& exec) {
    const std::size_t nnz = s.col_idx.size(), n = X.rows();
    if (nnz == 0 || n == 0) return;
    const std::size_t rows = s.row_ptr.size() - 1;
    const std::size_t tasks = balanced_task_count(nnz, exec.concurrency());
    detail::vector<float> carry(tasks > 1 ? 2 * tasks * n : 0);  // zeros: cut rows sum from 0
    const std::size_t ldy = Y.stride();
    exec.bulk(tasks, [&](std::size_t t) {
        const auto g = balanced_task_range(s, nnz, tasks, t);
        if (g.head_shared)
            balanced_batch(s, g.begin, g.head_end, X, carry.data() + 2 * t * n, 1);
        else
            balanced_batch(s, g.begin, g.head_end, X, Y.data() + g.head_row, ldy);
        const std::size_t stop = g.has_tail ? g.tail_row : rows;
        for (std::size_t r = g.head_row + 1; r < stop && static_cast<std::size_t>(s.row_ptr[r]) < g.end; ++r)
            balanced_batch(s, static_cast<std::size_t>(s.row_ptr[r]), static_cast<std::size_t>(s.row_ptr[r + 1]), X,
                           Y.data() + r, ldy);
        if (g.has_tail)
            balanced_batch(s, static_cast<std::size_t>(s.row_ptr[g.tail_row]), g.end, X, carry.data() + (2 * t + 1) * n,
                           1);
    });
    if (tasks == 1) return;
    for (std::size_t t = 0; t < tasks; ++t) {
        const auto g = balanced_task_range(s, nnz, tasks, t);
        for (std::size_t b = 0; b < n; ++b) {
            if (g.head_shared) Y(b, g.head_row) += carry[2 * t * n + b];
            if (g.has_tail) Y(b, g.tail_row) += carry[(2 * t + 1) * n + b];
        }
    }
}

}  // namespace detail
SQLLM_NAMESPACE_END
