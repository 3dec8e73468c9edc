// sqllm/kernels/driver/int8.inl — the approximate int8 path (kernels/gemm_int8.hpp):
// Y = W·X with int8 weights and activations and integer dot products, straight
// from striped_layout. Written once over a target's primitives and compiled
// per target (kernels/per_target.hpp).
//
// The activations arrive quantized (gemm_int8.hpp, target-independent): per
// batch vector and block of 256 padded columns, x8 = round(x / d) in
// [-127, 127] with d = max|x| / 127, in column order, zeros past cols. Per
// row, the LUT becomes lut8[k] = round(lut[k] / s) with s = max|lut| / 127.
// A tile of rows is decoded (extract, table lookup, four slots packed into
// one word per lane, a byte transpose) to one byte per weight in column order: lut8 + i8_weight_bias, the form the
// target's i8_dot takes. Then the register tile: per block of 256 columns,
// exact int32 sums of w8·x8 (biased), converted to float and accumulated as
// Σ d·sum; at the end y = s·(Σ − bias·Q), Q = Σ_blocks d·Σx8 per vector (the
// bias's share, the same for every row: computed once per call).

/// Rows decoded together, and striped blocks (512 columns) decoded per
/// chunk: a 4 × 2048-byte tile (L1), its rows' LUTs converted once.
constexpr std::size_t int8_tile_rows = 4, int8_chunk_blocks = 4;

/// A row's LUT as the input of table<Bits> for int8 decoding: entry k holds,
/// as the bits of a float, (lut8[k] + i8_weight_bias) mod 256 (0..255: never
/// a NaN pattern; lookups only move bits), repeated to 16 entries as
/// row_table. Returns s = max|lut| / 127, or NaN (and zeros) if an entry is
/// not finite, so that the row's outputs are NaN as the exact path's would be.
/// The rounding is the oracle's (reference::gemm_int8) bit for bit: a
/// quotient rounded half away from zero, which no compiler may fuse into an
/// FMA whatever the target.
template <int Bits, class Lut>
SQLLM_FORCE_INLINE float int8_row_table(const Lut* lut, float* out) noexcept {
    constexpr int K = 1 << Bits;
    float f[K];
    widen(lut, f, K);
    float m = 0.0f;
    bool finite = true;
    for (int k = 0; k < K; ++k) {
        const float a = f[k] < 0.0f ? -f[k] : f[k];
        finite = finite && a <= std::numeric_limits<float>::max();
        m = a > m ? a : m;
    }
    for (int k = 0; k < K; ++k) {
        int q = 0;
        if (finite && m > 0.0f) {
            const float v = f[k] * 127.0f / m;  // |v| <= 127 (up to rounding)
            q = static_cast<int>(v < 0.0f ? v - 0.5f : v + 0.5f);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
        }
        const std::uint32_t bits = static_cast<std::uint8_t>(q + i8_weight_bias);
        std::memcpy(&out[k], &bits, sizeof bits);
    }
    for (int k = K; k < 16; ++k) out[k] = out[k - K];
    return finite ? m / 127.0f : std::numeric_limits<float>::quiet_NaN();
}

/// Slots T..T+3 of one part to bytes at out: four lookups, packed into one
/// word per lane (slot T + i in byte i; entries are 0..255) and stored in
/// column order, rather than four narrowing stores.
template <int Bits, int T>
SQLLM_FORCE_INLINE void int8_decode_slots(const vu* v, const table<Bits>& tb, std::uint8_t* out, std::size_t L,
                                          std::size_t n) noexcept {
    const vu a = vbits(tb(extract<Bits, T>(v))), b = vbits(tb(extract<Bits, T + 1>(v)));
    const vu c = vbits(tb(extract<Bits, T + 2>(v))), d = vbits(tb(extract<Bits, T + 3>(v)));
    store_slots4(out, L, wor(wor(a, wshl<8>(b)), wor(wshl<16>(c), wshl<24>(d))), n);
}

/// One part of a block to bytes at out (out[L·t + j] = weight byte of lane p0 + j, slot t).
template <int Bits, int... G>
SQLLM_FORCE_INLINE void int8_decode_part(const std::uint32_t* w, std::size_t L, std::size_t n, const table<Bits>& tb,
                                         std::uint8_t* out, std::integer_sequence<int, G...>) noexcept {
    vu v[Bits];
    for (int m = 0; m < Bits; ++m)
        v[m] = n == static_cast<std::size_t>(lanes) ? wload(w + m * L) : wload_n(w + m * L, n);
    (int8_decode_slots<Bits, 4 * G>(v, tb, out + 4 * G * L, L, n), ...);
}

