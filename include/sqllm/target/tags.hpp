// sqllm/target/tags.hpp — the targets sqllm's kernels are written for, as
// types (the xsimd model: an architecture is a tag type, and inheritance is
// the fallback order).
//
// Each tag derives from the xsimd architecture it runs and from the sqllm
// tag it falls back to:
//
//     scalar  : xsimd root arch                  portable C++, every CPU
//     avx2    : scalar, xsimd::fma3<xsimd::avx2>   x86-64 with AVX2, FMA, F16C, BMI2 (Haswell, Zen 1+)
//     avx512  : avx2, xsimd::avx512bw              + AVX-512 F/BW/DQ/VL, VBMI and VNNI (Ice Lake,
//                                                  Sapphire Rapids, Zen 4+: every CPU with VBMI but
//                                                  Cannon Lake, which runs avx2); xsimd 8.1 has no
//                                                  VBMI tag, and its avx512f does not derive from
//                                                  avx2, hence ours
//     neon    : scalar, xsimd::neon64              AArch64 Advanced SIMD
//
// so an overload taking target::avx2 serves avx512 too, and one taking
// target::scalar serves every target. target/dispatch.hpp walks the same
// chain at run time (`fallback`). target_id names a target at run time.
#pragma once

#include <type_traits>

#include "../config.hpp"
#include "target_id.hpp"
#include "xsimd.hpp"

SQLLM_NAMESPACE_BEGIN

/// A target named at run time (printing, forcing a target from a setting).
namespace target {

struct scalar : xsimd_compat::root_arch {
    static constexpr target_id id = target_id::scalar;
    using fallback = void;  ///< the end of every chain
    static constexpr const char* name() noexcept { return "scalar"; }
};

struct avx2 : scalar, xsimd::fma3<xsimd::avx2> {
    static constexpr target_id id = target_id::avx2;
    using fallback = scalar;
    static constexpr const char* name() noexcept { return "avx2"; }
};

struct avx512 : avx2, xsimd::avx512bw {
    static constexpr target_id id = target_id::avx512;
    using fallback = avx2;
    static constexpr const char* name() noexcept { return "avx512"; }
};

struct neon : scalar, xsimd::neon64 {
    static constexpr target_id id = target_id::neon;
    using fallback = scalar;
    static constexpr const char* name() noexcept { return "neon"; }
};

}  // namespace target

/// True for sqllm's target tags.
template <class T>
struct is_target : std::integral_constant<bool, std::is_base_of<target::scalar, T>::value> {};

SQLLM_NAMESPACE_END
