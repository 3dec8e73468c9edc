// sqllm/arch/cpu.hpp — which instruction sets this CPU can run, and how sqllm
// compiles code for them without -m flags.
//
// One binary must run on AVX2-only and AVX-512 machines, and a header-only
// library cannot ask its users for per-file compiler flags. So hot loops are
// written once per instruction set inside functions carrying a target
// attribute (GCC and Clang on x86-64), and the caller picks one at run time
// from cpu_features. Everywhere else (other compilers or CPUs) the macros
// below are empty, SQLLM_X86_DISPATCH is 0, and only the portable paths exist.
#pragma once

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(_M_X64)) && \
    !defined(SQLLM_NO_DISPATCH) && !defined(__CUDACC__)
#define SQLLM_X86_DISPATCH 1
// Every flag a path needs, so that intrinsics inline into it.
#define SQLLM_TARGET_AVX2 __attribute__((target("avx2,fma,bmi2,f16c")))
#define SQLLM_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx2,fma,bmi2,f16c")))
#else
#define SQLLM_X86_DISPATCH 0
#define SQLLM_TARGET_AVX2
#define SQLLM_TARGET_AVX512
#endif

namespace sqllm {

/// Instruction-set levels sqllm has code paths for, lowest first.
enum class isa {
    scalar,  ///< portable C++ (whatever the compiler flags allow)
    avx2,    ///< AVX2 + FMA (+ F16C, BMI2): Haswell / Zen and later
    avx512,  ///< AVX-512 F/BW/VL/DQ + VBMI: Ice Lake, Sapphire Rapids, Zen 4 (Skylake-SP runs avx2)
};

/// Human-readable name of an isa ("scalar", "avx2", "avx512").
constexpr const char* isa_name(isa i) noexcept {
    return i == isa::avx512 ? "avx512" : i == isa::avx2 ? "avx2" : "scalar";
}

/// The best isa this CPU supports among those compiled in. Detected on first
/// use (cpuid through the compiler's builtins) and cached: the answer cannot
/// change while the process runs, so this is a constant, not mutable state.
inline isa best_isa() noexcept {
#if SQLLM_X86_DISPATCH
    static const isa detected = [] {
        __builtin_cpu_init();  // safe before static constructors have run
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx2") &&
            __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
            return isa::avx512;
        // F16C is not queried (Clang 14 cannot): every AVX2 CPU has it.
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
            return isa::avx2;
        return isa::scalar;
    }();
    return detected;
#else
    return isa::scalar;
#endif
}

/// True if code for `i` exists in this build and this CPU can run it.
inline bool isa_supported(isa i) noexcept { return static_cast<int>(i) <= static_cast<int>(best_isa()); }

}  // namespace sqllm
