// sqllm/quantize/quantize.hpp — whole-matrix SqueezeLLM quantization:
// dense-and-sparse split, a LUT per row, codes, residuals.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../core/executor.hpp"
#include "../core/float_bits.hpp"
#include "../core/rounded_product.hpp"
#include "../core/stop_token.hpp"
#include "../matrix/quantized_matrix.hpp"
#include "../target/dispatch.hpp"
#include "kmeans_exact.hpp"
#include "kmeans_lloyd.hpp"
#include "nearest.hpp"
#include "outliers.hpp"
#include "sensitivity.hpp"
#include "uniform.hpp"

SQLLM_NAMESPACE_BEGIN

/// How each row's LUT is fitted.
enum class lut_method {
    exact,    ///< globally optimal sensitivity-weighted 1-D k-means (kmeans_exact.hpp)
    lloyd,    ///< sensitivity-weighted Lloyd k-means, k-means++ init (the reference's method)
    uniform,  ///< evenly spaced min–max LUT: round-to-nearest uniform quantization
};

struct quantize_options {
    lut_method method = lut_method::exact;
    sparse_options sparse;    ///< which weights to keep exactly (needs a sparse format other than no_sparse)
    lloyd_options lloyd;      ///< for lut_method::lloyd
    uniform_options uniform;  ///< for lut_method::uniform
    /// Called as progress(rows_done, rows_total) after each block of rows.
    /// Calls are serialised (never concurrent) but may come from executor tasks.
    /// It may cancel the call: request_stop() on the source of `stop` (blocks
    /// already running finish, then quantize throws errc::cancelled), or
    /// throw (no block starts after that, and quantize rethrows its exception
    /// once none is running, under any executor executor.hpp describes).
    std::function<void(std::size_t, std::size_t)> progress;
    /// Cancellation: checked before the sparse selection and before each
    /// block of rows (at most 64; blocks already running finish). Once a stop
    /// is requested — from any thread, or from `progress` — quantize throws
    /// sqllm::error(errc::cancelled, "quantization cancelled after R of N
    /// rows") and returns nothing, whether or not all blocks had run. The
    /// default token never stops.
    stop_token stop;
};

/// What quantize() did, summed over the matrix.
struct quantize_report {
    sparse_report sparse;
    double weighted_error = 0;  ///< Σ s·(w − dense)² over the dense positions (s = 1 without sensitivities)
    double squared_error = 0;   ///< Σ (w − (dense + sparse))² over all positions
    /// Kept weights that dense + sparse does not give back exactly in float
    /// (the nearest sum is stored). With a float CSR a weight is always exact
    /// when its row's LUT has 0 or an entry within a factor 2 of it
    /// (Sterbenz), and almost always when it has an entry of its sign and
    /// smaller magnitude (all but a tie case: w − entry exactly halfway
    /// between two floats of w's binade, w's last bit odd). Inexact ones are
    /// tiny weights among large centroids, and residuals a half/bfloat16 CSR
    /// value type cannot carry.
    std::size_t kept_inexact = 0;
    double kept_max_error = 0;  ///< max |w − (dense + sparse)| over the kept weights
};

