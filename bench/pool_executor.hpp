// bench/pool_executor.hpp — a persistent thread pool implementing sqllm's
// executor protocol, as an engine would pass its own pool.
//
// thread_executor starts and joins threads on every call (tens of µs), which
// would be a visible share of a 1 ms GEMV; engines keep their workers alive.
// Workers spin briefly on a generation counter, then sleep on a condition
// variable, so back-to-back calls wake them within a microsecond.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <immintrin.h>

class pool_executor {
public:
    explicit pool_executor(std::size_t threads) : threads_(threads == 0 ? 1 : threads) {
        for (std::size_t w = 1; w < threads_; ++w) workers_.emplace_back([this, w] { work(w); });
    }
    ~pool_executor() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
            generation_.fetch_add(1);
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
    }
    pool_executor(const pool_executor&) = delete;
    pool_executor& operator=(const pool_executor&) = delete;

    std::size_t concurrency() const noexcept { return threads_; }

    /// Runs f(i) for i in [0, n): task i on worker i mod threads (the caller is worker 0).
    template <class F>
    void bulk(std::size_t n, F&& f) const {
        if (threads_ == 1 || n <= 1) {
            for (std::size_t i = 0; i < n; ++i) f(i);
            return;
        }
        auto* self = const_cast<pool_executor*>(this);
        self->task_ = [&f](std::size_t i) { f(i); };
        self->n_ = n;
        self->pending_.store(threads_ - 1);
        {
            std::lock_guard<std::mutex> lock(self->mutex_);
            self->generation_.fetch_add(1);
        }
        self->wake_.notify_all();
        for (std::size_t i = 0; i < n; i += threads_) f(i);
        while (self->pending_.load() != 0) _mm_pause();
    }

private:
    void work(std::size_t w) {
        std::size_t seen = 0;
        for (;;) {
            for (int spin = 0; generation_.load() == seen && spin < 20000; ++spin) _mm_pause();
            if (generation_.load() == seen) {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [&] { return generation_.load() != seen; });
            }
            seen = generation_.load();
            if (stop_) return;
            for (std::size_t i = w; i < n_; i += threads_) task_(i);
            pending_.fetch_sub(1);
        }
    }

    std::size_t threads_;
    std::vector<std::thread> workers_;
    std::function<void(std::size_t)> task_;
    std::size_t n_ = 0;
    std::atomic<std::size_t> generation_{0}, pending_{0};
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
};
