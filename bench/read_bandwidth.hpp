// bench/read_bandwidth.hpp — the sequential read bandwidth the kernels'
// memory floor is computed from: a sum of n floats, split across the
// executor's tasks, with the widest loads the machine has.
#pragma once

#include <sqllm/sqllm.hpp>

#include <algorithm>
#include <cstddef>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define SQLLM_BENCH_AVX512 1
#else
#define SQLLM_BENCH_AVX512 0
#endif

namespace read_bandwidth {

#if SQLLM_BENCH_AVX512
/// Sum of p[0, n) read as `streams` contiguous parts in lockstep, two
/// vectors from each per step (8 accumulators at most).
__attribute__((target("avx512f"))) inline float sum_avx512(const float* p, std::size_t n, std::size_t streams) {
    constexpr std::size_t max_streams = 8, step = 32;  // floats per stream per step
    streams = std::max<std::size_t>(1, std::min(streams, max_streams));
    const std::size_t part = n / streams / step * step;
    __m512 a[2 * max_streams];
    for (auto& v : a) v = _mm512_setzero_ps();
    for (std::size_t i = 0; i < part; i += step)
        for (std::size_t s = 0; s < streams; ++s) {
            const float* q = p + s * part + i;
            a[2 * s] = _mm512_add_ps(a[2 * s], _mm512_loadu_ps(q));
            a[2 * s + 1] = _mm512_add_ps(a[2 * s + 1], _mm512_loadu_ps(q + 16));
        }
    __m512 t = _mm512_setzero_ps();
    for (auto& v : a) t = _mm512_add_ps(t, v);
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, t);
    float s = 0;
    for (float v : lanes) s += v;
    for (std::size_t i = streams * part; i < n; ++i) s += p[i];
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

/// Streams each task reads in lockstep: one stream per core left a fifth of
/// the bandwidth unused on issue 15's 2-core Xeon VM (19.3 GB/s; 2, 4, 8
/// streams: 23.2, 24.1, 24.3), and ggml's f32 GEMV, reading several rows at
/// once, beat the probe there and on Zen 5: more streams keep more lines in
/// flight (the hardware prefetchers stop at 4 KiB pages).
constexpr std::size_t default_streams = 4;

inline float sum(const float* p, std::size_t n, std::size_t streams = default_streams) {
#if SQLLM_BENCH_AVX512
    if (sqllm::target_supported(sqllm::target_id::avx512)) return sum_avx512(p, n, streams);
#else
    (void)streams;
#endif
    return sum_portable(p, n);
}

/// Sum of p[0, n) read once, split across the executor's tasks.
template <class Executor>
float read_all(const float* p, std::size_t n, const Executor& exec, float* partial,
               std::size_t streams = default_streams) {
    const std::size_t tasks = exec.concurrency();
    sqllm::parallel_tasks(exec, n, tasks,
                          [&](std::size_t t, std::size_t b, std::size_t e) { partial[t] = sum(p + b, e - b, streams); });
    float s = 0;
    for (std::size_t t = 0; t < tasks; ++t) s += partial[t];
    return s;
}

}  // namespace read_bandwidth
