// Shared by the executor tests (test_executors.cpp, test_openmp_executor.cpp):
// what every executor must do — run each task once, and the exception
// contract of core/executor.hpp.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"

namespace sqllm_test {

/// Runs f(i) for i in [0, n) through exec: returns how often each i ran (all must be 1).
template <class Executor>
std::vector<int> run_counts(const Executor& exec, std::size_t n) {
    std::vector<std::atomic<int>> hits(n);
    for (auto& h : hits)
        h.store(0);
    exec.bulk(n, [&](std::size_t i) { ++hits[i]; });
    std::vector<int> out(n);
    for (std::size_t i = 0; i < n; ++i)
        out[i] = hits[i].load();
    return out;
}

/// Σ i² over [0, n), one task per i, through exec.
template <class Executor>
std::uint64_t sum_of_squares(const Executor& exec, std::size_t n) {
    std::vector<std::uint64_t> part(n);
    exec.bulk(n, [&](std::size_t i) { part[i] = static_cast<std::uint64_t>(i) * i; });
    std::uint64_t s = 0;
    for (auto p : part)
        s += p;
    return s;
}

std::uint64_t want_sum_of_squares(std::size_t n) {
    std::uint64_t s = 0;
    for (std::size_t i = 0; i < n; ++i)
        s += static_cast<std::uint64_t>(i) * i;
    return s;
}

struct task_error {  // not a std::exception: executors must carry any type
    std::size_t index;
};

/// What a bulk() call whose tasks throw did: the exception it rethrew, and
/// whether any task was still running when it did.
struct throw_outcome {
    bool threw = false;
    std::size_t index = 0;  // of the task_error rethrown
    int running_at_return = -1;
    int started = 0, finished = 0;
};

/// Tasks `throwing` throw task_error{i}; the others sleep a little, so that
/// some are running when the first one throws.
template <class Executor>
throw_outcome run_throwing(const Executor& exec, std::size_t n, const std::vector<std::size_t>& throwing) {
    std::atomic<int> running{0}, started{0}, finished{0};
    throw_outcome out;
    try {
        exec.bulk(n, [&](std::size_t i) {
            ++started;
            ++running;
            struct leave {
                std::atomic<int>& running;
                std::atomic<int>& finished;
                ~leave() {
                    ++finished;
                    --running;
                }
            } guard{running, finished};
            if (std::find(throwing.begin(), throwing.end(), i) != throwing.end()) throw task_error{i};
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        });
    } catch (const task_error& e) {
        out.threw = true;
        out.index = e.index;
    }
    out.running_at_return = running.load();
    out.started = started.load();
    out.finished = finished.load();
    return out;
}

/// The exception contract: the first exception comes out of bulk() after
/// every started task finished; the executor works afterwards.
template <class Executor>
void check_exception_contract(const Executor& exec) {
    // One throwing task: exactly that exception.
    auto o = run_throwing(exec, 40, {7});
    REQUIRE(o.threw);
    REQUIRE(o.index == 7);
    REQUIRE(o.running_at_return == 0);
    REQUIRE(o.started == o.finished);
    // Several: one of them, once.
    o = run_throwing(exec, 40, {3, 4, 5, 20, 39});
    REQUIRE(o.threw);
    REQUIRE((o.index == 3 || o.index == 4 || o.index == 5 || o.index == 20 || o.index == 39));
    REQUIRE(o.running_at_return == 0);
    // Every task.
    std::vector<std::size_t> all(16);
    for (std::size_t i = 0; i < all.size(); ++i)
        all[i] = i;
    o = run_throwing(exec, all.size(), all);
    REQUIRE(o.threw);
    REQUIRE(o.running_at_return == 0);
    // A standard exception keeps its type and message.
    try {
        exec.bulk(9, [](std::size_t i) {
            if (i == 8) throw std::out_of_range("task 8");
        });
        FAIL("no exception");
    } catch (const std::out_of_range& e) {
        REQUIRE(std::string(e.what()) == "task 8");
    }
    // Still usable.
    REQUIRE(sum_of_squares(exec, 1000) == want_sum_of_squares(1000));
    REQUIRE(run_counts(exec, 333) == std::vector<int>(333, 1));
}


}  // namespace sqllm_test