/// Decodes blocks [block_begin, block_end) of a striped row to weight bytes
/// at out, in column order, padding included (as striped_decode does to fp32).
template <int Bits>
SQLLM_NOINLINE void int8_decode(const std::uint32_t* row, std::size_t cols, const float* entries,
                                std::size_t block_begin, std::size_t block_end, std::uint8_t* out) noexcept {
    using G = striped_geometry;
    const table<Bits> tb(entries);
    const std::size_t wide = G::wide_blocks(cols);
    const auto groups = std::make_integer_sequence<int, 8>{};  // of 4 slots
    for (std::size_t k = block_begin; k < block_end; ++k) {
        const std::uint32_t* w = row + k * G::wide_lanes * Bits;
        const std::size_t L = k < wide ? G::wide_lanes : G::narrow_lanes;
        for (std::size_t p = 0; p < L; p += lanes)
            int8_decode_part<Bits>(w + p, L, std::min<std::size_t>(lanes, L - p), tb, out + p, groups);
        out += L * 32;
    }
}

/// One i8_step of the R × NB register tile: s[i] += w[i / NB]·x[i % NB].
/// Fold expressions over constant indices (as striped.inl): with loops,
/// GCC 12 kept the 16 accumulators in memory.
template <std::size_t R, std::size_t NB, std::size_t... I>
SQLLM_FORCE_INLINE void int8_step(vi (&s)[R * NB], const std::uint8_t* const* w, const std::int8_t* const* x,
                                  std::size_t k, std::index_sequence<I...>) noexcept {
    i8w wv[R];
    i8x xv[NB];
    ((I < R ? (void)(wv[I % R] = i8_load_w(w[I % R] + k)) : (void)0), ...);
    ((I < NB ? (void)(xv[I % NB] = i8_load_x(x[I % NB] + k)) : (void)0), ...);
    ((s[I] = i8_dot(s[I], wv[I / NB], xv[I % NB])), ...);
}

/// acc[i] += float(s[i])·d[i % NB][q]: a block's exact sums, scaled.
template <std::size_t R, std::size_t NB, std::size_t... I>
SQLLM_FORCE_INLINE void int8_scale(const vi (&s)[R * NB], const float* const* d, std::size_t q, vf (&acc)[R * NB],
                                   std::index_sequence<I...>) noexcept {
    ((acc[I] = vfma(i8_to_float(s[I]), vset1(d[I % NB][q]), acc[I])), ...);
}

/// part[r·NB + b] = Σ_q d[b][q]·Σ_{c < 256} w[r][256q + c]·x[b][256q + c]
/// over nq blocks: exact int32 sums per block (|sum| <= 255·127·256 < 2^24,
/// so exact in float too), accumulated in float.
template <std::size_t R, int NB>
SQLLM_FORCE_INLINE void int8_dot_tile(const std::uint8_t* const* w, const std::int8_t* const* x,
                                      const float* const* d, std::size_t nq, float* part) noexcept {
    constexpr std::size_t N = R * static_cast<std::size_t>(NB);
    const auto tile = std::make_index_sequence<N>{};
    vf acc[N];
    for (std::size_t i = 0; i < N; ++i) acc[i] = vzero();
    for (std::size_t q = 0; q < nq; ++q) {
        vi s[N];
        for (std::size_t i = 0; i < N; ++i) s[i] = izero();
        for (std::size_t k = q * 256; k < q * 256 + 256; k += i8_step)
            int8_step<R, NB>(s, w, x, k, tile);
        int8_scale<R, NB>(s, d, q, acc, tile);
    }
    for (std::size_t i = 0; i < N; ++i) part[i] = vsum(acc[i]);
}

/// int8_dot_tile for nb <= NB batch vectors (a register tile per count).
template <std::size_t R, int NB>
SQLLM_FORCE_INLINE void int8_dot_any(std::size_t nb, const std::uint8_t* const* w, const std::int8_t* const* x,
                                     const float* const* d, std::size_t nq, float* part) noexcept {
    if constexpr (NB > 1) {
        if (nb < static_cast<std::size_t>(NB)) return int8_dot_any<R, NB - 1>(nb, w, x, d, nq, part);
    }
    int8_dot_tile<R, NB>(w, x, d, nq, part);
}

