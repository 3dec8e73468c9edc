// sqllm/quantize/outliers.hpp — which weights the dense-and-sparse split keeps exactly.
//
// The reference rules (SqueezeLLM outliers.py), applied to the whole matrix in
// this order:
//  1. sensitive values: k = ⌊numel·p_s⌋, threshold = k-th largest
//     sensitivity, keep s > threshold (strictly: ties at the threshold stay dense);
//  2. outliers among the rest, either by the IQR rule, T = max(|q1 − r·IQR|,
//     |q3 + r·IQR|) over all weights, keep |w| ≥ T, or (sqllm's target mode)
//     exactly ⌊numel·p_o⌋ weights of largest magnitude.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../config.hpp"
#include "../core/checked.hpp"
#include "../core/executor.hpp"
#include "../core/float_bits.hpp"
#include "../core/rounded_product.hpp"
#include "../core/span.hpp"
#include "../error.hpp"

SQLLM_NAMESPACE_BEGIN

struct sparse_options {
    double sensitive_fraction = 0.0;  ///< p_s: fraction kept by sensitivity (paper: 0.0005)
    double outlier_iqr_ratio = 0.0;   ///< r of the IQR rule (about 1.5–2); 0 disables it
    double outlier_fraction = 0.0;    ///< p_o: keep exactly this fraction by |w| (paper: 0.004); 0 disables it

    bool enabled() const noexcept { return sensitive_fraction > 0 || outlier_iqr_ratio > 0 || outlier_fraction > 0; }
};

/// How many weights each rule kept, and the thresholds it used.
struct sparse_report {
    std::size_t sensitive_kept = 0;
    std::size_t outliers_kept = 0;
    double sensitivity_threshold = 0;  ///< keep s > this (when the rule ran)
    double outlier_threshold = 0;      ///< keep |w| >= this (when a rule ran)
};

namespace detail {

/// The k-th smallest (0-based) of key(r, c) over a rows × cols matrix, by radix
/// selection: three histogram passes over the data (11, 11 and 10 bits of the
/// key), each split across the executor. O(numel) time and no copy of the
/// matrix, where nth_element needs a copy and is serial.
template <class Executor, class Key>
std::uint32_t select_key(std::size_t rows, std::size_t cols, std::size_t k, const Executor& exec, Key key) {
    std::uint32_t prefix = 0;
    unsigned fixed = 0;  // high bits of the answer known so far
    for (const unsigned width : {11u, 11u, 10u}) {
        const unsigned shift = 32u - fixed - width;
        const std::size_t buckets = std::size_t{1} << width;
        const std::size_t tasks = std::min(rows, exec.concurrency() * 4);
        detail::vector<std::size_t> hist(tasks * buckets, 0);
        const std::size_t used = parallel_tasks(exec, rows, tasks, [&](std::size_t t, std::size_t b, std::size_t e) {
            std::size_t* h = hist.data() + t * buckets;
            for (std::size_t r = b; r < e; ++r)
                for (std::size_t c = 0; c < cols; ++c) {
                    const std::uint32_t x = key(r, c);
                    // 64-bit shift: fixed == 0 would shift a 32-bit value by 32.
                    if (static_cast<std::uint64_t>(x) >> (32u - fixed) == prefix) ++h[(x >> shift) & (buckets - 1)];
                }
        });
        std::size_t d = 0;
        for (;; ++d) {
            std::size_t n = 0;
            for (std::size_t t = 0; t < used; ++t)
                n += hist[t * buckets + d];
            if (k < n || d + 1 == buckets) break;
            k -= n;
        }
        prefix = (prefix << width) | static_cast<std::uint32_t>(d);
        fixed += width;
    }
    return prefix;
}

}  // namespace detail

