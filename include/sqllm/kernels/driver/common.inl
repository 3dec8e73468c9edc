// sqllm/kernels/driver/common.inl — helpers every driver uses, written once
// over the target's primitives and compiled per target (kernels/per_target.hpp).

/// Bytes ahead of the read position that streaming kernels prefetch: DRAM
/// latency (~250 ns) times the bytes a core consumes per ns, with margin
/// (tuned by measurement on Sapphire Rapids).
constexpr std::size_t stream_prefetch_bytes = 8192;

/// The same for the fp32 GEMV's four row streams (dense.inl): 2–4 KiB ahead
/// read 8–12 % faster than 8 KiB on the 2-core Xeon VM of issue 15, and four
/// streams of 4 KiB keep 16 KiB in flight per core: ~1 µs of reading at
/// 15 GB/s, several DRAM latencies even on a slow (e.g. virtualised) memory
/// path, so the distance holds where latency is higher.
constexpr std::size_t dense_prefetch_bytes = 4096;

/// Prefetches `lines` cache lines from the address p (an integer: p may lie
/// past the array, and prefetches never fault; forming such a pointer
/// arithmetically would be undefined).
SQLLM_FORCE_INLINE void prefetch_lines(std::uintptr_t p, int lines) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    for (int i = 0; i < lines; ++i)
        __builtin_prefetch(reinterpret_cast<const void*>(p + 64u * static_cast<unsigned>(i)), 0, 3);
#else
    (void)p;
    (void)lines;
#endif
}

/// n LUT values to fp32 (exact).
template <class Lut>
SQLLM_FORCE_INLINE void widen(const Lut* in, float* out, std::size_t n) noexcept {
    if constexpr (std::is_same<Lut, float>::value) {
        std::memcpy(out, in, n * sizeof(float));
    } else if constexpr (std::is_same<Lut, half>::value) {
        widen_half(in, out, n);
    } else {
        for (std::size_t i = 0; i < n; ++i) out[i] = lut_value_traits<Lut>::to_float(in[i]);
    }
}

/// A row's 2^Bits LUT entries as fp32, repeated to fill 16 when there are
/// fewer (`table` may then read index bits above the code): the input of
/// table<Bits>. `out` holds max(16, 2^Bits) floats.
template <int Bits, class Lut>
SQLLM_FORCE_INLINE void row_table(const Lut* lut, float* out) noexcept {
    constexpr int K = 1 << Bits;
    widen(lut, out, K);
    for (int k = K; k < 16; ++k) out[k] = out[k - K];
}

/// Entries of a row_table buffer.
template <int Bits>
struct table_floats : std::integral_constant<std::size_t, (Bits <= 4 ? 16 : (std::size_t{1} << Bits))> {};

/// table<Bits> for each of the row_table buffers t[0 .. sizeof...(I)).
template <int Bits, std::size_t N, std::size_t... I>
SQLLM_FORCE_INLINE std::array<table<Bits>, sizeof...(I)> make_tables(const float (&t)[N][table_floats<Bits>::value],
                                                                    std::index_sequence<I...>) noexcept {
    return {table<Bits>(t[I])...};
}
