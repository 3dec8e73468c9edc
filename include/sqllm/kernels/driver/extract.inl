// sqllm/kernels/driver/extract.inl — the default `extract` primitive, written
// with the target's shifts (a target may define its own instead: avx512).
// Included once per target, inside its namespace (kernels/per_target.hpp).

/// Bits [Bits·T, Bits·T + Bits) of each lane's stream of word vectors w
/// (slot T of the striped and reference layouts: a code straddling two words
/// takes its high bits from w[m + 1]), in the low bits of each lane; the bits
/// above are not cleared (lookups that need it mask them).
template <int Bits, int T>
SQLLM_FORCE_INLINE vu extract(const vu* w) noexcept {
    constexpr int bit = Bits * T, m = bit / 32, s = bit % 32;
    vu v = w[m];
    if constexpr (s != 0) v = wshr<s>(v);
    if constexpr (s + Bits > 32) v = wor(v, wshl<32 - s>(w[m + 1]));
    return v;
}
