// bench/read_bandwidth.hpp — the sequential read bandwidth the kernels'
// memory floor is computed from: a sum of n floats, split across the
// executor's tasks, with the widest loads the machine has.
#pragma once

#include <sqllm/sqllm.hpp>

#include <cstddef>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define SQLLM_BENCH_AVX512 1
#else
#define SQLLM_BENCH_AVX512 0
#endif

namespace read_bandwidth {

#if SQLLM_BENCH_AVX512
__attribute__((target("avx512f"))) inline float sum_avx512(const float* p, std::size_t n) {
    __m512 a[8];
    for (auto& v : a) v = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 128 <= n; i += 128)
        for (int k = 0; k < 8; ++k) a[k] = _mm512_add_ps(a[k], _mm512_loadu_ps(p + i + 16 * k));
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3])),
                                         _mm512_add_ps(_mm512_add_ps(a[4], a[5]), _mm512_add_ps(a[6], a[7]))));
    float s = 0;
    for (float v : lanes) s += v;
    for (; i < n; ++i) s += p[i];
    return s;
}
#endif

/// Eight independent partial sums: the compiler vectorises this with the
/// unit's own flags (the fallback where AVX-512 is absent).
inline float sum_portable(const float* p, std::size_t n) {
    float a[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) a[k] += p[i + static_cast<std::size_t>(k)];
    float s = 0;
    for (float v : a) s += v;
    for (; i < n; ++i) s += p[i];
    return s;
}

inline float sum(const float* p, std::size_t n) {
#if SQLLM_BENCH_AVX512
    if (sqllm::target_supported(sqllm::target_id::avx512)) return sum_avx512(p, n);
#endif
    return sum_portable(p, n);
}

/// Sum of p[0, n) read once, split across the executor's tasks.
template <class Executor>
float read_all(const float* p, std::size_t n, const Executor& exec, float* partial) {
    const std::size_t tasks = exec.concurrency();
    sqllm::parallel_tasks(exec, n, tasks, [&](std::size_t t, std::size_t b, std::size_t e) { partial[t] = sum(p + b, e - b); });
    float s = 0;
    for (std::size_t t = 0; t < tasks; ++t) s += partial[t];
    return s;
}

}  // namespace read_bandwidth
