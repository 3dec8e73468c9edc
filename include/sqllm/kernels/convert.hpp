// sqllm/kernels/convert.hpp — activations and outputs converted between
// fp16 and fp32 with the CPU's own instructions.
//
// A multiply with fp16 activations converts x (cols values) before its
// kernels and y (rows values) after them. In portable C++ (half.hpp) that is
// ~2 ns a value, ~2 % of a 4096 × 4096 4-bit gemv; F16C (every AVX2 CPU) and
// AArch64's FCVT convert 8 or 4 values an instruction. Both round to nearest
// even and handle subnormals and infinities as half.hpp does, so the result
// is the same bits on every target, but that a signalling NaN comes out
// quieted (tests/test_activations.cpp checks every fp16 value and a sweep of
// floats against half.hpp). bf16 converts by shifts, which the compiler
// vectorizes from the portable loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../config.hpp"
#include "../target/cpu.hpp"
#include "../target/region.hpp"
#include "../types/half.hpp"
#include "../types/scalar_type.hpp"

#if SQLLM_HAVE_X86_TARGETS
#include <immintrin.h>
#endif
#if SQLLM_HAVE_NEON_TARGET
#include <arm_neon.h>
#endif

#if SQLLM_HAVE_X86_TARGETS
SQLLM_REGION_BEGIN_AVX2
SQLLM_NAMESPACE_BEGIN
namespace detail {
inline void f16_to_f32_f16c(const half* s, float* d, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
    for (; i < n; ++i) d[i] = s[i].to_float();
}
inline void f32_to_f16_f16c(const float* s, half* d, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; ++i) d[i] = half(s[i]);
}
}  // namespace detail
SQLLM_NAMESPACE_END
SQLLM_REGION_END
#endif

SQLLM_NAMESPACE_BEGIN
namespace detail {

#if SQLLM_HAVE_NEON_TARGET
inline void f16_to_f32_neon(const half* s, float* d, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        std::uint16_t b[4];
        std::memcpy(b, s + i, sizeof b);
        vst1q_f32(d + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(b))));
    }
    for (; i < n; ++i) d[i] = s[i].to_float();
}
inline void f32_to_f16_neon(const float* s, half* d, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        std::uint16_t b[4];
        vst1_u16(b, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(s + i))));
        std::memcpy(d + i, b, sizeof b);
    }
    for (; i < n; ++i) d[i] = half(s[i]);
}
#endif

/// dst[i] = src[i] converted, i < n: convert_array's result, with the
/// conversion instructions of target t where it has them.
template <class From, class To>
void convert_on(target_id t, const From* src, To* dst, std::size_t n) noexcept {
#if SQLLM_HAVE_X86_TARGETS
    if (t == target_id::avx2 || t == target_id::avx512) {
        if constexpr (std::is_same<From, half>::value && std::is_same<To, float>::value)
            return f16_to_f32_f16c(src, dst, n);
        if constexpr (std::is_same<From, float>::value && std::is_same<To, half>::value)
            return f32_to_f16_f16c(src, dst, n);
    }
#endif
#if SQLLM_HAVE_NEON_TARGET
    if (t == target_id::neon) {
        if constexpr (std::is_same<From, half>::value && std::is_same<To, float>::value)
            return f16_to_f32_neon(src, dst, n);
        if constexpr (std::is_same<From, float>::value && std::is_same<To, half>::value)
            return f32_to_f16_neon(src, dst, n);
    }
#endif
    (void)t;
    convert_array(src, dst, n);
}

}  // namespace detail
SQLLM_NAMESPACE_END
