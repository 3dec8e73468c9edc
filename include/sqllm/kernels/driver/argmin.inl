// sqllm/kernels/driver/argmin.inl — the quantizer's hot loop: the best split
// of one row of the exact k-means dynamic program (quantize/kmeans_exact.hpp),
// written once over a target's primitives.
//
// Every target returns the same bits: the value of a candidate is always
// computed by the same scalar expression, candidates are visited in the same
// order, and the vector part only decides which blocks to visit, through a
// test whose products are rounded on their own (dopaque: never fused into an
// FMA). So the quantizer's output does not depend on the CPU it ran on.

/// The minimum over i in [lo, hi] (hi ≥ lo) of
///     v(i) = E[i] − (p1j − P1[i])² / max(p0j − P0[i], wmin)
/// and the first i reaching it in visiting order.
///  1. Seed `best` with every 16th candidate, so the true minimum is within
///     a block or two and improvements are rare afterwards.
///  2. Blocks of 8: candidate i can only improve on `best` if
///       q(i) = (E[i] − best)·(p0j − P0[i]) − (p1j − P1[i])² ≤ 0
///     (max(p0j − P0[i], wmin) ≥ p0j − P0[i] ≥ 0, so the filter never misses
///     in exact arithmetic); q needs no division and no branch, and only a
///     block whose smallest q is ≤ 0 is scanned exactly, in order.
inline detail::argmin_result split_argmin(const double* E, const double* P0, const double* P1, double p0j,
                                          double p1j, double wmin, std::size_t lo, std::size_t hi) noexcept {
    double best = std::numeric_limits<double>::infinity();
    std::size_t bi = lo;
    const auto exact = [&](std::size_t from, std::size_t to, std::size_t step) {
        for (std::size_t i = from; i < to; i += step) {
            const double d0 = std::max(p0j - P0[i], wmin);
            const double d1 = p1j - P1[i];
            const double v = E[i] - d1 * d1 / d0;  // a quotient: nothing here can be fused
            if (v < best) {
                best = v;
                bi = i;
            }
        }
    };
    exact(lo + (hi - lo) % 16 / 2, hi + 1, 16);
    const vd vp0 = dset1(p0j), vp1 = dset1(p1j);
    std::size_t i = lo;
    for (; i + 8 <= hi + 1; i += 8) {
        const vd vb = dset1(best);
        vd m = dset1(std::numeric_limits<double>::infinity());
        for (std::size_t j = 0; j < 8; j += dlanes) {
            const vd d1 = dsub(vp1, dload(P1 + i + j));
            const vd q = dsub(dopaque(dmul(dsub(dload(E + i + j), vb), dsub(vp0, dload(P0 + i + j)))),
                              dopaque(dmul(d1, d1)));
            m = dmin(m, q);
        }
        if (SQLLM_UNLIKELY(dhmin(m) <= 0.0)) exact(i, i + 8, 1);
    }
    exact(i, hi + 1, 1);
    return {best, bi};
}
