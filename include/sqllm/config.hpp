// sqllm/config.hpp — version, portability macros, and the ABI namespace that
// keeps translation units built with different -m flags apart.
#pragma once

#define SQLLM_VERSION_MAJOR 0
#define SQLLM_VERSION_MINOR 1
#define SQLLM_VERSION_PATCH 0
#define SQLLM_VERSION_STRING "0.1.0"

// One source for host and device code (the CuTe convention): functions marked
// SQLLM_HOST_DEVICE may be called from CUDA kernels when compiled by nvcc.
#if defined(__CUDACC__)
#define SQLLM_HOST_DEVICE __host__ __device__
#else
#define SQLLM_HOST_DEVICE
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SQLLM_LIKELY(x) __builtin_expect(!!(x), 1)
#define SQLLM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define SQLLM_LIKELY(x) (x)
#define SQLLM_UNLIKELY(x) (x)
#endif

// Forces inlining of small helpers into hot loops (GCC at -O2 otherwise may
// keep them out of line there).
#if defined(__GNUC__) || defined(__clang__)
#define SQLLM_FORCE_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define SQLLM_FORCE_INLINE __forceinline
#else
#define SQLLM_FORCE_INLINE inline
#endif

// Unrolls the next loop completely (its trip count a compile-time constant):
// a register tile, an array of vectors indexed by loop counters, stays in
// registers only once every index is a constant. GCC does that at -O3 but
// not at -O2, where the batched tile ran ~3× slower through memory.
#if defined(__clang__)
#define SQLLM_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define SQLLM_UNROLL _Pragma("GCC unroll 32")
#else
#define SQLLM_UNROLL
#endif

// Keeps a function out of line: the entry points of a target's kernels are
// called once per task, and inlining them into every caller only multiplies
// code (the scalar target, compiled without a region, would be inlined).
#if defined(__GNUC__) || defined(__clang__)
#define SQLLM_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define SQLLM_NOINLINE __declspec(noinline)
#else
#define SQLLM_NOINLINE
#endif

// ---- The ABI namespace (docs/DESIGN.md §9: ODR and -m flags) ---------------
//
// sqllm is header-only, so every function it defines is compiled into each
// translation unit that uses it, with that unit's flags, and the linker keeps
// one copy of each inline function. An engine that builds one file with
// -mavx2 and another without would otherwise get a binary whose portable
// code may be the AVX copy (SIGILL on a CPU without AVX). So everything sqllm
// defines, but for the exception type, lives in an inline namespace named
// after the instruction-set features the compiler was told to assume: units
// built with different -m flags define different symbols, and a sqllm type
// passed between two such units is a link error rather than a silent
// mismatch. Code written for sqllm spells it sqllm::name as usual.
//
// Every feature that lets the compiler emit instructions outside the x86-64
// or AArch64 baseline adds a token; -ffast-math (which changes what sqllm's
// validation means) and SQLLM_NO_DISPATCH (which changes which kernels exist)
// add one too.
#define SQLLM_PP_CAT_(a, b) a##b
#define SQLLM_PP_CAT(a, b) SQLLM_PP_CAT_(a, b)

