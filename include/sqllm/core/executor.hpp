// sqllm/core/executor.hpp — how sqllm runs parallel loops: through the caller.
//
// sqllm never starts threads on its own. Functions with parallel work take an
// executor: any object with
//     std::size_t concurrency() const;                     // tasks worth running at once
//     void bulk(std::size_t n, F&& f);                     // calls f(i) for i in [0, n), returns when all are done
// so an engine can pass an adapter over its own thread pool. Tasks must not
// throw; sqllm validates inputs before it schedules work.
#pragma once

#include <algorithm>
#include <cstddef>
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

/// Starts `threads` std::threads for each bulk() call (the caller included
/// as one of them) and joins them before returning: no pool lives between
/// calls. Tasks are dealt round-robin, so give it a few per thread.
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
        // Through a plain function pointer: the std::thread machinery is
        // compiled once, not once per task type.
        using task_type = std::remove_reference_t<F>;
        run_threads(n, workers, [](void* fn, std::size_t i) { (*static_cast<task_type*>(fn))(i); },
                    const_cast<void*>(static_cast<const void*>(std::addressof(f))));
    }

private:
    static void run_threads(std::size_t n, std::size_t workers, void (*call)(void*, std::size_t), void* fn) {
        auto run = [=](std::size_t w) {
            for (std::size_t i = w; i < n; i += workers)
                call(fn, i);
        };
        std::vector<std::thread> pool;
        pool.reserve(workers - 1);
        for (std::size_t w = 1; w < workers; ++w)
            pool.emplace_back(run, w);
        run(0);
        for (auto& t : pool)
            t.join();
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
