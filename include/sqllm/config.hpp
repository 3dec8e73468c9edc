// sqllm/config.hpp — version and portability macros shared by every header.
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
