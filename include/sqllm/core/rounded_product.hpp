// sqllm/core/rounded_product.hpp — products that are rounded on their own,
// never fused with an addition into an FMA.
//
// Whether a·b + c becomes one fused multiply-add depends on the compiler and
// its flags (GCC contracts by default where the target has FMA, i.e. always
// on AArch64 and with -mfma on x86; Clang with -ffp-contract=fast; pragmas
// do not stop Clang's "fast"). quantize() promises the same bytes whatever
// the consumer's compiler and flags, so every product in the quantizer that
// feeds a sum goes through product(): an empty asm statement makes the
// rounded product opaque, so it cannot be fused, and costs no instruction.
#pragma once

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN
namespace detail {

/// v itself, but the optimiser cannot see how it was computed.
template <class T>
SQLLM_FORCE_INLINE T rounded(T v) noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    __asm__("" : "+x"(v));
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__("" : "+w"(v));
#else
    volatile T keep = v;  // slower, but just as opaque
    v = keep;
#endif
    return v;
}

/// a·b rounded to T: the product is never fused into an FMA.
template <class T>
SQLLM_FORCE_INLINE T product(T a, T b) noexcept {
    return rounded(a * b);
}

}  // namespace detail
SQLLM_NAMESPACE_END
