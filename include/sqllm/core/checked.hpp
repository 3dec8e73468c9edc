// sqllm/core/checked.hpp — size arithmetic on numbers that come from outside
// (file headers, caller-given shapes, index arrays).
//
// A product or sum that wraps turns a validation into a lie: rows = 2^62 + 1
// with 4 LUT entries per row "needs" 4 values, passes the size check, and
// the packer then writes far past the arrays it allocated. Every size,
// offset, word count or index the library computes from external numbers
// goes through these helpers, which throw sqllm::error(errc::out_of_range)
// instead of wrapping, and every narrowing of an index is checked the same
// way. Internal arithmetic on sizes that were validated once (the kernels'
// loops) stays unchecked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "../config.hpp"
#include "../error.hpp"

SQLLM_NAMESPACE_BEGIN

/// a · b, or false (and `out` untouched) if it does not fit size_t.
constexpr bool mul_fits(std::size_t a, std::size_t b, std::size_t& out) noexcept {
    if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a) return false;
    out = a * b;
    return true;
}

/// a + b, or false (and `out` untouched) if it does not fit size_t.
constexpr bool add_fits(std::size_t a, std::size_t b, std::size_t& out) noexcept {
    if (b > std::numeric_limits<std::size_t>::max() - a) return false;
    out = a + b;
    return true;
}

/// a · b; throws sqllm::error(out_of_range) naming `what` if it overflows size_t.
inline std::size_t checked_mul(std::size_t a, std::size_t b, const char* what) {
    std::size_t out = 0;
    if (!mul_fits(a, b, out))
        detail::fail(errc::out_of_range, std::string(what) + ": " + detail::to_string(a) + " × " +
                                             detail::to_string(b) + " overflows the size type");
    return out;
}

/// a · b · c, checked as checked_mul.
inline std::size_t checked_mul(std::size_t a, std::size_t b, std::size_t c, const char* what) {
    return checked_mul(checked_mul(a, b, what), c, what);
}

/// a + b; throws sqllm::error(out_of_range) naming `what` if it overflows size_t.
inline std::size_t checked_add(std::size_t a, std::size_t b, const char* what) {
    std::size_t out = 0;
    if (!add_fits(a, b, out))
        detail::fail(errc::out_of_range, std::string(what) + ": " + detail::to_string(a) + " + " +
                                             detail::to_string(b) + " overflows the size type");
    return out;
}

/// True if the integer `v` is representable in To (no wrap, no sign change).
template <class To, class From>
constexpr bool fits_in(From v) noexcept {
    static_assert(std::is_integral<To>::value && std::is_integral<From>::value, "fits_in is for integers");
    using L = std::numeric_limits<To>;
    if (std::is_signed<From>::value && v < 0) {
        if (!std::is_signed<To>::value) return false;
        return static_cast<long long>(v) >= static_cast<long long>(L::min());
    }
    return static_cast<unsigned long long>(v) <= static_cast<unsigned long long>(L::max());
}

/// `v` converted to the integer type To; throws sqllm::error(out_of_range)
/// naming `what` and the value as it was (not as it would wrap) if To
/// cannot hold it.
template <class To, class From>
To checked_narrow(From v, const char* what) {
    if (!fits_in<To>(v)) {
        detail::fail(errc::out_of_range, std::string(what) + " " + detail::to_string(v) + " does not fit the " +
                                             detail::to_string(sizeof(To) * 8) + "-bit " +
                                             (std::is_signed<To>::value ? "signed" : "unsigned") + " index type");
    }
    return static_cast<To>(v);
}

SQLLM_NAMESPACE_END
