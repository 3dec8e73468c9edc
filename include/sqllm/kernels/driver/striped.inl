// sqllm/kernels/driver/striped.inl — gemv and gemm rows straight from
// striped_layout, written once over a target's primitives and compiled per
// target (kernels/per_target.hpp).
//
// Layout (layout/striped.hpp): a row is blocks of L = 16 lanes × 32 slots
// (the last block may have L = 8); word vector m of a block holds, per lane,
// the m-th word of that lane's 32·Bits-bit stream, and slot t of lane j is
// column c0 + L·t + j. So one word vector load per m, then for each slot an
// extract (a shift, sometimes two and an or), a table lookup and an FMA with
// x[c0 + L·t + j ..] give L consecutive columns' products: the vectors of a
// target are `lanes` wide, so a block is L / lanes parts (a 16-lane target
// reads an 8-lane block as one part with the upper lanes masked off).
// Slots are unrolled through an integer_sequence: every shift is a constant.

/// Rows a gemv pass walks together: where registers allow, two rows share
/// each x load (it matters once x outgrows L1).
constexpr int striped_rows_per_pass = lanes >= 16 ? 2 : 1;

/// Accumulators per row: enough independent FMA chains to hide the latency.
constexpr int striped_accumulators = striped_rows_per_pass == 1 ? 8 : 4;

/// Slot T of R rows: acc[r][T mod A] += LUT_r[code of slot T]·x, for each
/// row r. Every array index is a compile-time constant (fold expressions, no
/// lambdas or loops over rows): compilers then keep the accumulators, words
/// and tables in registers (with a loop or a captured state they spill them).
template <int Bits, int T, int R, int A, std::size_t... Rs>
SQLLM_FORCE_INLINE void striped_slot(const vu (&v)[R][Bits], const table<Bits>* tb, vf xv, vf (&acc)[R][A],
                                     std::index_sequence<Rs...>) noexcept {
    ((acc[Rs][T % A] = vfma(tb[Rs](extract<Bits, T>(v[Rs])), xv, acc[Rs][T % A])), ...);
}

/// The 32 slots of one part of R rows' block: x[T·L ..] is slot T's x.
template <int Bits, int R, int A, int... T>
SQLLM_FORCE_INLINE void striped_slots(const vu (&v)[R][Bits], const table<Bits>* tb, const float* x, std::size_t L,
                                      vf (&acc)[R][A], std::integer_sequence<int, T...>) noexcept {
    (striped_slot<Bits, T>(v, tb, vload(x + T * L), acc, std::make_index_sequence<R>{}), ...);
}
/// The same for a part of n < lanes lanes (a 16-lane target's 8-lane block):
/// x loads stop at n (the other lanes' words are loaded as 0 and x as 0).
template <int Bits, int R, int A, int... T>
SQLLM_FORCE_INLINE void striped_slots_n(const vu (&v)[R][Bits], const table<Bits>* tb, const float* x, std::size_t L,
                                        std::size_t n, vf (&acc)[R][A], std::integer_sequence<int, T...>) noexcept {
    (striped_slot<Bits, T>(v, tb, vload_n(x + T * L, n), acc, std::make_index_sequence<R>{}), ...);
}