/// Marks the positions to keep exactly: mask[r·cols + c] is 0 for dense,
/// 1 for a sensitive value, 2 for an outlier. `S` may be empty
/// (no sensitivity; then sensitive_fraction must be 0). Inputs must already
/// be validated (finite, S >= 0, same shape). The thresholds are order
/// statistics of the whole matrix, found by radix selection through `exec`;
/// the result does not depend on the executor.
template <class Executor = sequential_executor>
sparse_report select_sparse(matrix_view<const float> W, matrix_view<const float> S, const sparse_options& opt,
                            std::vector<unsigned char>& mask, const Executor& exec = {}) {
    const std::size_t rows = W.rows(), cols = W.cols(),
                      numel = checked_mul(rows, cols, "select_sparse: weight matrix size (rows × cols)");
    detail::require(numel > 0, errc::invalid_argument, "select_sparse needs a non-empty weight matrix");
    detail::require(S.empty() || (S.rows() == rows && S.cols() == cols), errc::shape_mismatch,
                    "select_sparse: sensitivity and weights differ in shape");
    auto bad_fraction = [](double f) { return !(f >= 0 && f < 1); };
    if (bad_fraction(opt.sensitive_fraction) || bad_fraction(opt.outlier_fraction))
        detail::fail(errc::invalid_argument, "sparse fractions must be in [0, 1)");
    if (!(opt.outlier_iqr_ratio >= 0) || !std::isfinite(opt.outlier_iqr_ratio))
        detail::fail(errc::invalid_argument, "the IQR ratio must be finite and >= 0");
    detail::require(!(opt.outlier_iqr_ratio > 0 && opt.outlier_fraction > 0), errc::invalid_argument,
                    "choose either the IQR outlier rule or a target outlier fraction, not both");
    detail::require(opt.sensitive_fraction == 0 || !S.empty(), errc::invalid_argument,
                    "keeping sensitive values needs a sensitivity matrix");
    mask.assign(numel, 0);
    sparse_report rep;
    const std::size_t tasks = exec.concurrency() * 4;
    detail::vector<std::size_t> per_row(rows);
    auto sum_rows = [&] {
        std::size_t n = 0;
        for (std::size_t x : per_row)
            n += x;
        return n;
    };

    // 1. Sensitive values: s > the k-th largest sensitivity.
    const auto k = static_cast<std::size_t>(std::floor(static_cast<double>(numel) * opt.sensitive_fraction));
    if (k > 0) {
        const float thr = detail::from_order_key(detail::select_key(
            rows, cols, numel - k, exec, [&](std::size_t r, std::size_t c) { return detail::order_key(S(r, c)); }));
        rep.sensitivity_threshold = thr;
        parallel_blocks(exec, rows, tasks, [&](std::size_t b, std::size_t e) {
            for (std::size_t r = b; r < e; ++r) {
                std::size_t n = 0;
                for (std::size_t c = 0; c < cols; ++c)
                    if (S(r, c) > thr) {
                        mask[r * cols + c] = 1;
                        ++n;
                    }
                per_row[r] = n;
            }
        });
        rep.sensitive_kept = sum_rows();
    }

    // 2. Outliers among the rest.
    auto abs_key = [&](std::size_t r, std::size_t c) -> std::uint32_t {
        if (mask[r * cols + c]) return 0u;                 // already kept: ranks with the zeros, at the bottom
        return detail::float_bits(W(r, c)) & 0x7FFFFFFFu;  // |w|: nonnegative floats order like their bits
    };
    if (opt.outlier_iqr_ratio > 0) {
        auto kth = [&](std::size_t i) {
            return static_cast<double>(detail::from_order_key(detail::select_key(
                rows, cols, i, exec, [&](std::size_t r, std::size_t c) { return detail::order_key(W(r, c)); })));
        };
        auto quantile = [&](double q) {  // numpy's default (linear interpolation)
            const double pos = q * static_cast<double>(numel - 1);
            const auto lo = static_cast<std::size_t>(std::floor(pos));
            const double a = kth(lo);
            return lo + 1 >= numel ? a : a + detail::product(pos - static_cast<double>(lo), kth(lo + 1) - a);
        };
        const double q1 = quantile(0.25), q3 = quantile(0.75);
        const double iqr = q3 - q1, ratio = opt.outlier_iqr_ratio;
        const double T =
            std::max(std::fabs(q1 - detail::product(ratio, iqr)), std::fabs(q3 + detail::product(ratio, iqr)));
        rep.outlier_threshold = T;
        parallel_blocks(exec, rows, tasks, [&](std::size_t b, std::size_t e) {
            for (std::size_t r = b; r < e; ++r) {
                std::size_t n = 0;
                for (std::size_t c = 0; c < cols; ++c)
                    if (!mask[r * cols + c] && std::fabs(static_cast<double>(W(r, c))) >= T) {
                        mask[r * cols + c] = 2;
                        ++n;
                    }
                per_row[r] = n;
            }
        });
        rep.outliers_kept = sum_rows();
    } else if (opt.outlier_fraction > 0) {
        const auto m = static_cast<std::size_t>(std::floor(static_cast<double>(numel) * opt.outlier_fraction));
        const std::size_t take = std::min(m, numel - rep.sensitive_kept);
        if (take > 0) {
            const std::uint32_t tk = detail::select_key(rows, cols, numel - take, exec, abs_key);
            rep.outlier_threshold = detail::bits_float(tk);
            // Everything above the threshold, then ties at it in row-major
            // order, up to exactly `take`: count per row, hand out the ties
            // row by row, then mark in parallel.
            detail::vector<std::size_t> ties(rows);
            parallel_blocks(exec, rows, tasks, [&](std::size_t b, std::size_t e) {
                for (std::size_t r = b; r < e; ++r) {
                    std::size_t above = 0, tie = 0;
                    for (std::size_t c = 0; c < cols; ++c) {
                        if (mask[r * cols + c]) continue;
                        const std::uint32_t a = abs_key(r, c);
                        above += a > tk;
                        tie += a == tk;
                    }
                    per_row[r] = above;
                    ties[r] = tie;
                }
            });
            std::size_t ties_left = take - sum_rows();
            for (std::size_t r = 0; r < rows; ++r) {
                const std::size_t t = std::min(ties[r], ties_left);
                ties[r] = t;
                ties_left -= t;
            }
            parallel_blocks(exec, rows, tasks, [&](std::size_t b, std::size_t e) {
                for (std::size_t r = b; r < e; ++r) {
                    std::size_t tie_quota = ties[r];
                    for (std::size_t c = 0; c < cols; ++c) {
                        if (mask[r * cols + c]) continue;
                        const std::uint32_t a = abs_key(r, c);
                        if (a > tk || (a == tk && tie_quota > 0)) {
                            if (a == tk) --tie_quota;
                            mask[r * cols + c] = 2;
                        }
                    }
                }
            });
            rep.outliers_kept = take;
        }
    }
    return rep;
}

SQLLM_NAMESPACE_END
