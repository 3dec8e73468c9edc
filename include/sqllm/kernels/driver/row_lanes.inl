// sqllm/kernels/driver/row_lanes.inl — gemv and gemm rows straight from the
// reference layout (a zero-copy view of a checkpoint's qweight), written once
// over a target's primitives.
//
// In the reference layout word w of row r is words[w·rows + r], so one
// vector load reads word w of `lanes` consecutive rows: rows go in lanes.
// Slot t of a 32-code group is then the same extract as in the striped
// layout, per lane; each lane (row) has its own LUT, so the lookup is a
// gather from the rows' tables (widened to fp32 side by side), and the FMA
// multiplies by x[c] broadcast. Row blocks should start at multiples of 16
// rows (the executor split aligns them) so those loads are whole lines.

/// Groups ahead of the current one whose words are prefetched: the words of
/// one group sit `rows` words apart, beyond the hardware prefetcher's reach.
constexpr std::size_t row_lanes_prefetch_groups = 8;

/// The LUTs of rows [r0, r0 + n) widened to fp32 at out[j·K ..] (lanes ≥ n zeroed).
template <int Bits, class Lut>
SQLLM_FORCE_INLINE void lane_tables(const Lut* lut, std::size_t r0, std::size_t n, float* out) noexcept {
    constexpr std::size_t K = std::size_t{1} << Bits;
    for (std::size_t j = 0; j < static_cast<std::size_t>(lanes); ++j) {
        if (j < n)
            widen(lut + (r0 + j) * K, out + j * K, K);
        else
            std::fill(out + j * K, out + (j + 1) * K, 0.0f);
    }
}

/// The Bits word vectors of group g for rows [r0, r0 + n).
template <int Bits>
SQLLM_FORCE_INLINE void lane_words(const std::uint32_t* words, std::size_t rows, std::size_t g, std::size_t r0,
                                   std::size_t n, vu* v) noexcept {
    for (int m = 0; m < Bits; ++m) {
        const std::uint32_t* p = words + (g * Bits + static_cast<std::size_t>(m)) * rows + r0;
        v[m] = n == static_cast<std::size_t>(lanes) ? wload(p) : wload_n(p, n);
    }
    const std::size_t ahead = (g + row_lanes_prefetch_groups) * Bits;
    for (int m = 0; m < Bits; ++m)
        prefetch_lines(reinterpret_cast<std::uintptr_t>(words) + ((ahead + static_cast<std::size_t>(m)) * rows + r0) * 4u, 1);
}

/// LUT values of slot T for every lane: gather from the lane tables.
template <int Bits, int T>
SQLLM_FORCE_INLINE vf lane_lookup(const vu* v, const float* tables, vu offsets) noexcept {
    return gather(tables, wadd(offsets, wand(extract<Bits, T>(v), wset1((1u << Bits) - 1u))));
}

template <int Bits, int... T>
SQLLM_FORCE_INLINE void lane_dot_group(const vu* v, const float* tables, vu offsets, const float* x, vf* acc,
                                       std::integer_sequence<int, T...>) noexcept {
    ((acc[T % 4] = vfma(lane_lookup<Bits, T>(v, tables, offsets), vset1(x[T]), acc[T % 4])), ...);
}

