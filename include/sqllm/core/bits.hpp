// sqllm/core/bits.hpp — compile-time facts about a code bit width.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN

/// Facts about codes of `Bits` bits (1..8). Codes are stored one per byte when
/// unpacked (code_t) and as bit streams in 32-bit words when packed.
template <int Bits>
struct bit_width {
    static_assert(Bits >= 1 && Bits <= 8, "sqllm supports code widths of 1 to 8 bits");
    static constexpr int bits = Bits;
    static constexpr int levels = 1 << Bits;  ///< LUT entries per row (K = 2^Bits)
    static constexpr std::uint32_t mask = (1u << Bits) - 1u;
};

/// An unpacked code: one per byte, value < 2^Bits.
using code_t = std::uint8_t;

/// Number of codes of a 32-code group: packed layouts store codes in groups of
/// 32, which occupy exactly Bits 32-bit words for every Bits.
constexpr std::size_t codes_per_group = 32;

/// Groups needed for `cols` codes (the last one zero-padded). Written so it
/// cannot wrap: (cols + 31) / 32 is 0 for cols near SIZE_MAX.
constexpr std::size_t group_count(std::size_t cols) {
    return cols / codes_per_group + (cols % codes_per_group != 0 ? 1 : 0);
}

SQLLM_NAMESPACE_END
