// sqllm/types/half.hpp — IEEE 754 binary16 as a portable storage type.
//
// Conversions are exact in software (no compiler _Float16, no F16C needed), so
// a LUT rounded on one machine is bit-identical on every other.
#pragma once

#include <cstdint>
#include <cstring>

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN

/// IEEE binary16 value held as its 16-bit pattern. Arithmetic is done by
/// converting to float; from_float rounds to nearest, ties to even, overflows
/// to ±Inf and keeps NaNs quiet.
struct half {
    std::uint16_t bits = 0;

    half() = default;
    explicit SQLLM_HOST_DEVICE half(float f) : bits(from_float_bits(f)) {}

    /// The value as float (exact: every binary16 is a float).
    SQLLM_HOST_DEVICE float to_float() const { return to_float_bits(bits); }
    explicit SQLLM_HOST_DEVICE operator float() const { return to_float(); }

    static SQLLM_HOST_DEVICE half from_bits(std::uint16_t b) {
        half h;
        h.bits = b;
        return h;
    }

    static SQLLM_HOST_DEVICE std::uint16_t from_float_bits(float f) {
        std::uint32_t x;
        std::memcpy(&x, &f, sizeof x);
        const std::uint32_t sign = (x >> 16) & 0x8000u;
        const std::uint32_t abs = x & 0x7fffffffu;
        if (abs >= 0x7f800000u) {  // Inf or NaN; a NaN keeps its top payload bits and stays a NaN
            if (abs == 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7c00u);
            return static_cast<std::uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
        }
        // 65520 = largest finite half (65504) plus half an ulp: it and above round to Inf.
        if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);
        if (abs < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
            // Scale into units of 2^-24 (the subnormal ulp) with the implicit bit,
            // then round the dropped bits to nearest even.
            const int exp = static_cast<int>(abs >> 23);
            if (exp < 102) return static_cast<std::uint16_t>(sign);  // < 2^-25: rounds to zero
            const std::uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
            const int shift = 126 - exp;  // 14..24 bits dropped
            std::uint32_t r = mant >> shift;
            const std::uint32_t rem = mant & ((1u << shift) - 1u);
            const std::uint32_t halfway = 1u << (shift - 1);
            if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
            return static_cast<std::uint16_t>(sign | r);
        }
        // Normal: rebias the exponent (127 -> 15) and round 13 mantissa bits;
        // a carry out of the mantissa correctly bumps the exponent.
        std::uint32_t r = (abs - 0x38000000u) >> 13;
        const std::uint32_t rem = abs & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
        return static_cast<std::uint16_t>(sign | r);
    }

    static SQLLM_HOST_DEVICE float to_float_bits(std::uint16_t h) {
        const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
        const std::uint32_t exp = (h >> 10) & 0x1fu;
        std::uint32_t mant = h & 0x3ffu;
        std::uint32_t x;
        if (exp == 0x1fu) {
            x = sign | 0x7f800000u | (mant << 13);
        } else if (exp != 0) {
            x = sign | ((exp + 112u) << 23) | (mant << 13);
        } else if (mant == 0) {
            x = sign;
        } else {  // subnormal: normalise the mantissa
            int e = 113;
            while ((mant & 0x400u) == 0) {
                mant <<= 1;
                --e;
            }
            x = sign | (static_cast<std::uint32_t>(e) << 23) | ((mant & 0x3ffu) << 13);
        }
        float f;
        std::memcpy(&f, &x, sizeof f);
        return f;
    }
};

inline bool operator==(half a, half b) { return a.to_float() == b.to_float(); }
inline bool operator!=(half a, half b) { return !(a == b); }

SQLLM_NAMESPACE_END
