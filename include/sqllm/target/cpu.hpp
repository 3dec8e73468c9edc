// sqllm/target/cpu.hpp — which targets this CPU runs.
//
// Detected on first use (cpuid through the compiler's builtins, which also
// check that the OS saves the wider registers) and cached: the answer cannot
// change while the process runs, so this is a constant, not mutable state.
#pragma once

#include "../config.hpp"
#include "region.hpp"
#include "tags.hpp"

SQLLM_NAMESPACE_BEGIN

/// True if this build compiles code for target `t` (x86 targets need GCC or
/// Clang on x86-64 without SQLLM_NO_DISPATCH; NEON needs AArch64).
constexpr bool target_compiled(target_id t) noexcept {
    return t == target_id::scalar ||
           ((t == target_id::avx2 || t == target_id::avx512) && SQLLM_HAVE_X86_TARGETS == 1) ||
           (t == target_id::neon && SQLLM_HAVE_NEON_TARGET == 1);
}

namespace detail {

struct cpu_targets {
    bool avx2 = false, avx512 = false;
};

inline cpu_targets detect_cpu() noexcept {
    cpu_targets c;
#if SQLLM_HAVE_X86_TARGETS
    __builtin_cpu_init();  // safe before static constructors have run
    // F16C is not queried (Clang 14 cannot): every AVX2 CPU has it. VNNI
    // (the int8 path's vpdpbusd) comes with VBMI on every CPU but Cannon
    // Lake (one 2018 laptop chip), which then runs the avx2 target.
    c.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
    c.avx512 = c.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vnni");
#endif
    return c;
}

}  // namespace detail

/// True if this build compiles target `t` and this CPU can run it.
inline bool target_supported(target_id t) noexcept {
    if (!target_compiled(t)) return false;
    if (t == target_id::scalar || t == target_id::neon) return true;  // NEON is baseline AArch64
    static const detail::cpu_targets cpu = detail::detect_cpu();
    return t == target_id::avx512 ? cpu.avx512 : cpu.avx2;
}

/// The most capable target this build compiles and this CPU runs.
inline target_id best_target() noexcept {
    if (target_supported(target_id::avx512)) return target_id::avx512;
    if (target_supported(target_id::avx2)) return target_id::avx2;
    if (target_supported(target_id::neon)) return target_id::neon;
    return target_id::scalar;
}

SQLLM_NAMESPACE_END
