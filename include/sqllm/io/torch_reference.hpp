// sqllm/io/torch_reference.hpp — the SqueezeLLM reference's quantized
// layers (`QuantLinearLUT` buffers) in a torch state dict, loaded as
// quantized_matrix.
//
// Per layer `<name>` (docs/DESIGN.md §8, docs/TORCH.md), from the
// reference's squeezellm/quant.py and quantization/pack.py:
//   qweight           I32 [cols·Bits/32, rows]  codes; pack2 writes the same LSB-first
//                                               bit stream as reference_layout (§3)
//   lookup_table      F32 [rows, 2^Bits]
//   bias              [rows] (optional; an ordinary tensor: it is not part of the matrix)
//   rows, cols, vals  I32 [rows+1], I32 [nnz], F32 [nnz]   CSR of residuals (optional)
//   startrows         I32 [threads]   balanced kernel: first row of each thread's
//                                     nonzeros; derived from `rows`, checked, then unused
//   full_rows         F32 [cols, topX]  hybrid kernel: whole rows whose products the
//   full_row_indices  I32 [topX]        kernel adds to outputs full_row_indices[t]
// and the plain int `sparse_threshold.<name>` = nnz.
//
// The hybrid rows are folded into the sparse part: row r = full_row_indices[t]
// gets the CSR value full_rows[c][t] (+ its own residual at c, + any other t
// naming r) at every column c, summed in double and rounded once to float.
// The loaded matrix is then a plain dense+CSR layer computing the same
// product. Where a folded row had no residual at c (the reference takes the
// hybrid rows out of the CSR, so that is the usual case) the value is
// exact; where both exist the stored sum is rounded to float once (at most
// half an ulp of the sum), while the reference's kernel rounds the two
// partial dot products separately — either way a float rounding of the
// same real sum.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../format/reference_checkpoint.hpp"
#include "../layout/striped.hpp"
#include "../sparse/csr_arrays.hpp"
#include "torch_checkpoint.hpp"

