// sqllm/kernels/driver/dense.inl — fp32 GEMV / GEMM rows (kernels/dense.hpp)
// from the same register tile, prefetch distance and blocking as the LUT
// kernels. Written once over a target's primitives.

/// y[r] = W(r, :)·x for r in [b, e): rows in fours through the 4 × 1 tile,
/// each row prefetched dense_prefetch_bytes ahead. Four rows are four
/// streams in flight per core: on the 2-core Xeon VM of issue 15 they read
/// 23–24 GB/s where pairs read 20–21 (and ggml's f32 GEMV 22).
inline void dense_gemv_rows(matrix_view<const float> W, const float* x, float* y, std::size_t b,
                            std::size_t e) noexcept {
    const float* xp[1] = {x};
    const std::size_t cols = W.cols();
    std::size_t r = b;
    for (; r + 4 <= e; r += 4) {
        const float* wp[4] = {W.row(r), W.row(r + 1), W.row(r + 2), W.row(r + 3)};
        dot_tile<4, 1, true>(wp, xp, cols, y + r, dense_prefetch_bytes);
    }
    for (; r < e; ++r) {
        const float* wp[1] = {W.row(r)};
        dot_tile<1, 1, true>(wp, xp, cols, y + r, dense_prefetch_bytes);
    }
}

/// Y(j, r) = W(r, :)·X(j, :) for r in [b, e): the loop of striped_gemm_rows
/// with the fp32 rows in place of the decoded tile (4-row tiles, 1024-column
/// chunks, accumulators kept as vectors until the row ends, the next chunk
/// prefetched).
inline void dense_gemm_rows(matrix_view<const float> W, matrix_view<const float> X, matrix_view<float> Y,
                            std::size_t b, std::size_t e) noexcept {
    constexpr std::size_t R = 4, chunk = 1024;
    const std::size_t cols = W.cols();
    tile_accumulators<R> acc;
    for (std::size_t r0 = b; r0 < e; r0 += R) {
        const std::size_t nr = std::min(R, e - r0);
        for (std::size_t b0 = 0; b0 < X.rows(); b0 += tile_batch_slice) {
            const std::size_t nb = std::min(tile_batch_slice, X.rows() - b0);
            acc.clear(nb);
            for (std::size_t c0 = 0; c0 < cols; c0 += chunk) {
                const std::size_t n = std::min(chunk, cols - c0);
                for (std::size_t i = 0; i < nr; ++i) {
                    const std::size_t nrow = c0 + chunk < cols ? r0 + i : r0 + R + i;
                    const std::size_t nc = c0 + chunk < cols ? c0 + chunk : 0;
                    if (nrow < e)
                        prefetch_lines(reinterpret_cast<std::uintptr_t>(W.row(nrow) + nc),
                                       static_cast<int>((std::min(chunk, cols - nc) * sizeof(float) + 63) / 64));
                }
                const float* wp[R];
                for (std::size_t i = 0; i < R; ++i) wp[i] = W.row(r0 + std::min(i, nr - 1)) + c0;
                acc.add(wp, X, b0, nb, c0, n);
            }
            acc.store(Y, r0, nr, b0, nb);
        }
    }
}