namespace detail {

/// The float residual v of a kept weight w over its dense value c: one with
/// fl(c + v) == w when such a float exists, otherwise the one nearest to
/// that. One exists when c is 0 or c/2 <= w <= 2c (Sterbenz: w − c is
/// exact), and when c has w's sign and |c| <= |w| but for one tie case
/// (floats near w − c are then at least as dense as those near w). w − c
/// can overflow (|w| near FLT_MAX, c of the other sign): then v is not finite.
inline float exact_residual(float w, float c) {
    float v = w - c, best = v;
    if (!std::isfinite(v)) return v;
    for (int i = 0; i < 4 && c + v != w; ++i) {
        v = std::nextafter(v, c + v < w ? HUGE_VALF : -HUGE_VALF);
        if (std::fabs((c + v) - w) < std::fabs((c + best) - w)) best = v;
    }
    return c + v == w ? v : best;
}

/// A kept weight's dense code and sparse value.
struct kept_choice {
    code_t code = 0;
    float value = 0;  ///< already rounded to the CSR's value type
    bool finite = false;
    bool exact = false;
};

/// Chooses the dense code of a kept weight w so that dense + sparse == w
/// exactly: the LUT entry nearest zero if that is exact (the reference's
/// convention: the sparse value is then about w itself), else the entry
/// nearest w, else any exact entry; if none is, the nearest sum. `lut` is
/// the row's ascending LUT as float; Value is the CSR's value type.
template <class Value>
kept_choice choose_kept(const float* lut, int K, code_t zero_code, float w) {
    kept_choice best;
    float best_miss = HUGE_VALF;
    auto consider = [&](code_t k) {
        const float v = round_to<Value>(exact_residual(w, lut[k]));
        if (!std::isfinite(v)) return false;
        const float miss = std::fabs((lut[k] + v) - w);
        if (!best.finite || miss < best_miss) {
            best = {k, v, true, miss == 0.0f};
            best_miss = miss;
        }
        return best.exact;
    };
    if (consider(zero_code) || consider(nearest_code_sorted(lut, K, w))) return best;
    for (int k = 0; k < K; ++k)
        if (consider(static_cast<code_t>(k))) break;
    return best;
}

/// Why a row could not be quantized (reported after the parallel pass, in row order).
struct row_failure {
    enum kind_t : unsigned char { none, lut_overflow, kept_overflow } kind = none;
    std::size_t col = 0;
    float value = 0;
};

inline void check_matrix(matrix_view<const float> M, const char* what, bool nonnegative) {
    for (std::size_t r = 0; r < M.rows(); ++r)
        for (std::size_t c = 0; c < M.cols(); ++c) {
            const float v = M(r, c);
            if (!std::isfinite(v))
                fail(errc::non_finite,
                     std::string(what) + " (" + detail::to_string(r) + ", " + detail::to_string(c) + ") is NaN or Inf");
            if (nonnegative && v < 0)
                fail(errc::negative_value,
                     std::string(what) + " (" + detail::to_string(r) + ", " + detail::to_string(c) + ") is negative");
        }
}

/// Validates W and S in parallel (tasks never throw); only if something is
/// wrong, a serial pass names the first offender in row-major order, so the
/// message does not depend on the thread count.
template <class Executor>
void check_inputs(matrix_view<const float> W, matrix_view<const float> S, const Executor& exec) {
    const std::size_t rows = W.rows(), cols = W.cols();
    const bool s_rows = !S.empty() && S.stride() != 0;  // a stride-0 S is one row, checked once
    detail::vector<unsigned char> bad(rows, 0);
    parallel_blocks(exec, rows, exec.concurrency() * 4, [&](std::size_t b, std::size_t e) {
        for (std::size_t r = b; r < e; ++r)
            bad[r] = static_cast<unsigned char>(has_bad_values(W.row(r), cols, false) ||
                                                (s_rows && has_bad_values(S.row(r), cols, true)));
    });
    bool any = std::find(bad.begin(), bad.end(), 1) != bad.end();
    if (!S.empty() && !s_rows) any = any || has_bad_values(S.row(0), cols, true);
    if (!any) return;
    check_matrix(W, "weight", false);
    check_matrix(S, "sensitivity", true);
}

}  // namespace detail

/// Quantizes W (rows × cols) to a dense-and-sparse LUT matrix.
/// S: sensitivities of W's shape (e.g. diagonal Fisher), an empty view for
/// uniform sensitivity, or a stride-0 broadcast of per-column values (see
/// sensitivity.hpp). Per row, the LUT is fitted to the dense positions
/// with weights s·(w ≠ 0) (the reference's sample weights), rounded to Lut and
/// sorted ascending; every dense weight gets its nearest LUT entry. A kept
/// (sparse) weight gets the entry nearest zero and the residual w − entry,
/// or another entry where that one does not give dense + sparse == w
/// exactly in float (detail::choose_kept; no overflow near FLT_MAX). Where
/// no entry can (a tiny weight among large centroids, a half/bfloat16 CSR),
/// the nearest sum is stored and counted in report->kept_inexact; a weight
/// whose residual the CSR value type cannot hold at all, or a LUT value the
/// Lut type cannot hold, throws errc::out_of_range naming it.
/// Rows are processed in parallel through `exec`; scratch is O(tasks·cols)
/// on top of the output. Throws sqllm::error on NaN/Inf in W or S, negative
/// S, mismatched shapes, or sparse options with a no_sparse format;
/// errc::cancelled when opt.stop is stopped; whatever opt.progress throws.
template <int Bits, class Lut = float, class Sparse = default_sparse, class Layout = default_layout<Bits>,
          class Executor = sequential_executor>
