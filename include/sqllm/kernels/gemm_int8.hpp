// sqllm/kernels/gemm_int8.hpp — the approximate int8 path: Y ≈ W·X with the
// activations and each row's LUT quantized to int8 and integer dot products
// (AVX512-VNNI vpdpbusd, AVX2 vpmaddubsw, NEON SDOT where the build has it),
// the way ggml's IQ4_NL and q8_K do. Opt-in: gemv/gemm (exact fp32) stay the
// default; the error is measured in docs/DESIGN.md §7.2.
//
// The same striped-layout matrix serves both paths (no repacking). Per call,
// each activation vector is quantized per block of 256 columns:
// d = max|x| / 127, x8 = round(x / d); per row, lut8 = round(lut / s) with
// s = max|lut| / 127. Then y[r] = s_r·Σ_blocks d·Σ lut8[code]·x8 (integer
// sums, exact), plus the sparse part in fp32 as the exact path adds it.
// Relative error: about 1/254 per factor for a uniformly spread block, more
// where one large value sets a block's or a row's scale.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "../config.hpp"
#include "../core/abi_std.hpp"
#include "../core/checked.hpp"
#include "../error.hpp"
#include "gemv.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {

/// Columns per activation block (one scale each; ggml's q8_K block size).
constexpr std::size_t int8_block_cols = 256;

/// A batch of activations quantized for the int8 path, in a workspace: x8
/// (N × padded cols, zeros past cols), d (N × blocks scales) and q (per
/// vector, Σ_blocks d·Σ x8: what a weight bias adds, driver/int8.inl).
struct int8_batch {
    matrix_view<std::int8_t> x8;
    matrix_view<float> d;
    float* q = nullptr;
};

/// Bytes of workspace for n vectors of `cols` values (64 bytes of slack to align).
inline std::size_t int8_workspace_bytes(std::size_t cols, std::size_t n) {
    const std::size_t padded = striped_geometry::padded_cols(cols);
    const std::size_t blocks = padded / int8_block_cols;
    const std::size_t floats = checked_mul(n, checked_add(blocks, 1, "int8 workspace"), "int8 workspace");
    const std::size_t float_bytes = checked_mul(floats, sizeof(float), "int8 workspace");
    const std::size_t x_bytes = checked_mul(n, padded, "int8 workspace");
    return checked_add(checked_add(float_bytes, x_bytes, "int8 workspace"), 64 + 63, "int8 workspace");
}

/// Carves an int8_batch for n vectors of `cols` values out of ws (at least
/// int8_workspace_bytes(cols, n) bytes).
inline int8_batch int8_carve(unsigned char* ws, std::size_t cols, std::size_t n) noexcept {
    const std::size_t padded = striped_geometry::padded_cols(cols);
    const std::size_t blocks = padded / int8_block_cols;
    unsigned char* p = ws + (64 - reinterpret_cast<std::uintptr_t>(ws) % 64) % 64;
    int8_batch b;
    b.d = matrix_view<float>(reinterpret_cast<float*>(p), n, blocks);
    b.q = reinterpret_cast<float*>(p) + n * blocks;
    unsigned char* x = p + (n * (blocks + 1) * sizeof(float) + 63) / 64 * 64;
    b.x8 = matrix_view<std::int8_t>(reinterpret_cast<std::int8_t*>(x), n, padded);
    return b;
}

/// Quantizes X (N × cols) into `out`: per vector and block of 256 columns,
/// d = max|x| / 127 and x8 = round(x / d) (half away from zero; d = 0 and
/// x8 = 0 for a block of zeros). Throws sqllm::error(non_finite) naming the
/// first NaN or infinity: one would set its block's scale and silently wipe
/// out the block's other values. Both the kernels and the oracle use this
/// one function, so they see the same int8 batch.
inline void int8_quantize(matrix_view<const float> X, const int8_batch& out, const char* op) {
    const std::size_t cols = X.cols(), blocks = out.d.cols();
    for (std::size_t j = 0; j < X.rows(); ++j) {
        const float* x = X.row(j);
        std::int8_t* x8 = out.x8.row(j);
        float q = 0.0f;
        for (std::size_t k = 0; k < blocks; ++k) {
            const std::size_t c0 = k * int8_block_cols, c1 = std::min(cols, c0 + int8_block_cols);
            float m = 0.0f;
            for (std::size_t c = c0; c < c1; ++c) {
                const float a = x[c] < 0.0f ? -x[c] : x[c];
                if (!(a <= std::numeric_limits<float>::max()))
                    fail(errc::non_finite, std::string(op) + ": X(" + detail::to_string(j) + ", " +
                                               detail::to_string(c) + ") is " + (a == a ? "infinite" : "NaN") +
                                               " (the int8 path scales each block of 256 activations by its "
                                               "largest magnitude)");
                m = a > m ? a : m;
            }
            const float inv = m > 0.0f ? 127.0f / m : 0.0f;
            int sum = 0;
            for (std::size_t c = c0; c < c1; ++c) {
                const float v = x[c] * inv;
                int i = static_cast<int>(v < 0.0f ? v - 0.5f : v + 0.5f);
                i = i > 127 ? 127 : i < -127 ? -127 : i;
                x8[c] = static_cast<std::int8_t>(i);
                sum += i;
            }
            for (std::size_t c = c1; c < c0 + int8_block_cols; ++c) x8[c] = 0;
            out.d(j, k) = m / 127.0f;
            q += out.d(j, k) * static_cast<float>(sum);
        }
        out.q[j] = q;
    }
}

