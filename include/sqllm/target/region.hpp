// sqllm/target/region.hpp — which targets this translation unit compiles,
// and how code is compiled for a target without -m flags.
//
// A header-only library cannot ask for per-file compiler flags, so the code
// of each x86 target is compiled inside a region that gives every function
// defined there the target's instruction sets (GCC: #pragma GCC target,
// Clang: #pragma clang attribute), the way Highway does. Such functions run
// only after target/cpu.hpp has confirmed the CPU supports the target.
// xsimd::batch<T, avx2> is not usable there: xsimd defines it only when the
// whole unit is compiled with -mavx2 (XSIMD_WITH_AVX2 comes from __AVX2__),
// so the x86 primitives (kernels/x86/) use intrinsics. NEON is part of the
// AArch64 baseline: its code needs no region and computes with
// xsimd::batch<T, xsimd::neon64> (kernels/arm/neon.hpp).
//
// SQLLM_NO_DISPATCH (defined by the consumer) compiles no x86 region: only
// the scalar target, plus NEON on AArch64.
#pragma once

#include "../config.hpp"

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(_M_X64)) && \
    !defined(SQLLM_NO_DISPATCH) && !defined(__CUDACC__)
#define SQLLM_HAVE_X86_TARGETS 1
#else
#define SQLLM_HAVE_X86_TARGETS 0
#endif

#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(__CUDACC__)
#define SQLLM_HAVE_NEON_TARGET 1
#else
#define SQLLM_HAVE_NEON_TARGET 0
#endif

// Everything a target's code may use, so intrinsics inline into it.
#define SQLLM_AVX2_FEATURES "avx2,fma,f16c,bmi,bmi2"
#define SQLLM_AVX512_FEATURES "avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,avx512vnni,avx2,fma,f16c,bmi,bmi2"

#if SQLLM_HAVE_X86_TARGETS
#if defined(__clang__)
#define SQLLM_REGION_BEGIN_(features) \
    _Pragma(SQLLM_ABI_STRING_X(clang attribute push(__attribute__((target(features))), apply_to = function)))
#define SQLLM_REGION_END _Pragma("clang attribute pop")
#else
#define SQLLM_REGION_BEGIN_(features) _Pragma("GCC push_options") _Pragma(SQLLM_ABI_STRING_X(GCC target(features)))
#define SQLLM_REGION_END _Pragma("GCC pop_options")
#endif
/// Opens the region of the AVX2 target (close it with SQLLM_REGION_END).
#define SQLLM_REGION_BEGIN_AVX2 SQLLM_REGION_BEGIN_(SQLLM_AVX2_FEATURES)
/// Opens the region of the AVX-512 target.
#define SQLLM_REGION_BEGIN_AVX512 SQLLM_REGION_BEGIN_(SQLLM_AVX512_FEATURES)
#endif
