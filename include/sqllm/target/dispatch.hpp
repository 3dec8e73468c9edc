// sqllm/target/dispatch.hpp — the one place where a target is chosen.
//
// A kernel set (the LUT kernels of one layout, the dense fp32 kernels, the
// quantizer's argmin scan) says which targets it has code for through
//     static constexpr bool has(target_id);
// choose_target<Set>() walks the fallback chain of target/tags.hpp from the
// most capable target this build compiles (avx512 -> avx2 -> scalar on
// x86-64, neon -> scalar on AArch64) and returns the first one the CPU runs
// and the set has; scalar ends every chain. require_target<Set>(t) is the
// forced form: a target the build lacks, the CPU cannot run, or the set has
// no code for is an error, never a silent fallback. with_target(t, f) then
// calls f with t's tag, so the kernels themselves are plain overloads or
// specialisations on tags.
#pragma once

#include <string>

#include "../config.hpp"
#include "../error.hpp"
#include "cpu.hpp"
#include "tags.hpp"

SQLLM_NAMESPACE_BEGIN

namespace detail {

#if SQLLM_HAVE_X86_TARGETS
using top_target = target::avx512;
#elif SQLLM_HAVE_NEON_TARGET
using top_target = target::neon;
#else
using top_target = target::scalar;
#endif

template <class Set, class Tag>
target_id choose_along(Tag) noexcept {
    if (target_supported(Tag::id) && Set::has(Tag::id)) return Tag::id;
    if constexpr (std::is_void<typename Tag::fallback>::value)
        return target_id::scalar;
    else
        return choose_along<Set>(typename Tag::fallback{});
}

}  // namespace detail

/// The target a kernel of `Set` runs on by default: the first target along
/// the fallback chain that this CPU runs and the set has code for.
template <class Set>
target_id choose_target() noexcept {
    return detail::choose_along<Set>(detail::top_target{});
}

/// Checks that a forced target can run kernels of `Set`: the build compiles
/// it, the CPU runs it, and the set has code for it. Throws
/// sqllm::error(invalid_argument) naming `what` otherwise.
template <class Set>
target_id require_target(target_id t, const char* what) {
    if (!target_compiled(t))
        detail::fail(errc::invalid_argument, std::string("this build has no ") + to_string(t) + " target (" + what + ")");
    if (!target_supported(t))
        detail::fail(errc::invalid_argument, std::string("this CPU cannot run the ") + to_string(t) + " target (" +
                                                 what + ")");
    if (!Set::has(t))
        detail::fail(errc::invalid_argument, std::string("no ") + to_string(t) + " kernel for " + what);
    return t;
}

/// Calls f(Tag{}) with the tag of a compiled target t and returns its result.
template <class F>
decltype(auto) with_target(target_id t, F&& f) {
    switch (t) {
#if SQLLM_HAVE_X86_TARGETS
        case target_id::avx512:
            return f(target::avx512{});
        case target_id::avx2:
            return f(target::avx2{});
#endif
#if SQLLM_HAVE_NEON_TARGET
        case target_id::neon:
            return f(target::neon{});
#endif
        default:
            return f(target::scalar{});
    }
}

SQLLM_NAMESPACE_END