/// The workspace of a call: the caller's, or one allocated here.
class int8_workspace {
public:
    int8_workspace(span<unsigned char> given, std::size_t cols, std::size_t n, const char* op) {
        const std::size_t need = int8_workspace_bytes(cols, n);
        if (given.data() == nullptr && given.size() == 0) {
            own_.resize(need);
            base_ = own_.data();
        } else if (given.size() < need) {
            fail(errc::invalid_argument, std::string(op) + ": the workspace has " + detail::to_string(given.size()) +
                                             " bytes, this call needs " + detail::to_string(need) +
                                             " (gemm_int8_workspace_bytes)");
        } else {
            base_ = given.data();
        }
    }
    unsigned char* data() const noexcept { return base_; }

private:
    detail::vector<unsigned char> own_;
    unsigned char* base_ = nullptr;
};

/// Y ≈ W·X on target Tag (shapes checked, X finite): quantize X, run the int8
/// rows through the executor, then the sparse part in fp32 as gemm_on does.
template <class Tag, int Bits, class Lut, class Sparse, class Executor>
void gemm_int8_on(Tag, const quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>& W, matrix_view<const float> X,
                  matrix_view<float> Y, span<unsigned char> workspace, const Executor& exec, const char* op) {
    const std::size_t n = X.rows(), rows = W.rows(), cols = W.cols();
    if (n == 0 || rows == 0) return;
    using S = sparse_format_traits<Sparse>;
    if (cols == 0) {  // no blocks to accumulate: W·X = 0
        for (std::size_t j = 0; j < n; ++j) std::fill(Y.row(j), Y.row(j) + rows, 0.0f);
        return;
    }
    const int8_workspace ws(workspace, cols, n, op);
    const int8_batch xb = int8_carve(ws.data(), cols, n);
    int8_quantize(X, xb, op);
    const bool one = n == 1;  // gemv: the sparse part's gemv order, as gemv_on
    parallel_blocks(
        exec, rows, row_tasks(rows, cols, exec.concurrency()),
        [&](std::size_t b, std::size_t e) {
            impl_of<Tag>::type::template striped_int8<Bits, Lut>(W.words(), W.lut(), cols, xb.x8, xb.d, xb.q, Y, b,
                                                                 e);
            if constexpr (S::row_fused) {
                if (one)
                    S::gemv_rows(W.sparse(), X.row(0), Y.row(0), b, e);
                else
                    S::gemm_rows(W.sparse(), X, Y, b, e);
            }
        },
        4);  // whole 4-row tiles per task (driver/int8.inl)
    if constexpr (!S::row_fused) {
        if (one)
            S::gemv_split(W.sparse(), X.row(0), Y.row(0), exec);
        else
            S::gemm_split(W.sparse(), X, Y, exec);
    }
}

/// Checks t for the int8 kernels of W's types (errors as gemm's).
template <int Bits, class Lut>
void require_int8_target(target_id t, const char* op) {
    if (!target_supported(t))
        require_target<layout_kernels<striped_layout<Bits>>>(
            t, kernel_description<Bits, Lut, striped_layout<Bits>>(op).c_str());
}

/// Overloads taking an executor: anything but a workspace.
template <class E>
using if_executor = std::enable_if_t<!std::is_convertible<const E&, span<unsigned char>>::value>;

}  // namespace detail

