// sqllm/core/openmp_executor.hpp — sqllm's parallel loops on OpenMP threads.
//
// For engines that already run on OpenMP (llama.cpp-style): bulk() is one
// `omp parallel for` over the tasks, so sqllm's work shares the engine's
// OpenMP thread team instead of competing with it. Include it in units built
// with OpenMP (-fopenmp, /openmp; CMake: OpenMP::OpenMP_CXX). Built without
// OpenMP (_OPENMP undefined) this header declares nothing, so it can be
// included unconditionally and tested for with `#ifdef _OPENMP`.
#pragma once

#include "../config.hpp"

#if defined(_OPENMP)

#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "executor.hpp"

SQLLM_NAMESPACE_BEGIN

/// Runs bulk() as `#pragma omp parallel for schedule(dynamic)`: as many
/// threads as OpenMP gives a parallel region at the call (omp_get_max_threads(),
/// i.e. OMP_NUM_THREADS or omp_set_num_threads; 1 inside an outer parallel
/// region unless nesting is enabled), tasks handed out one at a time.
/// Exceptions as executor.hpp says: none escapes the parallel region; tasks
/// not yet started are skipped, and bulk() rethrows the first one after the
/// region's closing barrier.
class openmp_executor {
public:
    std::size_t concurrency() const noexcept { return static_cast<std::size_t>(std::max(1, omp_get_max_threads())); }

    template <class F>
    void bulk(std::size_t n, F&& f) const {
        if (n == 0) return;
        run(n, &detail::call_task<std::remove_reference_t<F>>,
            const_cast<void*>(static_cast<const void*>(std::addressof(f))));
    }

private:
    // Once per program, not per task type: the OpenMP outlined region lives here.
    static void run(std::size_t n, detail::bulk_state::task_fn call, void* fn) {
        detail::bulk_state state;  // only its first-exception part: OpenMP hands out the indices
        const auto count = static_cast<std::int64_t>(n);
#pragma omp parallel for schedule(dynamic)
        for (std::int64_t i = 0; i < count; ++i) {
            if (state.failed.load(std::memory_order_relaxed)) continue;
            try {
                call(fn, static_cast<std::size_t>(i));
            } catch (...) {
                state.record_current_exception();
            }
        }
        state.rethrow_if_failed();
    }
};

SQLLM_NAMESPACE_END

#endif  // _OPENMP: without OpenMP, nothing is declared
