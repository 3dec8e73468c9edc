// sqllm/kernels/driver/tile.inl — the fp32 register tile of the batched
// kernels: R weight rows times NB activation vectors, dot products over k.
// Written once over a target's primitives (kernels/per_target.hpp).
//
// gemm decodes a tile of rows to fp32 once (striped.inl) and runs this over
// every group of NB batch vectors; the dense fp32 kernels (dense.inl) run the
// same tile on their weights in place, so a ratio between the two measures
// the weight format, not the care taken. Accumulators are R·NB vectors summed
// horizontally once per call, so a call should cover a long k range.

/// out[r·NB + b] = Σ_{k < n} w[r][k]·x[b][k] for r < R, b < NB. With
/// Prefetch, the w rows are prefetched `prefetch_bytes` ahead, once per
/// cache line (for weights streamed from memory rather than a decoded tile).
template <int R, int NB, bool Prefetch = false>
SQLLM_FORCE_INLINE void dot_tile(const float* const* w, const float* const* x, std::size_t n, float* out,
                                 std::size_t prefetch_bytes = 0) noexcept {
    vf acc[R][NB];
    for (int r = 0; r < R; ++r)
        for (int b = 0; b < NB; ++b) acc[r][b] = vzero();
    std::size_t k = 0;
    for (; k + lanes <= n; k += lanes) {
        vf wv[R];
        for (int r = 0; r < R; ++r) {
            if (Prefetch && k % 16 == 0)
                prefetch_lines(reinterpret_cast<std::uintptr_t>(w[r] + k) + prefetch_bytes, 1);
            wv[r] = vload(w[r] + k);
        }
        for (int b = 0; b < NB; ++b) {
            const vf xv = vload(x[b] + k);
            for (int r = 0; r < R; ++r) acc[r][b] = vfma(wv[r], xv, acc[r][b]);
        }
    }
    if (k < n) {  // partial loads: nothing past n is touched
        vf wv[R];
        for (int r = 0; r < R; ++r) wv[r] = vload_n(w[r] + k, n - k);
        for (int b = 0; b < NB; ++b) {
            const vf xv = vload_n(x[b] + k, n - k);
            for (int r = 0; r < R; ++r) acc[r][b] = vfma(wv[r], xv, acc[r][b]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int b = 0; b < NB; ++b) out[r * NB + b] = vsum(acc[r][b]);
}

/// Y(j, r0 + i) = (first ? 0 : Y(j, r0 + i)) + Σ_{k < n} w[i][k]·X(j, c0 + k)
/// for i < nr and every batch vector j, NB = 4 vectors per register tile.
/// w holds R row pointers (repeat one to pad a short tile).
template <int R>
SQLLM_FORCE_INLINE void tile_rows(const float* const* w, std::size_t nr, matrix_view<const float> X,
                                  matrix_view<float> Y, std::size_t r0, std::size_t c0, std::size_t n,
                                  bool first) noexcept {
    constexpr std::size_t NB = 4;
    float part[R * NB];
    const std::size_t batch = X.rows();
    for (std::size_t b0 = 0; b0 < batch; b0 += NB) {
        const std::size_t nb = std::min(NB, batch - b0);
        const float* xp[NB] = {};
        for (std::size_t j = 0; j < nb; ++j) xp[j] = X.row(b0 + j) + c0;
        switch (nb) {
            case 1: dot_tile<R, 1>(w, xp, n, part); break;
            case 2: dot_tile<R, 2>(w, xp, n, part); break;
            case 3: dot_tile<R, 3>(w, xp, n, part); break;
            default: dot_tile<R, 4>(w, xp, n, part); break;
        }
        for (std::size_t i = 0; i < nr; ++i)
            for (std::size_t j = 0; j < nb; ++j) {
                float& o = Y.row(b0 + j)[r0 + i];
                o = first ? part[i * nb + j] : o + part[i * nb + j];
            }
    }
}