/// Bytes of workspace gemm_int8 (n = X's vectors) or gemv_int8 (n = 1) need
/// for W: N·padded_cols bytes of int8 activations plus N·(padded_cols/256 + 1)
/// floats of scales, and 127 bytes of alignment slack (padded_cols: cols
/// rounded up to 256). Throws sqllm::error(out_of_range) if that overflows.
template <int Bits, class Lut, class Sparse>
std::size_t gemm_int8_workspace_bytes(const quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>& W,
                                      std::size_t n) {
    return detail::int8_workspace_bytes(W.cols(), n);
}

/// Y ≈ W·X on target t through the approximate int8 path (file comment;
/// reference::gemm_int8 is its oracle), in the caller's workspace of at
/// least gemm_int8_workspace_bytes(W, X.rows()) bytes (no allocation; an
/// empty span allocates it per call). X is N × cols, Y is N × rows,
/// overwritten. Throws sqllm::error: invalid_argument if this build or CPU
/// lacks t or the workspace is too small, shape_mismatch if X or Y does not
/// fit W, non_finite if X holds a NaN or an infinity (nothing is written).
/// The sparse part is exact (fp32), as in gemm.
template <int Bits, class Lut, class Sparse, class Executor = sequential_executor>
void gemm_int8(target_id t, const quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>& W,
               matrix_view<const float> X, matrix_view<float> Y, span<unsigned char> workspace,
               const Executor& exec = {}) {
    detail::require_int8_target<Bits, Lut>(t, "gemm_int8");
    detail::check_gemm_shapes(W.rows(), W.cols(), X.rows(), X.cols(), Y.rows(), Y.cols());
    with_target(t, [&](auto tag) { detail::gemm_int8_on(tag, W, X, Y, workspace, exec, "gemm_int8"); });
}

/// As above, the workspace allocated per call.
template <int Bits, class Lut, class Sparse, class Executor = sequential_executor,
          class = detail::if_executor<Executor>>
void gemm_int8(target_id t, const quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>& W,
               matrix_view<const float> X, matrix_view<float> Y, const Executor& exec = {}) {
    gemm_int8(t, W, X, Y, span<unsigned char>(), exec);
}

/// Y ≈ W·X on kernel_target(W), in the caller's workspace.
template <int Bits, class Lut, class Sparse, class Executor = sequential_executor>
void gemm_int8(const quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>& W, matrix_view<const float> X,
               matrix_view<float> Y, span<unsigned char> workspace, const Executor& exec = {}) {
    gemm_int8(kernel_target(W), W, X, Y, workspace, exec);
}

/// Y ≈ W·X on kernel_target(W), the workspace allocated per call.
template <int Bits, class Lut, class Sparse, class Executor = sequential_executor,
          class = detail::if_executor<Executor>>
void gemm_int8(const quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>& W, matrix_view<const float> X,
               matrix_view<float> Y, const Executor& exec = {}) {
    gemm_int8(kernel_target(W), W, X, Y, span<unsigned char>(), exec);
}

/// y ≈ W·x on target t through the int8 path: gemm_int8 of one vector (the
/// same results; the workspace is gemm_int8_workspace_bytes(W, 1) bytes).
/// x has W.cols() values, y W.rows(); errors as gemm_int8.
template <int Bits, class Lut, class Sparse, class Executor = sequential_executor>
void gemv_int8(target_id t, const quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>& W, span<const float> x,
               span<float> y, span<unsigned char> workspace, const Executor& exec = {}) {
    detail::require_int8_target<Bits, Lut>(t, "gemv_int8");
    detail::check_gemv_shapes(W.rows(), W.cols(), x.size(), y.size());
    with_target(t, [&](auto tag) {
        detail::gemm_int8_on(tag, W, matrix_view<const float>(x.data(), 1, x.size()),
                             matrix_view<float>(y.data(), 1, y.size()), workspace, exec, "gemv_int8");
    });
}

/// As above, the workspace allocated per call.
template <int Bits, class Lut, class Sparse, class Executor = sequential_executor,
          class = detail::if_executor<Executor>>
void gemv_int8(target_id t, const quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>& W, span<const float> x,
               span<float> y, const Executor& exec = {}) {
    gemv_int8(t, W, x, y, span<unsigned char>(), exec);
}

/// y ≈ W·x on kernel_target(W), in the caller's workspace.
template <int Bits, class Lut, class Sparse, class Executor = sequential_executor>
void gemv_int8(const quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>& W, span<const float> x, span<float> y,
               span<unsigned char> workspace, const Executor& exec = {}) {
    gemv_int8(kernel_target(W), W, x, y, workspace, exec);
}

