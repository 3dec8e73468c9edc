// sqllm/kernels/driver/dense.inl — fp32 GEMV / GEMM rows (kernels/dense.hpp)
// from the same register tile, prefetch distance and blocking as the LUT
// kernels. Written once over a target's primitives.

/// y[r] = W(r, :)·x for r in [b, e): rows in pairs through the 2 × 1 tile,
/// each row prefetched 8 KiB ahead.
inline void dense_gemv_rows(matrix_view<const float> W, const float* x, float* y, std::size_t b,
                            std::size_t e) noexcept {
    const float* xp[1] = {x};
    const std::size_t cols = W.cols();
    std::size_t r = b;
    for (; r + 2 <= e; r += 2) {
        const float* wp[2] = {W.row(r), W.row(r + 1)};
        dot_tile<2, 1, true>(wp, xp, cols, y + r, stream_prefetch_bytes);
    }
    for (; r < e; ++r) {
        const float* wp[1] = {W.row(r)};
        dot_tile<1, 1, true>(wp, xp, cols, y + r, stream_prefetch_bytes);
    }
}

/// Y(j, r) = W(r, :)·X(j, :) for r in [b, e): the loop of striped_gemm_rows
/// with the fp32 rows in place of the decoded tile (1024-column chunks,
/// 4-row tiles, the next tile's chunk prefetched).
inline void dense_gemm_rows(matrix_view<const float> W, matrix_view<const float> X, matrix_view<float> Y,
                            std::size_t b, std::size_t e) noexcept {
    constexpr std::size_t R = 4, chunk = 1024;
    const std::size_t cols = W.cols();
    for (std::size_t c0 = 0; c0 < cols; c0 += chunk) {
        const std::size_t n = std::min(chunk, cols - c0);
        for (std::size_t r0 = b; r0 < e; r0 += R) {
            const std::size_t nr = std::min(R, e - r0);
            for (std::size_t i = 0; i < R && r0 + R + i < e; ++i)
                prefetch_lines(reinterpret_cast<std::uintptr_t>(W.row(r0 + R + i) + c0),
                               static_cast<int>((n * sizeof(float) + 63) / 64));
            const float* wp[R];
            for (std::size_t i = 0; i < R; ++i) wp[i] = W.row(r0 + std::min(i, nr - 1)) + c0;
            tile_rows<R>(wp, nr, X, Y, r0, c0, n, c0 == 0);
        }
    }
}
