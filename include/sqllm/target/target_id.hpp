// sqllm/target/target_id.hpp — the names of the kernel targets, for code
// that chooses or reports one without compiling any (target/tags.hpp has the
// tag types the kernels are compiled for).
#pragma once

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN

enum class target_id : unsigned char {
    scalar,  ///< portable C++
    avx2,    ///< x86-64 AVX2 + FMA + F16C + BMI2
    avx512,  ///< x86-64 AVX-512 F/BW/DQ/VL + VBMI + VNNI (VNNI: the int8 path's vpdpbusd)
    neon,    ///< AArch64 Advanced SIMD
};

/// Every target sqllm knows, on any platform (tests and benchmarks iterate
/// over it; target_supported says which this build and CPU run).
constexpr target_id all_targets[] = {target_id::scalar, target_id::avx2, target_id::avx512, target_id::neon};

/// "scalar", "avx2", "avx512" or "neon".
constexpr const char* to_string(target_id t) noexcept {
    return t == target_id::avx2 ? "avx2" : t == target_id::avx512 ? "avx512" : t == target_id::neon ? "neon" : "scalar";
}

SQLLM_NAMESPACE_END