SQLLM_NAMESPACE_BEGIN
namespace io {

/// A quantized layer found in a torch state dict, its shapes checked.
struct torch_quantized_layer {
    std::string name;  ///< module name: tensors are <name>.qweight, ...
    std::size_t rows = 0, cols = 0;
    int bits = 0;
    dtype lut_type = dtype::f32;
    bool has_sparse = false;  ///< rows/cols/vals present
    std::size_t nnz = 0;      ///< CSR entries as stored (before the hybrid fold)
    bool has_bias = false;    ///< <name>.bias present
    bool balanced = false;    ///< <name>.startrows present
    std::size_t top_x = 0;    ///< hybrid: columns of full_rows (0: none)
};

/// The tensor-name suffixes that belong to a reference layer's matrix (the
/// bias is not among them: it stays an ordinary tensor).
inline const std::vector<std::string>& torch_quantized_suffixes() {
    static const std::vector<std::string> s{".qweight",   ".lookup_table", ".rows",
                                            ".cols",      ".vals",         ".startrows",
                                            ".full_rows", ".full_row_indices"};
    return s;
}

/// Every quantized layer of `f` (each `<name>.qweight` beside a
/// `<name>.lookup_table`), in state-dict order, with dtypes and shapes of
/// all its arrays checked against each other, and `sparse_threshold.<name>`
/// (when present) against nnz. Throws errc::corrupt_data naming the layer.
/// Array contents are checked by load_torch_quantized.
inline std::vector<torch_quantized_layer> find_torch_quantized_layers(const torch_checkpoint& f) {
    std::vector<torch_quantized_layer> out;
    for (const torch_tensor_info& q : f.tensors()) {
        if (!detail::ends_with(q.name, ".qweight")) continue;
        torch_quantized_layer L;
        L.name = q.name.substr(0, q.name.size() - 8);
        const std::string where = f.path() + ": quantized layer \"" + printable(L.name) + "\"";
        auto bad = [&](const std::string& what) { sqllm::detail::fail(errc::corrupt_data, where + ": " + what); };
        auto vec = [&](const torch_tensor_info* t, dtype type, std::size_t n, const char* what) {
            if (t->type != type || t->shape.size() != 1 || t->shape[0] != n)
                bad(std::string(what) + " is " + t->describe() + ", expected " + to_string(type) + "[" +
                    std::to_string(n) + "]");
        };
        const torch_tensor_info* lut = f.find(L.name + ".lookup_table");
        if (!lut) bad("has a qweight but no lookup_table");
        if (q.type != dtype::i32 || q.shape.size() != 2)
            bad("qweight is " + q.describe() + ", expected I32[cols·Bits/32, rows]");
        if ((lut->type != dtype::f32 && lut->type != dtype::f16) || lut->shape.size() != 2)
            bad("lookup_table is " + lut->describe() + ", expected F32[rows, 2^Bits]");
        L.lut_type = lut->type;
        L.rows = lut->shape[0];
        for (int b = 1; b <= 8; ++b)
            if (lut->shape[1] == (std::size_t(1) << b)) L.bits = b;
        if (L.bits == 0)
            bad("lookup_table has " + std::to_string(lut->shape[1]) + " entries per row, not 2^Bits with Bits 1..8");
        if (L.rows == 0) bad("has no rows");
        if (q.shape[1] != L.rows)
            bad("qweight has " + std::to_string(q.shape[1]) + " columns but lookup_table " + std::to_string(L.rows) +
                " rows");
        if (q.shape[0] == 0 || q.shape[0] % static_cast<std::size_t>(L.bits) != 0)
            bad("qweight has " + std::to_string(q.shape[0]) + " word rows, not a positive multiple of Bits = " +
                std::to_string(L.bits));
        L.cols = checked_mul(q.shape[0] / static_cast<std::size_t>(L.bits), 32, "quantized layer columns");
        if (const torch_tensor_info* b = f.find(L.name + ".bias")) {
            if (b->shape.size() != 1 || b->shape[0] != L.rows ||
                (b->type != dtype::f32 && b->type != dtype::f16 && b->type != dtype::bf16))
                bad("bias is " + b->describe() + ", expected a float vector of " + std::to_string(L.rows));
            L.has_bias = true;
        }
        const torch_tensor_info* rp = f.find(L.name + ".rows");
        const torch_tensor_info* ci = f.find(L.name + ".cols");
        const torch_tensor_info* va = f.find(L.name + ".vals");
        L.has_sparse = rp || ci || va;
        if (L.has_sparse) {
            if (!rp || !ci || !va) bad("has only some of the sparse arrays rows, cols, vals");
            vec(rp, dtype::i32, L.rows + 1, "rows");
            if (ci->shape.size() != 1) bad("cols is " + ci->describe() + ", expected I32[nnz]");
            L.nnz = ci->shape[0];
            vec(ci, dtype::i32, L.nnz, "cols");
            vec(va, dtype::f32, L.nnz, "vals");
        }
        if (const std::int64_t* th = f.find_integer("sparse_threshold." + L.name)) {
            if (!L.has_sparse || *th < 0 || static_cast<std::uint64_t>(*th) != L.nnz)
                bad("sparse_threshold is " + std::to_string(*th) + " but the layer has " + std::to_string(L.nnz) +
                    " sparse values");
        }
        if (const torch_tensor_info* sr = f.find(L.name + ".startrows")) {
            if (!L.has_sparse) bad("has startrows (balanced kernel) but no sparse arrays");
            if (sr->type != dtype::i32 || sr->shape.size() != 1 || sr->shape[0] == 0)
                bad("startrows is " + sr->describe() + ", expected I32[threads]");
            L.balanced = true;
        }
        const torch_tensor_info* fr = f.find(L.name + ".full_rows");
        const torch_tensor_info* fi = f.find(L.name + ".full_row_indices");
        if (fr || fi) {
            if (!fr || !fi) bad("has only one of full_rows and full_row_indices");
            // The reference applies full_rows only in its sparse (include_sparse) path.
            if (!L.has_sparse) bad("has full_rows (hybrid kernel) but no sparse arrays: the reference would ignore them");
            if (fr->type != dtype::f32 || fr->shape.size() != 2 || fr->shape[0] != L.cols)
                bad("full_rows is " + fr->describe() + ", expected F32[" + std::to_string(L.cols) + ", topX]");
            L.top_x = fr->shape[1];
            vec(fi, dtype::i32, L.top_x, "full_row_indices");
        }
        out.push_back(std::move(L));
    }
    for (const torch_tensor_info& t : f.tensors())
        if (detail::ends_with(t.name, ".lookup_table") &&
            !f.find(t.name.substr(0, t.name.size() - 13) + ".qweight"))
            sqllm::detail::fail(errc::corrupt_data, f.path() + ": \"" + printable(t.name) + "\" has no qweight beside it");
    return out;
}

/// True when `name` is one of the matrix arrays (torch_quantized_suffixes) of a layer in `layers`.
inline bool is_torch_quantized_array(const std::vector<torch_quantized_layer>& layers, const std::string& name) {
    for (const torch_quantized_layer& L : layers)
        if (name.size() > L.name.size() && name.compare(0, L.name.size(), L.name) == 0)
            for (const std::string& s : torch_quantized_suffixes())
                if (name.size() == L.name.size() + s.size() && detail::ends_with(name, s)) return true;
    return false;
}

/// The reference's balanced-kernel `startrows` for a CSR with row pointers
/// `rows` (out_features + 1 entries) and `threads` threads, computed as
/// quantization/pack.py does (−1 past the last nonzero).
inline std::vector<std::int32_t> reference_startrows(const std::vector<std::int32_t>& rows, std::size_t threads) {
    const std::size_t out_features = rows.size() - 1;
    const std::uint64_t numvals = static_cast<std::uint64_t>(rows.back());
    const std::uint64_t per_thread = (numvals + threads - 1) / threads;
    std::vector<std::int32_t> start(threads, 0);
    std::size_t minidx = 0;
    for (std::size_t i = 0; i < threads; ++i) {
        std::size_t tmpmin = minidx;
        const std::uint64_t target = per_thread * i;
        for (std::size_t j = minidx; j < out_features; ++j) {
            if (target > numvals) {
                start[i] = -1;
                break;
            } else if (static_cast<std::uint64_t>(rows[j]) < target) {
                start[i] = static_cast<std::int32_t>(j);
                tmpmin = j;
            } else {
                break;
            }
        }
        minidx = tmpmin;
    }
    return start;
}

/// Loads one reference layer into a quantized_matrix (codes repacked into
/// Layout once). Bits must equal layer.bits. Checks everything
/// import_reference checks (sizes, NaN/Inf, the CSR), startrows against
/// the CSR (reference_startrows), and full_row_indices in [0, rows);
/// folds the hybrid rows into the sparse part (see the file comment). A
/// layer with full_rows needs a Sparse format (not no_sparse). Throws
/// sqllm::error naming the file and the layer.
template <int Bits, class Lut = float, class Sparse = default_sparse, class Layout = default_layout<Bits>>
quantized_matrix<Bits, Lut, Sparse, Layout> load_torch_quantized(const torch_checkpoint& f,
                                                                 const torch_quantized_layer& L) {
    const std::string where = f.path() + ": quantized layer \"" + printable(L.name) + "\"";
    if (L.bits != Bits)
        sqllm::detail::fail(errc::invalid_argument, where + " has " + std::to_string(L.bits) +
                                                        "-bit codes, requested " + std::to_string(Bits));
    try {
        const auto qweight = f.read<std::int32_t>(f.at(L.name + ".qweight"));
        std::vector<std::int32_t> rows, cols;
        std::vector<float> vals;
        if (L.has_sparse) {
            rows = f.read<std::int32_t>(f.at(L.name + ".rows"));
            cols = f.read<std::int32_t>(f.at(L.name + ".cols"));
            vals = f.read<float>(f.at(L.name + ".vals"));
            sqllm::detail::csr_validate(reference_csr{rows, cols, vals}, L.rows, L.cols);
        }
        if (L.balanced) {
            const auto start = f.read<std::int32_t>(f.at(L.name + ".startrows"));
            if (start != reference_startrows(rows, start.size()))
                sqllm::detail::fail(errc::corrupt_data,
                                    "startrows disagrees with the CSR row pointers (as pack.py computes it for " +
                                        std::to_string(start.size()) + " threads)");
        }
        if (L.top_x > 0) {
            const auto full = f.read<float>(f.at(L.name + ".full_rows"));  // [cols, topX]
            const auto which = f.read<std::int32_t>(f.at(L.name + ".full_row_indices"));
            std::vector<std::vector<std::size_t>> by_row(L.rows);  // the t's of each folded row
            for (std::size_t t = 0; t < which.size(); ++t) {
                if (which[t] < 0 || static_cast<std::size_t>(which[t]) >= L.rows)
                    sqllm::detail::fail(errc::out_of_range, "full_row_indices[" + std::to_string(t) + "] = " +
                                                                std::to_string(which[t]) + " is outside [0, " +
                                                                std::to_string(L.rows) + ")");
                by_row[static_cast<std::size_t>(which[t])].push_back(t);
            }
            for (float v : full)
                if (!std::isfinite(v)) sqllm::detail::fail(errc::non_finite, "full_rows holds NaN or Inf");
            std::vector<std::int32_t> nrows(L.rows + 1, 0), ncols;
            std::vector<float> nvals;
            std::vector<double> acc(L.cols);
            std::vector<char> present(L.cols);
            for (std::size_t r = 0; r < L.rows; ++r) {
                const std::size_t b = rows.empty() ? 0 : static_cast<std::size_t>(rows[r]);
                const std::size_t e = rows.empty() ? 0 : static_cast<std::size_t>(rows[r + 1]);
                if (by_row[r].empty()) {
                    for (std::size_t i = b; i < e; ++i) {
                        ncols.push_back(cols[i]);
                        nvals.push_back(vals[i]);
                    }
                } else {
                    std::fill(acc.begin(), acc.end(), 0.0);
                    std::fill(present.begin(), present.end(), 0);
                    for (std::size_t i = b; i < e; ++i) {
                        acc[static_cast<std::size_t>(cols[i])] = vals[i];
                        present[static_cast<std::size_t>(cols[i])] = 1;
                    }
                    for (std::size_t t : by_row[r])
                        for (std::size_t c = 0; c < L.cols; ++c)
                            acc[c] += static_cast<double>(full[c * L.top_x + t]);
                    for (std::size_t c = 0; c < L.cols; ++c) {
                        if (!present[c] && acc[c] == 0.0) continue;
                        const float v = static_cast<float>(acc[c]);
                        if (!std::isfinite(v))
                            sqllm::detail::fail(errc::out_of_range, "row " + std::to_string(r) +
                                                                        ": residual plus full_rows overflows float");
                        ncols.push_back(static_cast<std::int32_t>(c));
                        nvals.push_back(v);
                    }
                }
                nrows[r + 1] = checked_narrow<std::int32_t>(ncols.size(), "folded CSR entry count");
            }
            rows = std::move(nrows);
            cols = std::move(ncols);
            vals = std::move(nvals);
        }
        const torch_tensor_info& lut = f.at(L.name + ".lookup_table");
        if (lut.type == dtype::f16) {
            const auto table = f.read<half>(lut);
            return import_reference<Bits, Lut, Sparse, Layout>(L.rows, L.cols,
                                                               reference_arrays<half>{qweight, table, rows, cols, vals});
        }
        const auto table = f.read<float>(lut);
        return import_reference<Bits, Lut, Sparse, Layout>(L.rows, L.cols,
                                                           reference_arrays<float>{qweight, table, rows, cols, vals});
    } catch (const error& e) {
        if (std::string(e.message()).compare(0, f.path().size(), f.path()) == 0) throw;
        throw error(e.code(), where + ": " + e.message());
    }
}

}  // namespace io
SQLLM_NAMESPACE_END