/// y[r] = dense row r · x for r in [b, e).
template <int Bits, class Lut>
void row_lanes_gemv_rows(const std::uint32_t* words, const Lut* lut, std::size_t rows, std::size_t cols,
                         const float* x, float* y, std::size_t b, std::size_t e) noexcept {
    constexpr std::size_t K = std::size_t{1} << Bits;
    alignas(64) float tables[lanes * K];
    alignas(64) float x_tail[codes_per_group];  // the last group's x, zero-padded (its padding codes are 0)
    const std::size_t groups = group_count(cols), full = cols / codes_per_group;
    for (std::size_t c = full * codes_per_group; c < full * codes_per_group + codes_per_group; ++c)
        x_tail[c - full * codes_per_group] = c < cols ? x[c] : 0.0f;
    const vu offsets = lane_offsets(static_cast<std::uint32_t>(K));
    const auto slots = std::make_integer_sequence<int, 32>{};
    for (std::size_t r0 = b; r0 < e; r0 += lanes) {
        const std::size_t n = std::min<std::size_t>(lanes, e - r0);
        lane_tables<Bits>(lut, r0, n, tables);
        vf acc[4] = {vzero(), vzero(), vzero(), vzero()};
        for (std::size_t g = 0; g < groups; ++g) {
            vu v[Bits];
            lane_words<Bits>(words, rows, g, r0, n, v);
            lane_dot_group<Bits>(v, tables, offsets, g < full ? x + g * codes_per_group : x_tail, acc, slots);
        }
        const vf s = vadd(vadd(acc[0], acc[1]), vadd(acc[2], acc[3]));
        if (n == static_cast<std::size_t>(lanes))
            vstore(y + r0, s);
        else
            vstore_n(y + r0, s, n);
    }
}

template <int Bits, int... T>
SQLLM_FORCE_INLINE void lane_decode_group(const vu* v, const float* tables, vu offsets, float* out,
                                          std::integer_sequence<int, T...>) noexcept {
    (vstore(out + T * lanes, lane_lookup<Bits, T>(v, tables, offsets)), ...);
}

/// Y(j, r) = dense row r · X(j, :) for r in [b, e) and every batch vector j:
/// per block of `lanes` rows, chunks of 256 columns are decoded once into a
/// column-major tile (buf[c·lanes + row]) and multiplied into the Y rows'
/// segment for 4 batch vectors at a time (x broadcast, rows in lanes).
template <int Bits, class Lut>
void row_lanes_gemm_rows(const std::uint32_t* words, const Lut* lut, std::size_t rows, std::size_t cols,
                         matrix_view<const float> X, matrix_view<float> Y, std::size_t b, std::size_t e) noexcept {
    constexpr std::size_t K = std::size_t{1} << Bits, chunk_groups = 8, NB = 4;
    alignas(64) float tables[lanes * K];
    alignas(64) float buf[chunk_groups * codes_per_group * lanes];
    const std::size_t groups = group_count(cols), batch = X.rows();
    const vu offsets = lane_offsets(static_cast<std::uint32_t>(K));
    const auto slots = std::make_integer_sequence<int, 32>{};
    for (std::size_t r0 = b; r0 < e; r0 += lanes) {
        const std::size_t n = std::min<std::size_t>(lanes, e - r0);
        lane_tables<Bits>(lut, r0, n, tables);
        for (std::size_t g0 = 0; g0 < groups; g0 += chunk_groups) {
            const std::size_t g1 = std::min(groups, g0 + chunk_groups);
            for (std::size_t g = g0; g < g1; ++g) {
                vu v[Bits];
                lane_words<Bits>(words, rows, g, r0, n, v);
                lane_decode_group<Bits>(v, tables, offsets, buf + (g - g0) * codes_per_group * lanes, slots);
            }
            const std::size_t c0 = g0 * codes_per_group;
            const std::size_t nk = std::min(cols, g1 * codes_per_group) - c0;
            for (std::size_t j0 = 0; j0 < batch; j0 += NB) {
                const std::size_t nb = std::min(NB, batch - j0);
                vf acc[NB];
                for (std::size_t j = 0; j < nb; ++j) acc[j] = g0 == 0 ? vzero() : vload_n(Y.row(j0 + j) + r0, n);
                for (std::size_t k = 0; k < nk; ++k) {
                    const vf w = vload(buf + k * lanes);
                    for (std::size_t j = 0; j < nb; ++j) acc[j] = vfma(w, vset1(X.row(j0 + j)[c0 + k]), acc[j]);
                }
                for (std::size_t j = 0; j < nb; ++j) vstore_n(Y.row(j0 + j) + r0, acc[j], n);
            }
        }
    }
}
