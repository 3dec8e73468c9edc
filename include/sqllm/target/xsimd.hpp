// sqllm/target/xsimd.hpp — xsimd, and the few names that differ between the
// xsimd versions sqllm supports (Debian's 8.1, vcpkg's and Conan's 13–14).
//
// Only this header knows the version differences:
//   root architecture   8.1–13: xsimd::generic      14: xsimd::common
//   horizontal sum      8.1: xsimd::hadd            9+: xsimd::reduce_add
//   bit cast            8.1–10: bitwise_cast<batch<To, A>>(x)   11+: bitwise_cast<To>(x)
#pragma once

#include <xsimd/xsimd.hpp>

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN
namespace xsimd_compat {

#if XSIMD_VERSION_MAJOR >= 14
using root_arch = xsimd::common;
#else
using root_arch = xsimd::generic;
#endif

/// Sum of the lanes of a batch.
template <class T, class A>
SQLLM_FORCE_INLINE T reduce_add(const xsimd::batch<T, A>& v) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::reduce_add(v);
#else
    return xsimd::hadd(v);
#endif
}

/// The bits of a batch reinterpreted as lanes of type To.
template <class To, class T, class A>
SQLLM_FORCE_INLINE xsimd::batch<To, A> bit_cast(const xsimd::batch<T, A>& v) noexcept {
#if XSIMD_VERSION_MAJOR >= 11
    return xsimd::bitwise_cast<To>(v);
#else
    return xsimd::bitwise_cast<xsimd::batch<To, A>>(v);
#endif
}

}  // namespace xsimd_compat
SQLLM_NAMESPACE_END