/// Y(j, r0 + i) (+)= s[i]·(Σ over the chunk's nq blocks from block q0, at
/// byte c0 of the padded row), for i < nr and every batch vector j; the
/// first chunk overwrites and subtracts the bias's share Q[j].
template <std::size_t R>
SQLLM_FORCE_INLINE void int8_tile(const std::uint8_t* const* w, const float* s, std::size_t nr,
                                  matrix_view<const std::int8_t> X8, matrix_view<const float> D, const float* Q,
                                  matrix_view<float> Y, std::size_t r0, std::size_t c0, std::size_t q0, std::size_t nq,
                                  bool first) noexcept {
    constexpr std::size_t NB = static_cast<std::size_t>(i8_batch_tile);
    float part[R * NB];
    const std::size_t batch = X8.rows();
    for (std::size_t b0 = 0; b0 < batch; b0 += NB) {
        const std::size_t nb = std::min(NB, batch - b0);
        const std::int8_t* xp[NB] = {};
        const float* dp[NB] = {};
        for (std::size_t j = 0; j < nb; ++j) {
            xp[j] = X8.row(b0 + j) + c0;
            dp[j] = D.row(b0 + j) + q0;
        }
        int8_dot_any<R, i8_batch_tile>(nb, w, xp, dp, nq, part);
        for (std::size_t i = 0; i < nr; ++i)
            for (std::size_t j = 0; j < nb; ++j) {
                float& o = Y.row(b0 + j)[r0 + i];
                float v = part[i * nb + j];
                if (i8_weight_bias != 0 && first) v -= static_cast<float>(i8_weight_bias) * Q[b0 + j];
                v *= s[i];
                o = first ? v : o + v;
            }
    }
}

/// Y(j, r) = dense row r · X(j, :) for r in [b, e) and every batch vector j,
/// approximately: X8/D the int8 batch (N × padded cols, N × padded/256), Q
/// its per-vector bias share. Loop order: tiles of 4 rows (LUTs converted
/// once), chunks of 2048 columns decoded to bytes, groups of batch vectors
/// through the register tile.
template <int Bits, class Lut>
void int8_gemm_rows(const std::uint32_t* words, const Lut* lut, std::size_t cols, matrix_view<const std::int8_t> X8,
                    matrix_view<const float> D, const float* Q, matrix_view<float> Y, std::size_t b,
                    std::size_t e) noexcept {
    using G = striped_geometry;
    constexpr std::size_t R = int8_tile_rows, CB = int8_chunk_blocks;
    constexpr int K = 1 << Bits;
    alignas(64) std::uint8_t buf[R][CB * G::wide_cols];
    alignas(64) float entries[R][table_floats<Bits>::value];
    float s[R];
    const std::size_t wpr = striped_layout<Bits>::words_per_row(cols);
    const std::size_t wide = G::wide_blocks(cols);
    const std::size_t blocks = wide + (G::has_narrow_block(cols) ? 1 : 0);
    for (std::size_t r0 = b; r0 < e; r0 += R) {
        const std::size_t nr = std::min(R, e - r0);
        for (std::size_t i = 0; i < nr; ++i) s[i] = int8_row_table<Bits>(lut + (r0 + i) * K, entries[i]);
        for (std::size_t kb = 0; kb < blocks; kb += CB) {
            const std::size_t ke = std::min(blocks, kb + CB);
            const std::size_t c0 = kb * G::wide_cols;  // the narrow block, if any, is last: it starts there too
            const std::size_t n = (std::min(ke, wide) - std::min(kb, wide)) * G::wide_cols +
                                  (ke > wide ? G::narrow_cols : 0);
            for (std::size_t i = 0; i < nr; ++i) {
                // The next chunk's codes of this row (or the next tile's):
                // rows are far apart, the hardware prefetcher follows few.
                const std::size_t next_row = ke < blocks ? r0 + i : r0 + R + i;
                if (next_row < e)
                    prefetch_lines(reinterpret_cast<std::uintptr_t>(words + next_row * wpr +
                                                                    (ke < blocks ? ke : 0) * G::wide_lanes * Bits),
                                   static_cast<int>(CB * Bits));
                int8_decode<Bits>(words + (r0 + i) * wpr, cols, entries[i], kb, ke, buf[i]);
            }
            const std::uint8_t* wp[R];
            for (std::size_t i = 0; i < R; ++i) wp[i] = buf[std::min(i, nr - 1)];  // short tile: repeat a row
            int8_tile<R>(wp, s, nr, X8, D, Q, Y, r0, c0, c0 / 256, n / 256, kb == 0);
        }
    }
}
