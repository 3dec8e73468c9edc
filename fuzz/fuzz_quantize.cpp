// fuzz/fuzz_quantize.cpp — sqllm::quantize on small arbitrary matrices,
// sensitivities and options.
//
// Input (fuzz_common.hpp's reader, front to back):
//   u8 config (below), u8 method, u8 rows-1 (% 8), u8 cols-1 (% 64),
//   u8 sensitivity mode (% 3: none, full, one row broadcast with stride 0),
//   sparse options (3 values), Lloyd options, uniform options, u8 workers,
//   then the weights and sensitivities, one value each (value() below: small
//   numbers of many magnitudes, or NaN, ±Inf, ±FLT_MAX, denormals, -0, raw).
// Invariants: only sqllm::error escapes; otherwise every value dequantizes
// to a finite float, the LUT is sorted, every dense weight has its nearest
// LUT entry (by float distance), every kept (sparse) weight w comes back as
// dense + sparse == w except those quantize_report::kept_inexact counts (its
// count and kept_max_error must match exactly), and with a float CSR an
// inexact one only where the row's LUT has no entry that guarantees
// exactness (0, or within a factor 2 of w: quantize.hpp), and a chunked,
// out-of-order executor changes nothing.
#include <sqllm/sqllm.hpp>

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <typeinfo>
#include <vector>

#include "fuzz_common.hpp"

using namespace sqllm;
using sqllm_fuzz::finding;