#if defined(__SSE3__)
#define SQLLM_ABI_F01 _sse3
#else
#define SQLLM_ABI_F01
#endif
#if defined(__SSSE3__)
#define SQLLM_ABI_F02 _ssse3
#else
#define SQLLM_ABI_F02
#endif
#if defined(__SSE4_1__)
#define SQLLM_ABI_F03 _sse41
#else
#define SQLLM_ABI_F03
#endif
#if defined(__SSE4_2__)
#define SQLLM_ABI_F04 _sse42
#else
#define SQLLM_ABI_F04
#endif
#if defined(__AVX__)
#define SQLLM_ABI_F05 _avx
#else
#define SQLLM_ABI_F05
#endif
#if defined(__AVX2__)
#define SQLLM_ABI_F06 _avx2
#else
#define SQLLM_ABI_F06
#endif
#if defined(__FMA__)
#define SQLLM_ABI_F07 _fma
#else
#define SQLLM_ABI_F07
#endif
#if defined(__F16C__)
#define SQLLM_ABI_F08 _f16c
#else
#define SQLLM_ABI_F08
#endif
#if defined(__BMI2__)
#define SQLLM_ABI_F09 _bmi2
#else
#define SQLLM_ABI_F09
#endif
#if defined(__AVX512F__)
#define SQLLM_ABI_F10 _avx512f
#else
#define SQLLM_ABI_F10
#endif
#if defined(__AVX512BW__)
#define SQLLM_ABI_F11 _bw
#else
#define SQLLM_ABI_F11
#endif
#if defined(__AVX512DQ__)
#define SQLLM_ABI_F12 _dq
#else
#define SQLLM_ABI_F12
#endif
#if defined(__AVX512VL__)
#define SQLLM_ABI_F13 _vl
#else
#define SQLLM_ABI_F13
#endif
#if defined(__AVX512VBMI__)
#define SQLLM_ABI_F14 _vbmi
#else
#define SQLLM_ABI_F14
#endif
#if defined(__AVX512VNNI__) || defined(__AVXVNNI__)
#define SQLLM_ABI_F15 _vnni
#else
#define SQLLM_ABI_F15
#endif
#if defined(__AVX512BF16__) || defined(__AVX512FP16__)
#define SQLLM_ABI_F16 _fp16
#else
#define SQLLM_ABI_F16
#endif
#if defined(__ARM_FEATURE_SVE)
#define SQLLM_ABI_F17 _sve
#else
#define SQLLM_ABI_F17
#endif
#if defined(__ARM_FEATURE_DOTPROD) || defined(__ARM_FEATURE_MATMUL_INT8)
#define SQLLM_ABI_F18 _dotprod
#else
#define SQLLM_ABI_F18
#endif
#if defined(__ARM_FEATURE_FP16_VECTOR_ARITHMETIC) || defined(__ARM_FEATURE_BF16)
#define SQLLM_ABI_F19 _armfp16
#else
#define SQLLM_ABI_F19
#endif
#if defined(__FAST_MATH__)
#define SQLLM_ABI_F20 _fastmath
#else
#define SQLLM_ABI_F20
#endif
#if defined(SQLLM_NO_DISPATCH)
#define SQLLM_ABI_F21 _nodispatch
#else
#define SQLLM_ABI_F21
#endif

#define SQLLM_ABI_FEATURES_A                                                                                         \
    SQLLM_PP_CAT(                                                                                                    \
        SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_ABI_F01, SQLLM_ABI_F02), \
                                                                         SQLLM_ABI_F03),                             \
                                                            SQLLM_ABI_F04),                                          \
                                               SQLLM_ABI_F05),                                                       \
                                  SQLLM_ABI_F06),                                                                    \
                     SQLLM_ABI_F07),                                                                                 \
        SQLLM_ABI_F08)
#define SQLLM_ABI_FEATURES_B                                                                                         \
    SQLLM_PP_CAT(                                                                                                    \
        SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_ABI_F09, SQLLM_ABI_F10), \
                                                                         SQLLM_ABI_F11),                             \
                                                            SQLLM_ABI_F12),                                          \
                                               SQLLM_ABI_F13),                                                       \
                                  SQLLM_ABI_F14),                                                                    \
                     SQLLM_ABI_F15),                                                                                 \
        SQLLM_ABI_F16)
#define SQLLM_ABI_FEATURES_C                                                                                           \
    SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_ABI_F17, SQLLM_ABI_F18), SQLLM_ABI_F19), SQLLM_ABI_F20), \
                 SQLLM_ABI_F21)

/// The inline namespace of this translation unit, e.g. abi_v0_1 for a plain
/// x86-64 build, abi_v0_1_sse3_..._avx2_fma_f16c_bmi2 for -march=haswell.
#define SQLLM_ABI \
    SQLLM_PP_CAT(SQLLM_PP_CAT(SQLLM_PP_CAT(abi_v0_1, SQLLM_ABI_FEATURES_A), SQLLM_ABI_FEATURES_B), SQLLM_ABI_FEATURES_C)

/// Opens and closes sqllm's namespace in every header: `sqllm::` plus the
/// inline ABI namespace above.
#define SQLLM_NAMESPACE_BEGIN \
    namespace sqllm {         \
    inline namespace SQLLM_ABI {
#define SQLLM_NAMESPACE_END \
    }                       \
    }

/// The ABI namespace's name as a string (tests print and compare it).
#define SQLLM_ABI_STRING_(x) #x
#define SQLLM_ABI_STRING_X(x) SQLLM_ABI_STRING_(x)
#define SQLLM_ABI_STRING SQLLM_ABI_STRING_X(SQLLM_ABI)
