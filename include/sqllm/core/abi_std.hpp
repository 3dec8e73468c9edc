// sqllm/core/abi_std.hpp — standard-library helpers whose instantiations are
// named after the ABI namespace (config.hpp).
//
// The ABI namespace renames sqllm's own functions, but not the standard
// library's templates sqllm instantiates: std::sort<float*>,
// std::vector<double>::_M_fill_insert, std::to_string(unsigned long) are the
// same weak symbols in a unit built with -mavx2 and in one without, and the
// linker keeps one copy for both (SIGILL on a CPU without AVX if it keeps
// the AVX one). Passing a type of the ABI namespace as a template argument
// (a comparator, an allocator) gives each unit its own instantiation; plain
// functions (to_string) are defined here. Non-dispatched code uses these.
#pragma once

#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {

/// a < b, for std::sort, std::nth_element, std::lower_bound, ...
struct less {
    template <class A, class B>
    constexpr bool operator()(const A& a, const B& b) const {
        return a < b;
    }
};

/// a == b, for std::unique.
struct equal_to {
    template <class A, class B>
    constexpr bool operator()(const A& a, const B& b) const {
        return a == b;
    }
};

/// std::allocator under another name: std::vector<T, allocator<T>>'s members
/// are this unit's own.
template <class T>
struct allocator {
    using value_type = T;
    allocator() noexcept = default;
    template <class U>
    constexpr allocator(const allocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
    void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
};
template <class T, class U>
constexpr bool operator==(const allocator<T>&, const allocator<U>&) noexcept {
    return true;
}
template <class T, class U>
constexpr bool operator!=(const allocator<T>&, const allocator<U>&) noexcept {
    return false;
}

/// Scratch vectors of non-dispatched code.
template <class T>
using vector = std::vector<T, allocator<T>>;

/// Decimal text of an integer (std::to_string is one weak symbol for all units).
template <class T>
std::string to_string(T v) {
    static_assert(std::is_integral<T>::value, "detail::to_string takes integers");
    using U = std::make_unsigned_t<T>;
    char buf[24];
    char* p = buf + sizeof buf;
    bool negative = false;
    if constexpr (std::is_signed<T>::value) negative = v < T(0);  // (nvcc warns on unsigned < 0)
    U u = negative ? static_cast<U>(U(0) - static_cast<U>(v)) : static_cast<U>(v);
    do {
        *--p = static_cast<char>('0' + u % 10);
        u /= 10;
    } while (u);
    if (negative) *--p = '-';
    return std::string(p, static_cast<std::size_t>(buf + sizeof buf - p));
}

/// Shortest-enough text of a float for messages ("70000", "3.40282347e+38").
inline std::string float_text(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

}  // namespace detail
SQLLM_NAMESPACE_END
