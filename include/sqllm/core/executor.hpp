// sqllm/core/executor.hpp — how sqllm runs parallel loops: through the caller.
//
// sqllm never starts threads on its own. Functions with parallel work take an
// executor: any object with
//     std::size_t concurrency() const;                     // tasks worth running at once
//     void bulk(std::size_t n, F&& f) const;               // calls f(i) for i in [0, n), returns when all are done
// so an engine can pass an adapter over its own thread pool. The library ships
// sequential_executor and thread_executor (here), thread_pool (a persistent
// pool, core/thread_pool.hpp), openmp_executor (core/openmp_executor.hpp,
// with -fopenmp) and executor_ref (a type-erased reference to any of them,
// core/executor_ref.hpp).
//
// Tasks may throw. Every executor the library ships then behaves alike:
// tasks already running finish, tasks not yet started may be skipped, and
// bulk() rethrows the first exception (first to be caught) to its caller
// once no task of the call is running any more; the executor stays usable.
// Nothing calls std::terminate because a task threw. An executor of your own
// should do the same: catch in each thread, remember the first exception,
// rethrow it from bulk() after the join. (sqllm validates inputs before it
// schedules work, so its own tasks throw only on running out of memory, or
// through a callback of yours, e.g. quantize_options::progress.)
//
// Adapting an engine's own pool takes a few lines; e.g. for a pool with
// size() and parallel_for(n, std::function<void(size_t)>) that runs every
// index before returning but lets exceptions escape its worker threads:
//
//     struct engine_executor {
//         engine::pool* pool;
//         std::size_t concurrency() const { return pool->size(); }
//         template <class F> void bulk(std::size_t n, F&& f) const {
//             std::mutex m;
//             std::exception_ptr first;
//             pool->parallel_for(n, [&](std::size_t i) {
//                 try { f(i); } catch (...) {
//                     std::lock_guard<std::mutex> lock(m);
//                     if (!first) first = std::current_exception();
//                 }
//             });
//             if (first) std::rethrow_exception(first);
//         }
//     };
//
// Write bulk as a template so the task is called directly (a std::function
// costs an indirect call per task, harmless for sqllm's coarse tasks).
// A pool whose parallel_for must not be entered from its own tasks should
// run nested calls inline, as thread_pool does: sqllm does not nest bulk
// calls itself, but a task of the engine's may call sqllm.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#include "../config.hpp"

SQLLM_NAMESPACE_BEGIN

/// Runs every task on the calling thread, in order. The default everywhere.
struct sequential_executor {
    std::size_t concurrency() const noexcept { return 1; }
    template <class F>
    void bulk(std::size_t n, F&& f) const {
        for (std::size_t i = 0; i < n; ++i)
            f(i);
    }
};

namespace detail {

/// One bulk() call's shared state for executors whose threads claim tasks
/// from a counter: the next unclaimed index, and the first exception a task
/// threw (after which no more tasks are claimed). The task is a function
/// pointer and an object pointer, so the machinery around it is compiled
/// once, not once per task type.
struct bulk_state {
    using task_fn = void (*)(void*, std::size_t);

    task_fn call = nullptr;
    void* fn = nullptr;
    std::size_t n = 0;
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;  // written once, by the thread that set `failed`

    /// Records the exception being handled, if it is the first.
    void record_current_exception() noexcept {
        if (!failed.exchange(true)) error = std::current_exception();
    }
    /// Claims and runs tasks until none is left or one has thrown; never throws.
    void work() noexcept {
        while (!failed.load(std::memory_order_relaxed)) {
            const std::size_t i = next.fetch_add(1);
            if (i >= n) return;
            try {
                call(fn, i);
            } catch (...) {
                record_current_exception();
            }
        }
    }
    /// After every thread has left work() (and that is synchronised with this thread).
    void rethrow_if_failed() const {
        if (error) std::rethrow_exception(error);
    }
};

/// Calls an F through bulk_state::task_fn.
template <class F>
void call_task(void* fn, std::size_t i) {
    (*static_cast<F*>(fn))(i);
}

}  // namespace detail

/// Starts `threads` std::threads for each bulk() call (the caller included
/// as one of them) and joins them before returning: no pool lives between
/// calls (that costs tens of µs a call: see thread_pool for a persistent
/// one). Threads claim tasks one at a time, so tasks of uneven cost balance.
/// If a thread cannot be started, the threads that did start run every
/// task. Exceptions as executor.hpp says: the first one is rethrown after
/// the join.
class thread_executor {
public:
    explicit thread_executor(std::size_t threads = std::max(1u, std::thread::hardware_concurrency()))
        : threads_(threads == 0 ? 1 : threads) {}

    std::size_t concurrency() const noexcept { return threads_; }

    template <class F>
    void bulk(std::size_t n, F&& f) const {
        const std::size_t workers = std::min(threads_, n);
        if (workers <= 1) {
            for (std::size_t i = 0; i < n; ++i)
                f(i);
            return;
        }
        run_threads(n, workers, &detail::call_task<std::remove_reference_t<F>>,
                    const_cast<void*>(static_cast<const void*>(std::addressof(f))));
    }

private:
    static void run_threads(std::size_t n, std::size_t workers, detail::bulk_state::task_fn call, void* fn) {
        detail::bulk_state state;
        state.call = call;
        state.fn = fn;
        state.n = n;
        std::vector<std::thread> pool;
        try {
            pool.reserve(workers - 1);
            for (std::size_t w = 1; w < workers; ++w)
                pool.emplace_back([&state] { state.work(); });
        } catch (...) {  // no more threads to be had: the ones started and the caller run every task
        }
        state.work();
        for (auto& t : pool)
            t.join();
        state.rethrow_if_failed();
    }

    std::size_t threads_;
};

/// Splits [0, count) into at most `tasks` contiguous blocks, each starting
/// at a multiple of `align`, and runs body(task, begin, end) for each through
/// the executor; returns how many tasks ran (task indices are 0 .. that - 1,
/// e.g. for per-task scratch).
template <class Executor, class Body>
std::size_t parallel_tasks(const Executor& exec, std::size_t count, std::size_t tasks, Body&& body,
                           std::size_t align = 1) {
    if (count == 0) return 0;
    tasks = std::max<std::size_t>(1, std::min(tasks, count));
    align = std::max<std::size_t>(1, align);
    const std::size_t block = ((count + tasks - 1) / tasks + align - 1) / align * align;
    const std::size_t n = (count + block - 1) / block;
    exec.bulk(n, [&](std::size_t t) { body(t, t * block, std::min(count, (t + 1) * block)); });
    return n;
}

/// As parallel_tasks, with body(begin, end).
template <class Executor, class Body>
void parallel_blocks(const Executor& exec, std::size_t count, std::size_t tasks, Body&& body, std::size_t align = 1) {
    parallel_tasks(
        exec, count, tasks, [&](std::size_t, std::size_t b, std::size_t e) { body(b, e); }, align);
}

SQLLM_NAMESPACE_END
