// sqllm/kernels/driver/tile.inl — the fp32 register tile of the batched
// kernels: R weight rows times NB activation vectors, dot products over k.
// Written once over a target's primitives (kernels/per_target.hpp).
//
// gemm decodes a tile of rows to fp32 a chunk of columns at a time
// (striped.inl) and runs this over every group of NB batch vectors; the dense
// fp32 kernels (dense.inl) run the same tile on their weights in place, so a
// ratio between the two measures the weight format, not the care taken.
// The batched tile (tile_accumulators) keeps R·NB accumulator vectors per
// group in memory across chunks and sums them horizontally once per row:
// with a horizontal sum per chunk and vector, those sums cost ~15 % of the
// FMAs' work.

/// out[r·NB + b] = Σ_{k < n} w[r][k]·x[b][k] for r < R, b < NB. With
/// Prefetch, the w rows are prefetched `prefetch_bytes` ahead, once per
/// cache line (for weights streamed from memory rather than a decoded tile).
template <int R, int NB, bool Prefetch = false>
SQLLM_FORCE_INLINE void dot_tile(const float* const* w, const float* const* x, std::size_t n, float* out,
                                 std::size_t prefetch_bytes = 0) noexcept {
    vf acc[R][NB];
    SQLLM_UNROLL
    for (int r = 0; r < R; ++r)
        SQLLM_UNROLL
        for (int b = 0; b < NB; ++b) acc[r][b] = vzero();
    std::size_t k = 0;
    for (; k + lanes <= n; k += lanes) {
        vf wv[R];
        SQLLM_UNROLL
        for (int r = 0; r < R; ++r) {
            if (Prefetch && k % 16 == 0)
                prefetch_lines(reinterpret_cast<std::uintptr_t>(w[r] + k) + prefetch_bytes, 1);
            wv[r] = vload(w[r] + k);
        }
        SQLLM_UNROLL
        for (int b = 0; b < NB; ++b) {
            const vf xv = vload(x[b] + k);
            SQLLM_UNROLL
            for (int r = 0; r < R; ++r) acc[r][b] = vfma(wv[r], xv, acc[r][b]);
        }
    }
    if (k < n) {  // partial loads: nothing past n is touched
        vf wv[R];
        SQLLM_UNROLL
        for (int r = 0; r < R; ++r) wv[r] = vload_n(w[r] + k, n - k);
        SQLLM_UNROLL
        for (int b = 0; b < NB; ++b) {
            const vf xv = vload_n(x[b] + k, n - k);
            SQLLM_UNROLL
            for (int r = 0; r < R; ++r) acc[r][b] = vfma(wv[r], xv, acc[r][b]);
        }
    }
    SQLLM_UNROLL
    for (int r = 0; r < R; ++r)
        SQLLM_UNROLL
        for (int b = 0; b < NB; ++b) out[r * NB + b] = vsum(acc[r][b]);
}

/// acc[r·NB + b] += Σ_{k < n} w[r][k]·x[b][k] lane-wise, for r < R, b < NB:
/// the accumulators stay vectors in memory between calls (no horizontal
/// sum per call), loaded and stored once per call.
template <int R, int NB>
SQLLM_FORCE_INLINE void acc_tile(const float* const* w, const float* const* x, std::size_t n, vf* acc) noexcept {
    vf a[R][NB];
    SQLLM_UNROLL
    for (int r = 0; r < R; ++r)
        SQLLM_UNROLL
        for (int b = 0; b < NB; ++b) a[r][b] = acc[r * NB + b];
    std::size_t k = 0;
    for (; k + lanes <= n; k += lanes) {
        vf wv[R];
        SQLLM_UNROLL
        for (int r = 0; r < R; ++r) wv[r] = vload(w[r] + k);
        SQLLM_UNROLL
        for (int b = 0; b < NB; ++b) {
            const vf xv = vload(x[b] + k);
            SQLLM_UNROLL
            for (int r = 0; r < R; ++r) a[r][b] = vfma(wv[r], xv, a[r][b]);
        }
    }
    if (k < n) {  // partial loads: nothing past n is touched
        vf wv[R];
        SQLLM_UNROLL
        for (int r = 0; r < R; ++r) wv[r] = vload_n(w[r] + k, n - k);
        SQLLM_UNROLL
        for (int b = 0; b < NB; ++b) {
            const vf xv = vload_n(x[b] + k, n - k);
            SQLLM_UNROLL
            for (int r = 0; r < R; ++r) a[r][b] = vfma(wv[r], xv, a[r][b]);
        }
    }
    SQLLM_UNROLL
    for (int r = 0; r < R; ++r)
        SQLLM_UNROLL
        for (int b = 0; b < NB; ++b) acc[r * NB + b] = a[r][b];
}

/// The batch vectors a row tile's accumulators cover at once (R · this
/// vectors of stack); larger batches run in slices of it.
constexpr std::size_t tile_batch_slice = 64;

/// Lane-wise accumulators of an R-row tile over a slice of nb batch
/// vectors, in groups of NB = 4 vectors: group g's R·NB vectors start at
/// acc + R·NB·g (a short last group is packed R·nb).
template <int R>
struct tile_accumulators {
    static constexpr std::size_t NB = 4;
    vf acc[R * tile_batch_slice];

    void clear(std::size_t nb) noexcept {
        for (std::size_t i = 0; i < R * nb; ++i) acc[i] = vzero();
    }
    /// acc += w[i][0, n) · X(b0 + j, c0 ..) for i < R, j < nb.
    SQLLM_FORCE_INLINE void add(const float* const* w, matrix_view<const float> X, std::size_t b0, std::size_t nb,
                                std::size_t c0, std::size_t n) noexcept {
        for (std::size_t g = 0; g < nb; g += NB) {
            const std::size_t m = std::min(NB, nb - g);
            const float* xp[NB] = {};
            for (std::size_t j = 0; j < m; ++j) xp[j] = X.row(b0 + g + j) + c0;
            vf* a = acc + R * g;
            switch (m) {
                case 1: acc_tile<R, 1>(w, xp, n, a); break;
                case 2: acc_tile<R, 2>(w, xp, n, a); break;
                case 3: acc_tile<R, 3>(w, xp, n, a); break;
                default: acc_tile<R, 4>(w, xp, n, a); break;
            }
        }
    }
    /// Y(b0 + j, r0 + i) = the horizontal sum of row i's accumulator for
    /// vector j, for i < nr, j < nb.
    void store(matrix_view<float> Y, std::size_t r0, std::size_t nr, std::size_t b0, std::size_t nb) const noexcept {
        for (std::size_t g = 0; g < nb; g += NB) {
            const std::size_t m = std::min(NB, nb - g);
            for (std::size_t i = 0; i < nr; ++i)
                for (std::size_t j = 0; j < m; ++j) Y.row(b0 + g + j)[r0 + i] = vsum(acc[R * g + i * m + j]);
        }
    }
};
