// sqllm/core/float_bits.hpp — float32 bit-pattern helpers shared by the
// quantizer: order keys for radix sorting and selection, branch-free checks.
//
// Checks on bits rather than std::isfinite have no branch per value and keep
// working under -ffast-math.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {

inline std::uint32_t float_bits(float v) noexcept {
    std::uint32_t u;
    std::memcpy(&u, &v, sizeof u);
    return u;
}
inline float bits_float(std::uint32_t u) noexcept {
    float v;
    std::memcpy(&v, &u, sizeof v);
    return v;
}

/// Key whose unsigned order is the numeric order of the float (−0 sorts just
/// below +0; both compare equal as floats).
inline std::uint32_t order_key(float v) noexcept {
    const std::uint32_t u = float_bits(v);
    return u ^ ((u >> 31) != 0u ? 0xFFFFFFFFu : 0x80000000u);
}
inline float from_order_key(std::uint32_t key) noexcept {
    return bits_float(key ^ ((key >> 31) != 0u ? 0x80000000u : 0xFFFFFFFFu));
}

/// Exponent field all ones <=> NaN or Inf.
inline bool is_finite_bits(std::uint32_t u) noexcept { return (u & 0x7F800000u) != 0x7F800000u; }

/// True if v[0..n) holds a NaN/Inf or, when `nonnegative`, a value < 0 (−0 is fine).
inline bool has_bad_values(const float* v, std::size_t n, bool nonnegative) noexcept {
    std::uint32_t bad = 0;
    const std::uint32_t sign_matters = nonnegative ? 1u : 0u;
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t u = float_bits(v[i]);
        bad |= static_cast<std::uint32_t>(!is_finite_bits(u)) |
               (sign_matters & (u >> 31) & static_cast<std::uint32_t>((u & 0x7FFFFFFFu) != 0u));
    }
    return bad != 0u;
}

}  // namespace detail
SQLLM_NAMESPACE_END
