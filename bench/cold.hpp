// bench/cold.hpp — evicts a buffer from every cache level, so that the next
// multiply reads its weights from DRAM: what a decode step sees, where each
// layer's weights were last touched a whole forward pass ago.
//
// Flushing the weights' own lines (clflushopt on x86-64, dc civac on
// AArch64) rather than rotating over copies keeps one copy per variant in
// memory, so that many variants (sqllm's and ggml's) can stay alive together
// and be timed interleaved in one process. Elsewhere, reading 1 GiB (more
// than any last-level cache) stands in.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace cold {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("clflushopt"))) inline void flush_lines(const void* p, std::size_t bytes) {
    // The intrinsic takes void* though it writes nothing.
    auto* c = static_cast<char*>(const_cast<void*>(p));
    for (std::size_t i = 0; i < bytes; i += 64) _mm_clflushopt(c + i);
    if (bytes) _mm_clflushopt(c + bytes - 1);
    _mm_mfence();
}
inline bool can_flush() { return __builtin_cpu_supports("clflushopt"); }
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
inline void flush_lines(const void* p, std::size_t bytes) {
    const auto* c = static_cast<const char*>(p);
    for (std::size_t i = 0; i < bytes; i += 64) asm volatile("dc civac, %0" ::"r"(c + i) : "memory");
    if (bytes) asm volatile("dc civac, %0" ::"r"(c + bytes - 1) : "memory");
    asm volatile("dsb ish" ::: "memory");
}
inline bool can_flush() { return true; }
#else
inline void flush_lines(const void*, std::size_t) {}
inline bool can_flush() { return false; }
#endif

/// Evicts [p, p + bytes) from the caches (or, without a flush instruction,
/// everything, by reading a large buffer).
inline void evict(const void* p, std::size_t bytes) {
    if (can_flush()) return flush_lines(p, bytes);
    static std::vector<std::uint64_t> big(std::size_t{1} << 27);  // 1 GiB
    static std::atomic<std::uint64_t> sink{0};  // keeps the reads
    std::uint64_t s = 0;
    for (std::size_t i = 0; i < big.size(); i += 8) s += big[i];  // a line apiece
    sink.fetch_add(s, std::memory_order_relaxed);
}

}  // namespace cold