/// Σ_c LUT[code(c)]·x[c] for R rows: row r's words at row0 + r·row_words,
/// its LUT at lut0 + r·lut_stride (strides of 0 repeat a row).
template <int Bits, int R, class Lut>
SQLLM_FORCE_INLINE void striped_dot(const std::uint32_t* row0, std::size_t row_words, std::size_t cols, const Lut* lut0,
                                    std::size_t lut_stride, const detail::x_source& xs, float* out) noexcept {
    using G = striped_geometry;
    constexpr int A = striped_accumulators;
    alignas(64) float tables[R][table_floats<Bits>::value];
    const std::uint32_t* rows[R];
    SQLLM_UNROLL
    for (int r = 0; r < R; ++r) {
        row_table<Bits>(lut0 + static_cast<std::size_t>(r) * lut_stride, tables[r]);
        rows[r] = row0 + static_cast<std::size_t>(r) * row_words;
    }
    const auto tb = make_tables<Bits>(tables, std::make_index_sequence<R>{});
    vf acc[R][A];
    SQLLM_UNROLL
    for (int r = 0; r < R; ++r)
        SQLLM_UNROLL
        for (int a = 0; a < A; ++a)
            acc[r][a] = vzero();
    const std::size_t wide = G::wide_blocks(cols);
    constexpr std::size_t block_words = G::wide_lanes * Bits;
    const auto slots = std::make_integer_sequence<int, 32>{};
    for (std::size_t k = 0; k < wide; ++k) {
        const std::uint32_t* w[R];
        SQLLM_UNROLL
        for (int r = 0; r < R; ++r)
            w[r] = rows[r] + k * block_words;
        // Measured on a Sapphire Rapids VM (2 threads, weights from DRAM):
        // 3-bit rows run best prefetching every row 8 KiB ahead, the others
        // prefetching one row of the pair after next (the hardware streamer
        // fetches its neighbour): 10-30% over the other scheme. On issue
        // 15's Xeon VM, every row 2, 4, 8 or 16 KiB ahead, into L1 or L2,
        // ran within 15 % of this for 2/3/4 bits, no prefetch 1.5-1.8×
        // slower: what matters is prefetching, not the distance.
        if constexpr (R == 2 && Bits != 3) {  // (for a repeated row, a harmless extra prefetch)
            prefetch_lines(reinterpret_cast<std::uintptr_t>(w[0]) + 4 * row_words * sizeof(std::uint32_t), Bits);
        } else {
            SQLLM_UNROLL
            for (int r = 0; r < R; ++r)
                prefetch_lines(reinterpret_cast<std::uintptr_t>(w[r]) + stream_prefetch_bytes, Bits);
        }
        const float* x = xs.at(k * G::wide_cols);
        for (std::size_t p = 0; p < G::wide_lanes; p += lanes) {
            vu v[R][Bits];
            SQLLM_UNROLL
            for (int r = 0; r < R; ++r)
                SQLLM_UNROLL
                for (int m = 0; m < Bits; ++m)
                    v[r][m] = wload(w[r] + p + m * G::wide_lanes);
            striped_slots<Bits>(v, tb.data(), x + p, G::wide_lanes, acc, slots);
        }
    }
    if (G::has_narrow_block(cols)) {
        const float* x = xs.at(wide * G::wide_cols);
        for (std::size_t p = 0; p < G::narrow_lanes; p += lanes) {
            const std::size_t n = std::min<std::size_t>(lanes, G::narrow_lanes - p);
            vu v[R][Bits];
            SQLLM_UNROLL
            for (int r = 0; r < R; ++r)
                SQLLM_UNROLL
                for (int m = 0; m < Bits; ++m)
                    v[r][m] = wload_n(rows[r] + wide * block_words + p + m * G::narrow_lanes, n);
            striped_slots_n<Bits>(v, tb.data(), x + p, G::narrow_lanes, n, acc, slots);
        }
    }
    SQLLM_UNROLL
    for (int r = 0; r < R; ++r) {
        vf s = acc[r][0];
        SQLLM_UNROLL
        for (int a = 1; a < A; ++a)
            s = vadd(s, acc[r][a]);
        out[r] = vsum(s);
    }
}

/// y[r] = dense row r · x for r in [b, e): the dense part of gemv.
template <int Bits, class Lut>
void striped_gemv_rows(const std::uint32_t* words, const Lut* lut, std::size_t cols, const float* x, float* y,
                       std::size_t b, std::size_t e) noexcept {
    constexpr int K = 1 << Bits;
    alignas(64) float tail[striped_geometry::wide_cols];
    const detail::x_source xs = detail::make_x_source(x, cols, tail);
    const std::size_t wpr = striped_layout<Bits>::words_per_row(cols);
    constexpr int R = striped_rows_per_pass;
    std::size_t r = b;
    for (; r + R <= e; r += R)
        striped_dot<Bits, R>(words + r * wpr, wpr, cols, lut + r * K, K, xs, y + r);
    for (; r < e; ++r) {  // a row left over: the same pass over it alone (one instantiation, not two)
        float out[R];
        striped_dot<Bits, R>(words + r * wpr, 0, cols, lut + r * K, 0, xs, out);
        y[r] = out[0];
    }
}

/// One part of a block to fp32 at out (out[L·t + j] = LUT[code of lane p0 + j, slot t]).
template <int Bits, int... T>
SQLLM_FORCE_INLINE void striped_decode_part(const std::uint32_t* w, std::size_t L, std::size_t n, const table<Bits>& tb,
                                            float* out, std::integer_sequence<int, T...>) noexcept {
    vu v[Bits];
    SQLLM_UNROLL
    for (int m = 0; m < Bits; ++m)
        v[m] = n == static_cast<std::size_t>(lanes) ? wload(w + m * L) : wload_n(w + m * L, n);
    if (n == static_cast<std::size_t>(lanes))
        (vstore(out + T * L, tb(extract<Bits, T>(v))), ...);
    else
        (vstore_n(out + T * L, tb(extract<Bits, T>(v)), n), ...);
}