namespace {

float value(sqllm_fuzz::reader& in) {
    const std::uint8_t tag = in.u8();
    if (tag < 0xF0) return std::ldexp(static_cast<float>((tag & 0x1F) - 16), 3 * (tag >> 5) - 12);
    switch (tag) {
        case 0xF0:
            return std::numeric_limits<float>::quiet_NaN();
        case 0xF1:
            return HUGE_VALF;
        case 0xF2:
            return -HUGE_VALF;
        case 0xF3:
            return FLT_MAX;
        case 0xF4:
            return -FLT_MAX;
        case 0xF5:
            return std::numeric_limits<float>::denorm_min() * static_cast<float>(1 + in.u8());
        case 0xF6:
            return -0.0f;
        case 0xF7:
            return FLT_MIN;
        default:
            return in.f32();
    }
}

double option(sqllm_fuzz::reader& in) {
    static const double table[] = {0.0,  0.0005, 0.004, 0.01, 0.05, 0.25, 0.5, 0.999, 1.0, 1.5, 2.0, 100.0,
                                   -0.1, 1e-300, 1e300, std::numeric_limits<double>::quiet_NaN(), HUGE_VAL,
                                   std::numeric_limits<double>::denorm_min()};
    const std::uint8_t tag = in.u8();
    if (tag == 0xFF) {
        const std::uint64_t b = in.u64();
        double d;
        std::memcpy(&d, &b, sizeof d);
        return d;
    }
    return table[tag % (sizeof table / sizeof table[0])];
}

template <int Bits, class Lut, class Sparse>
void run(sqllm_fuzz::reader& in) {
    using M = quantized_matrix<Bits, Lut, Sparse>;
    constexpr int K = 1 << Bits;
    quantize_options opt;
    opt.method = static_cast<lut_method>(in.u8() % 3);
    const std::size_t rows = 1 + in.u8() % 8, cols = 1 + in.u8() % 64;
    const int smode = in.u8() % 3;
    opt.sparse.sensitive_fraction = option(in);
    opt.sparse.outlier_iqr_ratio = option(in);
    opt.sparse.outlier_fraction = option(in);
    opt.lloyd.max_iterations = static_cast<std::int8_t>(in.u8());
    opt.lloyd.tolerance = option(in);
    opt.lloyd.seed = in.u8();
    opt.uniform.range = static_cast<uniform_range>(in.u8() % 3);
    opt.uniform.symmetric = in.u8() & 1;
    opt.uniform.percentile = option(in);
    opt.uniform.grid = static_cast<std::int8_t>(in.u8());
    opt.uniform.min_ratio = option(in);
    const sqllm_fuzz::chunk_executor chunked{static_cast<std::size_t>(1 + in.u8() % 6), true};

    std::vector<float> W(rows * cols), S(smode == 1 ? rows * cols : smode == 2 ? cols : 0);
    for (float& w : W)
        w = value(in);
    for (float& s : S)
        s = value(in);
    const matrix_view<const float> Wv(W.data(), rows, cols);
    const matrix_view<const float> Sv = smode == 0   ? matrix_view<const float>{}
                                        : smode == 1 ? matrix_view<const float>(S.data(), rows, cols)
                                                     : matrix_view<const float>(S.data(), rows, cols, 0);
    M q;
    quantize_report rep;
    try {
        q = quantize<Bits, Lut, Sparse>(Wv, Sv, opt, sequential_executor{}, &rep);
    } catch (const error&) {
        return;  // refused: fine
    }
    const auto v = q.view();
    // Same result through a chunked, out-of-order executor.
    const M q2 = quantize<Bits, Lut, Sparse>(Wv, Sv, opt, chunked);
    SQLLM_FUZZ_CHECK(q2.lut() == q.lut() && q2.words() == q.words(),
                     "quantize depends on the executor (LUT or codes)");
    SQLLM_FUZZ_CHECK(export_reference(q2.view()).sparse_vals == export_reference(v).sparse_vals &&
                         export_reference(q2.view()).sparse_cols == export_reference(v).sparse_cols,
                     "quantize depends on the executor (sparse part)");

    const auto deq = dequantize<float>(v);
    std::vector<unsigned char> kept(rows * cols, 0);
    if constexpr (sparse_format_traits<Sparse>::stores_entries) {
        using value_type = typename sparse_format_traits<Sparse>::value_type;
        const auto sp = v.sparse();
        std::size_t inexact = 0;
        double max_miss = 0;
        for (std::size_t r = 0; r < rows && !sp.row_ptr.empty(); ++r)
            for (auto i = sp.row_ptr[r]; i < sp.row_ptr[r + 1]; ++i) {
                const auto c = static_cast<std::size_t>(sp.col_idx[static_cast<std::size_t>(i)]);
                kept[r * cols + c] = 1;
                const float w = W[r * cols + c], back = deq[r * cols + c];
                if (back == w) continue;
                ++inexact;
                const float dense = v.dense_value(r, c);
                const float val = lut_value_traits<value_type>::to_float(sp.values[static_cast<std::size_t>(i)]);
                max_miss = std::max(max_miss, std::fabs(static_cast<double>(w) - (static_cast<double>(dense) + val)));
                if (!std::is_same<value_type, float>::value) continue;  // a narrow CSR cannot promise more
                // With a float CSR, exactness is guaranteed when some entry is 0 or
                // within a factor 2 of w (Sterbenz: w − e is exact; quantize.hpp).
                const Lut* lut = v.lut_row(r);
                for (int k = 0; k < K; ++k) {
                    const float e = lut_value_traits<Lut>::to_float(lut[k]);
                    const double a = std::fabs(static_cast<double>(e)), b = std::fabs(static_cast<double>(w));
                    if (e == 0.0f || (std::signbit(e) == std::signbit(w) && a / 2 <= b && b <= 2 * a))
                        finding("kept weight (" + std::to_string(r) + ", " + std::to_string(c) + ") = " +
                                sqllm_fuzz::num(w) + " comes back as " + sqllm_fuzz::num(back) + " = dense " +
                                sqllm_fuzz::num(dense) + " + sparse " + sqllm_fuzz::num(val) + ", but LUT entry " +
                                std::to_string(k) + " = " + sqllm_fuzz::num(e) + " gives an exact residual");
                }
            }
        SQLLM_FUZZ_CHECK(inexact == rep.kept_inexact, "quantize_report::kept_inexact is " +
                                                          std::to_string(rep.kept_inexact) + ", " +
                                                          std::to_string(inexact) + " kept weights are inexact");
        SQLLM_FUZZ_CHECK(max_miss == rep.kept_max_error, "quantize_report::kept_max_error is " +
                                                             sqllm_fuzz::num(rep.kept_max_error) + ", measured " +
                                                             sqllm_fuzz::num(max_miss));
    }
    for (std::size_t r = 0; r < rows; ++r) {
        const Lut* lut = v.lut_row(r);
        for (int k = 1; k < K; ++k)
            SQLLM_FUZZ_CHECK(lut_value_traits<Lut>::to_float(lut[k - 1]) <= lut_value_traits<Lut>::to_float(lut[k]),
                             "LUT of row " + std::to_string(r) + " is not sorted");
        for (std::size_t c = 0; c < cols; ++c) {
            SQLLM_FUZZ_CHECK(std::isfinite(deq[r * cols + c]),
                             "(" + std::to_string(r) + ", " + std::to_string(c) + ") dequantizes to " +
                                 sqllm_fuzz::num(deq[r * cols + c]) + " from weight " +
                                 sqllm_fuzz::num(W[r * cols + c]));
            if (kept[r * cols + c]) continue;
            // Nearest as the quantizer defines it: float distances (nearest.hpp),
            // so a tie after rounding may go either way.
            const float w = W[r * cols + c];
            const float got = std::fabs(w - lut_value_traits<Lut>::to_float(lut[v.code(r, c)]));
            for (int k = 0; k < K; ++k)
                if (std::fabs(w - lut_value_traits<Lut>::to_float(lut[k])) < got)
                    finding("dense weight (" + std::to_string(r) + ", " + std::to_string(c) + ") = " +
                            sqllm_fuzz::num(w) + " has code " + std::to_string(v.code(r, c)) + ", entry " +
                            std::to_string(k) + " is nearer");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    sqllm_fuzz::reader in(data, size);
    try {
        switch (in.u8() % 4) {
            case 0:
                run<3, float, csr<>>(in);
                break;
            case 1:
                run<4, half, csr<>>(in);
                break;
            case 2:  // dense only: sparse options must be refused
                run<4, float, no_sparse>(in);
                break;
            default:
                run<6, bfloat16, csr<>>(in);
                break;
        }
    } catch (const sqllm::error& e) {
        finding(std::string("sqllm::error from a call that had succeeded once: ") + e.what());
    } catch (const std::exception& e) {
        finding(std::string("non-sqllm exception ") + typeid(e).name() + ": " + e.what());
    }
    return 0;
}
