// sqllm/sparse/format.hpp — the sparse-format parameter of a quantized matrix.
//
// A format is a tag type F with sparse_format_traits<F> naming its owning
// storage and its view. Everything the dense code needs from the sparse part
// goes through free functions found by overload on the view type:
//     validate(view, rows, cols)                    throws sqllm::error if inconsistent
//     storage_bytes(view), nonzeros(view)
//     accumulate_gemv(view, x, y, row_begin, row_end)    y[r] += Σ v·x[c] for r in [begin, end)
//     accumulate_gemm(view, X, Y, row_begin, row_end)    Y[b][r] += Σ v·X[b][c]
//     add_to_dense(view, W)                              W[r][c] += v
// so a new format (nonzero-balanced CSR, dense-row hybrids, ...) is a new tag
// plus these overloads, with no change to the dense code.
#pragma once

namespace sqllm {

template <class Format>
struct sparse_format_traits;  // undefined: not a sparse format

}  // namespace sqllm