/// Decodes blocks [block_begin, block_end) of a striped row (wide blocks,
/// then the narrow one) to fp32 at out, in column order, padding included.
// Not inlined: inlined into the gemm tile loop, batch-8 8-bit ran 16-20 %
// slower with GCC 12 (bench/interleaved.sh); one call per row costs nothing.
template <int Bits, class Lut>
SQLLM_NOINLINE void striped_decode(const std::uint32_t* row, std::size_t cols, const Lut* lut, std::size_t block_begin,
                                   std::size_t block_end, float* out) noexcept {
    using G = striped_geometry;
    alignas(64) float lut32[table_floats<Bits>::value];
    row_table<Bits>(lut, lut32);
    const table<Bits> tb(lut32);
    const std::size_t wide = G::wide_blocks(cols);
    const auto slots = std::make_integer_sequence<int, 32>{};
    for (std::size_t k = block_begin; k < block_end; ++k) {
        const std::uint32_t* w = row + k * G::wide_lanes * Bits;
        const std::size_t L = k < wide ? G::wide_lanes : G::narrow_lanes;
        for (std::size_t p = 0; p < L; p += lanes)
            striped_decode_part<Bits>(w + p, L, std::min<std::size_t>(lanes, L - p), tb, out + p, slots);
        out += L * 32;
    }
}

/// Y(n, r) = dense row r · X(n, :) for r in [b, e) and every batch vector n.
/// Loop order: tiles of 4 rows; per tile, chunks of 1024 columns decoded to
/// fp32 (16 KiB, L1), each run through the register tile for every group of
/// 4 batch vectors into accumulators that stay vectors until the row ends
/// (tile.inl: tile_accumulators); batches over 64 vectors in slices of 64.
template <int Bits, class Lut>
void striped_gemm_rows(const std::uint32_t* words, const Lut* lut, std::size_t cols, matrix_view<const float> X,
                       matrix_view<float> Y, std::size_t b, std::size_t e) noexcept {
    using G = striped_geometry;
    constexpr std::size_t R = detail::striped_tile_rows, chunk_blocks = 2;
    constexpr int K = 1 << Bits;
    alignas(64) float buf[R][chunk_blocks * G::wide_cols];
    tile_accumulators<R> acc;
    const std::size_t wpr = striped_layout<Bits>::words_per_row(cols), padded = G::padded_cols(cols);
    const std::size_t blocks = G::wide_blocks(cols) + (G::has_narrow_block(cols) ? 1 : 0);
    for (std::size_t r0 = b; r0 < e; r0 += R) {
        const std::size_t nr = std::min(R, e - r0);
        const float* wp[R];
        for (std::size_t i = 0; i < R; ++i) wp[i] = buf[std::min(i, nr - 1)];  // short tile: repeat a row
        for (std::size_t b0 = 0; b0 < X.rows(); b0 += tile_batch_slice) {
            const std::size_t nb = std::min(tile_batch_slice, X.rows() - b0);
            acc.clear(nb);
            for (std::size_t kb = 0; kb < blocks; kb += chunk_blocks) {
                const std::size_t ke = std::min(blocks, kb + chunk_blocks);
                const std::size_t c0 = kb * G::wide_cols;  // the narrow block, if any, is last: it starts there too
                const std::size_t n = std::min(cols, std::min(padded, ke * G::wide_cols)) - c0;
                for (std::size_t i = 0; i < nr; ++i) {
                    // The next chunk's codes (or the next tile's first): four
                    // rows far apart, more streams than the hardware follows well.
                    const std::size_t nrow = ke < blocks ? r0 + i : r0 + R + i;
                    if (nrow < e)
                        prefetch_lines(reinterpret_cast<std::uintptr_t>(words + nrow * wpr +
                                                                        (ke < blocks ? ke : 0) * G::wide_lanes * Bits),
                                       static_cast<int>(chunk_blocks * Bits));
                    striped_decode<Bits>(words + (r0 + i) * wpr, cols, lut + (r0 + i) * K, kb, ke, buf[i]);
                }
                acc.add(wp, X, b0, nb, c0, n);
            }
            acc.store(Y, r0, nr, b0, nb);
        }
    }
}
