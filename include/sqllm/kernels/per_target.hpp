// sqllm/kernels/per_target.hpp — the drivers of kernels/driver/, compiled once
// per target this build compiles, and impl_of<Tag>: a target's entry points.
//
// For each target, its primitives header defines namespace sqllm::impl_<t>
// (inside the target's region, target/region.hpp); below, the same namespace
// and region are reopened and the drivers included, so each driver is
// compiled once per target with that target's primitives and instruction
// sets (the model of Highway's foreach_target). Drivers include nothing:
// what they use is included here first.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "../config.hpp"
#include "../core/bits.hpp"
#include "../core/span.hpp"
#include "../layout/striped.hpp"
#include "../target/region.hpp"
#include "../target/tags.hpp"
#include "../types/lut_value.hpp"
#include "argmin.hpp"
#include "row_blocks.hpp"
#include "driver/x_source.hpp"
#include "scalar/scalar.hpp"
#include "x86/avx2.hpp"
#include "x86/avx512.hpp"
#include "arm/neon.hpp"

// ---- scalar: every build ------------------------------------------------------------
SQLLM_NAMESPACE_BEGIN
namespace impl_scalar {
#include "driver/extract.inl"
#include "driver/all.inl"
}  // namespace impl_scalar
SQLLM_NAMESPACE_END

// ---- x86-64 ---------------------------------------------------------------------------
#if SQLLM_HAVE_X86_TARGETS
SQLLM_REGION_BEGIN_AVX2
SQLLM_NAMESPACE_BEGIN
namespace impl_avx2 {
#include "driver/extract.inl"
#include "driver/all.inl"
}  // namespace impl_avx2
SQLLM_NAMESPACE_END
SQLLM_REGION_END

SQLLM_REGION_BEGIN_AVX512
SQLLM_NAMESPACE_BEGIN
namespace impl_avx512 {
// extract: its own (x86/avx512.hpp)
#include "driver/all.inl"
}  // namespace impl_avx512
SQLLM_NAMESPACE_END
SQLLM_REGION_END
#endif

// ---- AArch64 ---------------------------------------------------------------------------
#if SQLLM_HAVE_NEON_TARGET
SQLLM_NAMESPACE_BEGIN
namespace impl_neon {
#include "driver/extract.inl"
#include "driver/all.inl"
}  // namespace impl_neon
SQLLM_NAMESPACE_END
#endif

SQLLM_NAMESPACE_BEGIN
namespace detail {

/// The entry points of a compiled target's kernels (driver/entry.inl).
template <class Tag>
struct impl_of;
template <>
struct impl_of<target::scalar> {
    using type = impl_scalar::entry;
};
#if SQLLM_HAVE_X86_TARGETS
template <>
struct impl_of<target::avx2> {
    using type = impl_avx2::entry;
};
template <>
struct impl_of<target::avx512> {
    using type = impl_avx512::entry;
};
#endif
#if SQLLM_HAVE_NEON_TARGET
template <>
struct impl_of<target::neon> {
    using type = impl_neon::entry;
};
#endif

}  // namespace detail
SQLLM_NAMESPACE_END
