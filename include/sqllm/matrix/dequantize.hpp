// sqllm/matrix/dequantize.hpp — expand a quantized matrix back to dense values.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "quantized_matrix.hpp"

SQLLM_NAMESPACE_BEGIN

/// out(r, c) = LUT(r, code(r, c)) + sparse(r, c), computed in T (float or
/// double; the sum is exact in double). `out` must be rows × cols.
template <class T, int Bits, class Lut, class Sparse, class Layout>
void dequantize(const quantized_view<Bits, Lut, Sparse, Layout>& m, matrix_view<T> out) {
    if (out.rows() != m.rows() || out.cols() != m.cols())
        detail::fail(errc::shape_mismatch, "dequantize output is " + detail::to_string(out.rows()) + " × " +
                                               detail::to_string(out.cols()) + ", the matrix is " +
                                               detail::to_string(m.rows()) + " × " + detail::to_string(m.cols()));
    code_t group[codes_per_group];
    for (std::size_t r = 0; r < m.rows(); ++r) {
        const Lut* lut = m.lut_row(r);
        for (std::size_t g = 0; g * codes_per_group < m.cols(); ++g) {
            Layout::unpack_group(m.words(), m.rows(), m.cols(), r, g, group);
            for (std::size_t k = 0; k < codes_per_group && g * codes_per_group + k < m.cols(); ++k)
                out(r, g * codes_per_group + k) = static_cast<T>(lut_value_traits<Lut>::to_float(lut[group[k]]));
        }
    }
    sparse_format_traits<Sparse>::add_to_dense(m.sparse(), out);
}

/// Dequantizes into a new rows × cols row-major vector.
template <class T = float, int Bits, class Lut, class Sparse, class Layout>
std::vector<T> dequantize(const quantized_view<Bits, Lut, Sparse, Layout>& m) {
    std::vector<T> out(checked_mul(m.rows(), m.cols(), "dequantize: rows × cols"));
    dequantize(m, matrix_view<T>(out.data(), m.rows(), m.cols()));
    return out;
}

SQLLM_NAMESPACE_END
