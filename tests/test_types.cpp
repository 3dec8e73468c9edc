// LUT value types: exact, round-to-nearest-even conversions checked exhaustively.
#include <sqllm/types/lut_value.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "catch.hpp"

namespace {

float from_bits(std::uint32_t b) {
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
}

// Checks T's float -> T rounding exhaustively around every pair of adjacent
// finite values a < b: the exact midpoint goes to the one with an even
// pattern, and the floats just either side of it go to the nearer one.
template <class T>
void check_round_to_nearest_even(std::uint16_t max_finite_bits) {
    for (std::uint32_t bits = 0; bits < max_finite_bits; ++bits) {  // non-negative finite, pairwise
        const auto a = T::from_bits(static_cast<std::uint16_t>(bits));
        const auto b = T::from_bits(static_cast<std::uint16_t>(bits + 1));
        const float fa = a.to_float(), fb = b.to_float();
        REQUIRE(fa < fb);
        // Both are exact in float, and so is their midpoint (one more bit).
        const float mid = fa + (fb - fa) / 2;
        REQUIRE(static_cast<double>(mid) == (static_cast<double>(fa) + fb) / 2);
        const std::uint16_t even =
            (bits % 2 == 0) ? static_cast<std::uint16_t>(bits) : static_cast<std::uint16_t>(bits + 1);
        REQUIRE(T(mid).bits == even);
        REQUIRE(T(std::nextafter(mid, 0.0f)).bits == bits);
        REQUIRE(T(std::nextafter(mid, 2 * fb)).bits == bits + 1);
        REQUIRE(T(-mid).bits == (even | 0x8000u));
    }
}

}  // namespace

TEST_CASE("half: every pattern converts to float and back unchanged", "[types]") {
    for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
        const auto h = sqllm::half::from_bits(static_cast<std::uint16_t>(bits));
        const float f = h.to_float();
        if (std::isnan(f)) {
            REQUIRE(std::isnan(sqllm::half(f).to_float()));
            continue;
        }
        REQUIRE(sqllm::half(f).bits == bits);
    }
}

TEST_CASE("half: known values", "[types]") {
    REQUIRE(sqllm::half(1.0f).bits == 0x3c00);
    REQUIRE(sqllm::half(-2.0f).bits == 0xc000);
    REQUIRE(sqllm::half(65504.0f).bits == 0x7bff);
    REQUIRE(sqllm::half(5.9604645e-8f).bits == 0x0001);  // smallest subnormal, 2^-24
    REQUIRE(sqllm::half::from_bits(0x0001).to_float() == std::ldexp(1.0f, -24));
    REQUIRE(sqllm::half::from_bits(0x03ff).to_float() == std::ldexp(1023.0f, -24));  // largest subnormal
    REQUIRE(sqllm::half(0.0f).bits == 0x0000);
    REQUIRE(sqllm::half(-0.0f).bits == 0x8000);
}

TEST_CASE("half: round to nearest even, overflow, underflow, NaN", "[types]") {
    check_round_to_nearest_even<sqllm::half>(0x7bff);
    // 65520 is the midpoint between 65504 and (would-be) 65536: ties to even = Inf.
    REQUIRE(sqllm::half(65519.996f).bits == 0x7bff);
    REQUIRE(sqllm::half(65520.0f).bits == 0x7c00);
    REQUIRE(sqllm::half(1e10f).bits == 0x7c00);
    REQUIRE(sqllm::half(-1e10f).bits == 0xfc00);
    REQUIRE(sqllm::half(std::numeric_limits<float>::infinity()).bits == 0x7c00);
    // Half of the smallest subnormal ties to zero; anything above rounds up.
    REQUIRE(sqllm::half(std::ldexp(1.0f, -25)).bits == 0x0000);
    REQUIRE(sqllm::half(std::nextafter(std::ldexp(1.0f, -25), 1.0f)).bits == 0x0001);
    REQUIRE(sqllm::half(1e-30f).bits == 0x0000);
    REQUIRE(sqllm::half(-1e-30f).bits == 0x8000);
    const auto nan = sqllm::half(std::numeric_limits<float>::quiet_NaN());
    REQUIRE(std::isnan(nan.to_float()));
    REQUIRE(std::isnan(sqllm::half(from_bits(0x7f800001u)).to_float()));  // signalling NaN stays NaN
}

TEST_CASE("bfloat16: exhaustive round trip and round to nearest even", "[types]") {
    for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
        const auto b = sqllm::bfloat16::from_bits(static_cast<std::uint16_t>(bits));
        const float f = b.to_float();
        if (std::isnan(f)) {
            REQUIRE(std::isnan(sqllm::bfloat16(f).to_float()));
            continue;
        }
        REQUIRE(sqllm::bfloat16(f).bits == bits);
    }
    check_round_to_nearest_even<sqllm::bfloat16>(0x7f7f);
    REQUIRE(sqllm::bfloat16(1.0f).bits == 0x3f80);
    REQUIRE(sqllm::bfloat16(std::numeric_limits<float>::max()).bits == 0x7f80);  // rounds up to Inf
    REQUIRE(std::isnan(sqllm::bfloat16(from_bits(0x7f800001u)).to_float()));     // NaN never becomes Inf
}

TEST_CASE("round_to gives the value the LUT will hold", "[types]") {
    REQUIRE(sqllm::round_to<float>(0.1f) == 0.1f);
    REQUIRE(sqllm::round_to<sqllm::half>(0.1f) == sqllm::half(0.1f).to_float());
    REQUIRE(sqllm::round_to<sqllm::bfloat16>(0.1f) == sqllm::bfloat16(0.1f).to_float());
    STATIC_REQUIRE(sqllm::is_lut_value<sqllm::half>::value);
    STATIC_REQUIRE(!sqllm::is_lut_value<double>::value);
}