quantized_matrix<Bits, Lut, Sparse, Layout> quantize(matrix_view<const float> W, matrix_view<const float> S,
                                                     const quantize_options& opt = {}, const Executor& exec = {},
                                                     quantize_report* report = nullptr) {
    static_assert(detail::check_matrix_types<Bits, Lut, Sparse, Layout>::value, "");
    constexpr int K = bit_width<Bits>::levels;
    using sparse_traits = sparse_format_traits<Sparse>;
    const std::size_t rows = W.rows(), cols = W.cols();
    detail::require(rows > 0 && cols > 0 && W.data() != nullptr, errc::invalid_argument,
                    "quantize needs a non-empty weight matrix");
    (void)checked_mul(rows, cols, "quantize: weight matrix size (rows × cols)");  // the mask indexes r·cols + c
    if (opt.sparse.enabled())  // kept entries carry 32-bit columns (sparse_row_entries)
        (void)checked_narrow<std::uint32_t>(cols - 1, "quantize: the sparse part's column index");
    if (!S.empty() && (S.rows() != rows || S.cols() != cols))
        detail::fail(errc::shape_mismatch, "sensitivity is " + detail::to_string(S.rows()) + " × " +
                                               detail::to_string(S.cols()) + ", weights are " +
                                               detail::to_string(rows) + " × " + detail::to_string(cols));
    detail::require(sparse_traits::stores_entries || !opt.sparse.enabled(), errc::invalid_argument,
                    "sparse options were given but the matrix type has no sparse part (no_sparse)");
    detail::check_inputs(W, S, exec);

    const auto cancelled = [&](std::size_t rows_done) {
        detail::fail(errc::cancelled, "quantization cancelled after " + detail::to_string(rows_done) + " of " +
                                          detail::to_string(rows) + " rows");
    };
    if (opt.stop.stop_requested()) cancelled(0);

    std::vector<unsigned char> mask;
    quantize_report rep;
    if (opt.sparse.enabled()) rep.sparse = select_sparse(W, S, opt.sparse, mask, exec);

    std::vector<Lut> lut(rows * K);
    std::vector<std::uint32_t> words(Layout::word_count(rows, cols));
    std::vector<sparse_row_entries> kept(rows);
    const target_id scan_target = choose_target<detail::argmin_kernels>();
    detail::vector<double> row_werr(rows), row_err(rows), row_max_miss(rows, 0.0);
    detail::vector<std::size_t> row_inexact(rows, 0);
    detail::vector<detail::row_failure> failures(rows);
    std::mutex progress_mutex;
    std::size_t rows_done = 0;         // under progress_mutex
    std::atomic<bool> gave_up{false};  // progress threw: start no more blocks

    // Per task: O(cols) scratch, reused across its rows.
    auto body = [&](std::size_t row_begin, std::size_t row_end) {
        if (gave_up.load(std::memory_order_relaxed) || opt.stop.stop_requested()) return;
        detail::vector<float> weight(cols), ones, fit(K);
        detail::vector<unsigned char> dense(mask.empty() ? 0 : cols);
        detail::vector<code_t> codes(group_count(cols) * codes_per_group, 0);
        kmeans_exact_workspace workspace;
        if (S.empty()) ones.assign(cols, 1.0f);
        for (std::size_t r = row_begin; r < row_end; ++r) {
            const float* w = W.row(r);
            const float* s = S.empty() ? ones.data() : S.row(r);
            const unsigned char* m = mask.empty() ? nullptr : mask.data() + r * cols;
            // The reference's sample weights: s at dense nonzero weights, else 0.
            if (m)
                for (std::size_t c = 0; c < cols; ++c)
                    weight[c] = m[c] == 0 && w[c] != 0.0f ? s[c] : 0.0f;
            else
                for (std::size_t c = 0; c < cols; ++c)
                    weight[c] = w[c] != 0.0f ? s[c] : 0.0f;
            if (opt.method == lut_method::uniform) {
                if (m)
                    for (std::size_t c = 0; c < cols; ++c)
                        dense[c] = m[c] == 0;
                uniform_lut(w, S.empty() ? nullptr : s, m ? dense.data() : nullptr, cols, K, fit.data(), opt.uniform);
            } else if (opt.method == lut_method::exact)
                detail::kmeans_exact_solver::solve_valid(w, weight.data(), cols, K, fit.data(), workspace, scan_target);
            else
                kmeans_lloyd_1d(w, weight.data(), cols, K, fit.data(), opt.lloyd, r);
            // Round to the storage type first: codes must be nearest to the
            // values the kernels will actually read.
            for (int i = 0; i < K; ++i) {
                const float exact_fit = fit[i];
                fit[i] = round_to<Lut>(fit[i]);
                if (!std::isfinite(fit[i]) && failures[r].kind == detail::row_failure::none)
                    failures[r] = {detail::row_failure::lut_overflow, 0, exact_fit};
            }
            std::sort(fit.begin(), fit.end(), detail::less{});
            for (int i = 0; i < K; ++i)
                lut[r * K + i] = lut_value_traits<Lut>::from_float(fit[i]);
            nearest_codes_sorted<K>(fit.data(), w, cols, codes.data());
            // Errors over dense positions, four partial sums to break the add chain.
            double werr[4] = {0, 0, 0, 0}, err[4] = {0, 0, 0, 0};
            for (std::size_t c = 0; c < cols; ++c) {
                const double d = static_cast<double>(w[c]) - fit[codes[c]];
                const double keep = m && m[c] ? 0.0 : 1.0;
                werr[c & 3] += detail::product(keep * s[c] * d, d);  // rounded: reproducible (core/rounded_product.hpp)
                err[c & 3] += detail::product(keep * d, d);
            }
            if (m) {
                const code_t zero_code = nearest_code_sorted(fit.data(), K, 0.0f);
                for (std::size_t c = 0; c < cols; ++c) {
                    if (!m[c]) continue;
                    const auto k =
                        detail::choose_kept<typename sparse_traits::value_type>(fit.data(), K, zero_code, w[c]);
                    if (!k.finite) {
                        if (failures[r].kind == detail::row_failure::none)
                            failures[r] = {detail::row_failure::kept_overflow, c, w[c]};
                        continue;
                    }
                    codes[c] = k.code;
                    const double miss = static_cast<double>(w[c]) - (static_cast<double>(fit[k.code]) + k.value);
                    err[0] += detail::product(miss, miss);
                    if (!k.exact) {
                        ++row_inexact[r];
                        row_max_miss[r] = std::max(row_max_miss[r], std::fabs(miss));
                    }
                    kept[r].emplace_back(static_cast<std::uint32_t>(c), k.value);
                }
            }
            row_werr[r] = (werr[0] + werr[1]) + (werr[2] + werr[3]);
            row_err[r] = (err[0] + err[1]) + (err[2] + err[3]);
            for (std::size_t g = 0; g * codes_per_group < cols; ++g)
                Layout::pack_group(words.data(), rows, cols, r, g, codes.data() + g * codes_per_group);
        }
        std::lock_guard<std::mutex> lock(progress_mutex);
        rows_done += row_end - row_begin;
        if (opt.progress && !gave_up.load(std::memory_order_relaxed)) {  // not again after it threw
            try {
                opt.progress(rows_done, rows);
            } catch (...) {  // for executors that start every task regardless
                gave_up.store(true, std::memory_order_relaxed);
                throw;
            }
        }
    };
    // Blocks of ~64 rows: fine-grained enough for progress, cancellation and load balance.
    parallel_blocks(exec, rows, std::max<std::size_t>(exec.concurrency() * 4, (rows + 63) / 64), body);
    if (opt.stop.stop_requested()) cancelled(rows_done);

    for (std::size_t r = 0; r < rows; ++r) {
        const detail::row_failure& f = failures[r];
        if (f.kind == detail::row_failure::lut_overflow)
            detail::fail(errc::out_of_range, "row " + detail::to_string(r) + ": the LUT value " +
                                                 detail::float_text(f.value) + " overflows the LUT type " +
                                                 lut_value_traits<Lut>::name +
                                                 " (its weights are too large for it: use a float LUT, or keep "
                                                 "them in the sparse part)");
        if (f.kind == detail::row_failure::kept_overflow)
            detail::fail(errc::out_of_range,
                         "the kept weight (" + detail::to_string(r) + ", " + detail::to_string(f.col) + ") = " +
                             detail::float_text(f.value) + " has no residual over the row's LUT that the CSR value type " +
                             lut_value_traits<typename sparse_traits::value_type>::name + " can hold");
        rep.weighted_error += row_werr[r];
        rep.squared_error += row_err[r];
        rep.kept_inexact += row_inexact[r];
        rep.kept_max_error = std::max(rep.kept_max_error, row_max_miss[r]);
    }
    if (report) *report = rep;
    return quantized_matrix<Bits, Lut, Sparse, Layout>(rows, cols, std::move(lut), std::move(words),
                                                       sparse_traits::build(kept, cols));
}

/// Convenience overload for caller-owned row-major arrays.
template <int Bits, class Lut = float, class Sparse = default_sparse, class Layout = default_layout<Bits>>
quantized_matrix<Bits, Lut, Sparse, Layout> quantize(const float* W, std::size_t rows, std::size_t cols,
                                                     const float* S = nullptr, const quantize_options& opt = {}) {
    return quantize<Bits, Lut, Sparse, Layout>(matrix_view<const float>(W, rows, cols),
                                               S ? matrix_view<const float>(S, rows, cols) : matrix_view<const float>{},
                                               opt);
}

SQLLM_NAMESPACE_END
