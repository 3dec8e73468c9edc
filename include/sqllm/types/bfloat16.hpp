// sqllm/types/bfloat16.hpp — bfloat16 (the top half of an IEEE float) as a storage type.
#pragma once

#include <cstdint>
#include <cstring>

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN

/// bfloat16 value held as its 16-bit pattern: float's sign and exponent with
/// 7 mantissa bits. from_float rounds to nearest, ties to even; NaNs stay NaN.
struct bfloat16 {
    std::uint16_t bits = 0;

    bfloat16() = default;
    explicit SQLLM_HOST_DEVICE bfloat16(float f) : bits(from_float_bits(f)) {}

    SQLLM_HOST_DEVICE float to_float() const { return to_float_bits(bits); }
    explicit SQLLM_HOST_DEVICE operator float() const { return to_float(); }

    static SQLLM_HOST_DEVICE bfloat16 from_bits(std::uint16_t b) {
        bfloat16 v;
        v.bits = b;
        return v;
    }

    static SQLLM_HOST_DEVICE std::uint16_t from_float_bits(float f) {
        std::uint32_t x;
        std::memcpy(&x, &f, sizeof x);
        if ((x & 0x7fffffffu) > 0x7f800000u)  // NaN: truncating could give Inf, so force a quiet bit
            return static_cast<std::uint16_t>((x >> 16) | 0x0040u);
        // Adding 0x7fff plus the lowest kept bit rounds to nearest even; a
        // carry into the exponent is the correct rounding (up to Inf at the top).
        x += 0x7fffu + ((x >> 16) & 1u);
        return static_cast<std::uint16_t>(x >> 16);
    }

    static SQLLM_HOST_DEVICE float to_float_bits(std::uint16_t b) {
        const std::uint32_t x = static_cast<std::uint32_t>(b) << 16;
        float f;
        std::memcpy(&f, &x, sizeof f);
        return f;
    }
};

inline bool operator==(bfloat16 a, bfloat16 b) { return a.to_float() == b.to_float(); }
inline bool operator!=(bfloat16 a, bfloat16 b) { return !(a == b); }

SQLLM_NAMESPACE_END
