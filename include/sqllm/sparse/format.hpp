// sqllm/sparse/format.hpp — the sparse-format parameter of a quantized matrix.
//
// A format is a tag type F with sparse_format_traits<F> naming its owning
// storage, its view, a display name and how its multiply work is scheduled:
//     using storage = ...;  using view = ...;
//     static constexpr const char* name;
//     static constexpr bool row_fused;
// Everything the dense code needs from the sparse part goes through free
// functions found by overload on the view type:
//     validate(view, rows, cols)                    throws sqllm::error if inconsistent
//     storage_bytes(view), nonzeros(view)
//     accumulate_gemv(view, x, y, row_begin, row_end)    y[r] += Σ v·x[c] for r in [begin, end)
//     accumulate_gemm(view, X, Y, row_begin, row_end)    Y[b][r] += Σ v·X[b][c]
//     accumulate_gemv_split(view, x, y, exec)            y[r] += Σ v·x[c] for every row
//     accumulate_gemm_split(view, X, Y, exec)            Y[b][r] += Σ v·X[b][c] for every row
//     add_to_dense(view, W)                              W[r][c] += v
//
// row_fused says which accumulate functions the kernels call:
//   true   the row-range ones, once per row block of the executor's tasks,
//          right after that block's dense rows: one pass over the output.
//          Right when the sparse work per row follows the dense work per row.
//   false  the kernels first compute all dense rows, then call the _split
//          function once; the format divides its own work through the
//          executor (e.g. by nonzeros, when a few rows hold most of them and
//          a row split would leave one task with all the sparse work).
// A format must provide the functions its row_fused value selects (csr only
// has the row-range ones; balanced_csr and no_sparse have both).
//
// So a new format (nonzero-balanced CSR, dense-row hybrids, ...) is a new tag
// plus these overloads, with no change to the dense code.
#pragma once

namespace sqllm {

template <class Format>
struct sparse_format_traits;  // undefined: not a sparse format

}  // namespace sqllm