/// y ≈ W·x on kernel_target(W), the workspace allocated per call.
template <int Bits, class Lut, class Sparse, class Executor = sequential_executor,
          class = detail::if_executor<Executor>>
void gemv_int8(const quantized_view<Bits, Lut, Sparse, striped_layout<Bits>>& W, span<const float> x, span<float> y,
               const Executor& exec = {}) {
    gemv_int8(kernel_target(W), W, x, y, span<unsigned char>(), exec);
}

namespace reference {

/// The oracle of gemm_int8: the same quantization (the same int8 batch, the
/// same int8 LUTs) with every block's integer sum computed exactly and
/// accumulated in double, for any layout; then the sparse part in fp32 as
/// reference::gemm adds it. Every target's gemm_int8 agrees with it up to
/// float rounding of the per-block accumulation (tests/test_int8.cpp).
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemm_int8(const quantized_view<Bits, Lut, Sparse, Layout>& W, matrix_view<const float> X, matrix_view<float> Y,
               const Executor& exec = {}) {
    detail::check_gemm_shapes(W.rows(), W.cols(), X.rows(), X.cols(), Y.rows(), Y.cols());
    const std::size_t n = X.rows(), rows = W.rows(), cols = W.cols();
    if (n == 0 || rows == 0) return;
    const detail::int8_workspace ws(span<unsigned char>(), cols, n, "reference::gemm_int8");
    const detail::int8_batch xb = detail::int8_carve(ws.data(), cols, n);
    detail::int8_quantize(X, xb, "reference::gemm_int8");
    using S = sparse_format_traits<Sparse>;
    constexpr int K = 1 << Bits;
    parallel_blocks(exec, rows, detail::row_tasks(rows, cols, exec.concurrency()), [&](std::size_t b, std::size_t e) {
        code_t codes[codes_per_group];
        int lut8[K];
        for (std::size_t r = b; r < e; ++r) {
            // The driver's int8_row_table (driver/int8.inl), written out again.
            float f[K], m = 0.0f;
            bool finite = true;
            for (int k = 0; k < K; ++k) {
                f[k] = lut_value_traits<Lut>::to_float(W.lut_row(r)[k]);
                const float a = f[k] < 0.0f ? -f[k] : f[k];
                finite = finite && a <= std::numeric_limits<float>::max();
                m = a > m ? a : m;
            }
            for (int k = 0; k < K; ++k) {
                int q = 0;
                if (finite && m > 0.0f) {
                    const float v = f[k] * 127.0f / m;
                    q = static_cast<int>(v < 0.0f ? v - 0.5f : v + 0.5f);
                    q = q > 127 ? 127 : q < -127 ? -127 : q;
                }
                lut8[k] = q;
            }
            const double s = finite ? static_cast<double>(m / 127.0f) : std::numeric_limits<double>::quiet_NaN();
            for (std::size_t j = 0; j < n; ++j) {
                const std::int8_t* x8 = xb.x8.row(j);
                double acc = 0.0;
                std::int32_t block = 0;
                for (std::size_t g = 0; g * codes_per_group < cols; ++g) {
                    Layout::unpack_group(W.words(), rows, cols, r, g, codes);
                    const std::size_t c0 = g * codes_per_group, c1 = std::min(cols, c0 + codes_per_group);
                    for (std::size_t c = c0; c < c1; ++c) block += lut8[codes[c - c0]] * x8[c];
                    if (c1 == cols || c1 % detail::int8_block_cols == 0) {  // a block ends: exact, then scaled
                        acc += static_cast<double>(xb.d(j, c0 / detail::int8_block_cols)) * block;
                        block = 0;
                    }
                }
                Y(j, r) = static_cast<float>(acc * s);
            }
        }
        if constexpr (S::row_fused) S::gemm_rows(W.sparse(), X, Y, b, e);
    });
    if constexpr (!S::row_fused) S::gemm_split(W.sparse(), X, Y, exec);
}

/// The oracle of gemv_int8: reference::gemm_int8 of one vector.
template <int Bits, class Lut, class Sparse, class Layout, class Executor = sequential_executor>
void gemv_int8(const quantized_view<Bits, Lut, Sparse, Layout>& W, span<const float> x, span<float> y,
               const Executor& exec = {}) {
    detail::check_gemv_shapes(W.rows(), W.cols(), x.size(), y.size());
    reference::gemm_int8(W, matrix_view<const float>(x.data(), 1, x.size()), matrix_view<float>(y.data(), 1, y.size()),
                         exec);
}

}  // namespace reference
SQLLM_NAMESPACE_END
