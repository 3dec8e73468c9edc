// sqllm/core/executor_ref.hpp — a type-erased reference to any executor.
//
// A function template instantiated per executor type is fine for header-only
// callers, but code that is compiled once — a layer whose types are chosen at
// run time, a compiled library, a C API — wants one executor type. It takes an
// executor_ref: a non-owning view of any executor (executor.hpp's protocol)
// that is itself an executor, so its kernels are instantiated once, for
// executor_ref, and still run on whatever executor the caller passed.
//
// Cost: one indirect call per bulk(), and one indirect call per task (the
// task crosses the type erasure as a function pointer plus an object
// pointer). Tasks are coarse (a block of rows), so neither shows.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>

#include "../config.hpp"
#include "executor.hpp"

SQLLM_NAMESPACE_BEGIN

/// A non-owning, type-erased reference to any executor (two pointers). It is an executor itself,
/// so code that is compiled once (a run-time-typed layer, a compiled library) takes executor_ref
/// and instantiates its kernels for it only once. The referenced executor must outlive it.
///
/// A default-constructed executor_ref runs every task inline on the calling thread, in order
/// (as sequential_executor does), so `executor_ref exec = {}` is a convenient default argument.
/// Exceptions thrown by tasks propagate through it unchanged, as the referenced executor
/// reports them (executor.hpp: the first one, after no task is running any more).
class executor_ref {
public:
    /// Runs tasks inline and sequentially; concurrency() is 1.
    executor_ref() noexcept = default;

    template <class Executor, class = std::enable_if_t<!std::is_same<std::decay_t<Executor>, executor_ref>::value>>
    executor_ref(const Executor& e) noexcept  // implicit on purpose
        : exec_(static_cast<const void*>(std::addressof(e))), ops_(&ops_for<Executor>::table) {}

    std::size_t concurrency() const noexcept { return ops_ ? ops_->concurrency(exec_) : 1; }

    /// Calls f(i) for i in [0, n) through the referenced executor's bulk (one function pointer).
    template <class F>
    void bulk(std::size_t n, F&& f) const {
        if (!ops_) {
            for (std::size_t i = 0; i < n; ++i)
                f(i);
            return;
        }
        ops_->bulk(exec_, n, &detail::call_task<std::remove_reference_t<F>>,
                   const_cast<void*>(static_cast<const void*>(std::addressof(f))));
    }

private:
    using task_fn = detail::bulk_state::task_fn;

    struct ops {
        std::size_t (*concurrency)(const void*) noexcept;
        void (*bulk)(const void*, std::size_t, task_fn, void*);
    };

    template <class Executor>
    struct ops_for {
        static std::size_t concurrency(const void* e) noexcept {
            return static_cast<const Executor*>(e)->concurrency();
        }
        static void bulk(const void* e, std::size_t n, task_fn call, void* fn) {
            static_cast<const Executor*>(e)->bulk(n, [call, fn](std::size_t i) { call(fn, i); });
        }
        static constexpr ops table{&ops_for::concurrency, &ops_for::bulk};
    };

    const void* exec_ = nullptr;
    const ops* ops_ = nullptr;  // null: run inline, sequentially
};

SQLLM_NAMESPACE_END
