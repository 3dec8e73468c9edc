// sqllm/core/thread_pool.hpp — a persistent thread pool that is an executor.
//
// thread_executor starts and joins its threads on every bulk() call, tens of
// µs a call: a visible share of a 1 ms GEMV. thread_pool keeps its workers
// alive between calls, as an engine's own pool would.
//
// Cost. Workers that finished a call spin (a CPU pause hint in the loop)
// for spin_time, 100 µs, then sleep on a condition variable. A bulk() that
// finds them spinning has them working within about a µs; one that finds
// them asleep pays a futex wake-up: a few µs on the caller's side, and
// typically 5-50 µs until a sleeper runs (more when its core was idle in a
// deep sleep state). The caller never waits for sleepers to wake: it works
// through the tasks itself from the start, workers join as they arrive, and
// bulk() returns once every task is done and the workers that joined have
// left (a caller that runs out of tasks first spins, then sleeps, until
// they have). So back-to-back calls, e.g. one GEMV per layer, run on every
// thread; an occasional call costs little more than running it alone. The
// price: after each call, the workers keep their cores busy for spin_time.
//
// Guarantees.
// - f(i) runs once for each i in [0, n) (unless a task throws), on the
//   caller or a worker, tasks claimed one at a time (uneven tasks balance);
//   bulk() returns when all have run, their writes visible to the caller.
// - Exceptions: as executor.hpp says. Tasks already running finish, tasks
//   not yet started are skipped, bulk() rethrows the first exception once no
//   task of the call is running. The pool stays usable.
// - bulk() may be called from several threads at once: the calls take turns
//   (a mutex), each with the whole pool.
// - bulk() called from a task of this pool's (on the caller's thread or a
//   worker's, directly or through other thread_pools' tasks) runs its loop
//   inline on that thread, sequentially: it never waits for the pool it is
//   part of. (A task that hands work to threads the pool does not know of,
//   e.g. a thread_executor, whose tasks then call this pool's bulk(), would
//   wait for the outer call, which waits for them: don't.)
// - n == 0 returns at once; n == 1 and threads == 1 run inline.
// Destroying the pool while a bulk() is running on it is undefined, as for
// any object in use.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <intrin.h>
#endif

#include "../config.hpp"
#include "executor.hpp"

SQLLM_NAMESPACE_BEGIN

namespace detail {

/// A spin-wait hint to the CPU (x86 pause, ARM yield); elsewhere a yield to the scheduler.
inline void cpu_relax() noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__ __volatile__("yield");
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

/// Spins (cpu_relax) until done() holds or about `budget` has passed; returns done().
template <class Done>
bool spin_until(Done done, std::chrono::nanoseconds budget) {
    const auto until = std::chrono::steady_clock::now() + budget;
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            if (done()) return true;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() >= until) return done();
    }
}

}  // namespace detail

/// A persistent pool of threads - 1 workers (the thread that calls bulk() is
/// the other one), started by the constructor and joined by the destructor.
/// See the header comment for its cost and guarantees.
class thread_pool {
public:
    /// How long workers (and a caller waiting for the last tasks) spin before they sleep.
    static constexpr std::chrono::microseconds spin_time{100};

    explicit thread_pool(std::size_t threads = std::max(1u, std::thread::hardware_concurrency()))
        : threads_(threads == 0 ? 1 : threads) {
        workers_.reserve(threads_ - 1);
        try {
            for (std::size_t w = 1; w < threads_; ++w)
                workers_.emplace_back([this] { work(); });
        } catch (...) {
            shut_down();
            throw;
        }
    }
    ~thread_pool() { shut_down(); }

    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    thread_pool(thread_pool&&) = delete;
    thread_pool& operator=(thread_pool&&) = delete;

    std::size_t concurrency() const noexcept { return threads_; }

    /// Calls f(i) for i in [0, n) on the caller and the workers; returns when all are done.
    template <class F>
    void bulk(std::size_t n, F&& f) const {
        if (n == 0) return;
        if (n == 1 || threads_ == 1 || inside()) {
            for (std::size_t i = 0; i < n; ++i)
                f(i);
            return;
        }
        run(n, &detail::call_task<std::remove_reference_t<F>>,
            const_cast<void*>(static_cast<const void*>(std::addressof(f))));
    }

private:
    // The bulk() calls a thread is running tasks for, innermost first: a
    // caller pushes its pool, a worker running a call's tasks takes the
    // caller's chain for that time.
    struct frame {
        const thread_pool* pool;
        const frame* outer;
    };
    static const frame*& chain() noexcept {
        static thread_local const frame* innermost = nullptr;
        return innermost;
    }
    bool inside() const noexcept {
        for (const frame* f = chain(); f; f = f->outer)
            if (f->pool == this) return true;
        return false;
    }

    // state_: which call is open to workers and how many of them are in it.
    // Bits 63..32: the call's number; bit 31: open (workers may join); bits
    // 30..0: workers that joined and have not left. A worker joins with a CAS
    // that needs the bit set; the caller clears it when no task is left to
    // claim, then waits for the count to drop to 0; a worker touches the
    // call's data only between joining and leaving.
    static constexpr std::uint64_t open_bit = std::uint64_t{1} << 31;
    static constexpr std::uint64_t count_mask = open_bit - 1;
    static std::uint32_t call_of(std::uint64_t s) noexcept { return static_cast<std::uint32_t>(s >> 32); }

    void run(std::size_t n, detail::bulk_state::task_fn call, void* fn) const {
        std::lock_guard<std::mutex> turn(call_mutex_);  // one call at a time
        const frame self{this, chain()};
        chain() = &self;
        // bulk_state has atomics (not assignable): reset its fields one by one.
        job_.call = call;
        job_.fn = fn;
        job_.n = n;
        job_.next.store(0, std::memory_order_relaxed);
        job_.failed.store(false, std::memory_order_relaxed);
        job_.error = nullptr;
        job_chain_ = &self;
        state_.store(std::uint64_t{++calls_} << 32 | open_bit);  // seq_cst: pairs with sleepers_ (wake)
        wake();
        job_.work();
        const std::uint64_t joined = state_.fetch_and(~open_bit) & count_mask;  // no worker joins from here on
        if (joined != 0) {
            const auto left = [this] { return (state_.load(std::memory_order_acquire) & count_mask) == 0; };
            if (!detail::spin_until(left, spin_time)) {
                std::unique_lock<std::mutex> lock(done_mutex_);
                done_.wait(lock, left);
            }
        }
        chain() = self.outer;
        job_.rethrow_if_failed();
    }

    /// Wakes sleeping workers for the call just opened.
    void wake() const {
        if (sleepers_.load() == 0) return;  // seq_cst: a worker about to sleep sees the new state_
        { std::lock_guard<std::mutex> lock(wake_mutex_); }
        wake_cv_.notify_all();
    }

    void work() noexcept {
        std::uint32_t seen = 0;  // the last call this worker saw
        for (;;) {
            const auto news = [&] {
                return stop_.load(std::memory_order_acquire) || call_of(state_.load(std::memory_order_acquire)) != seen;
            };
            if (!detail::spin_until(news, spin_time)) {
                std::unique_lock<std::mutex> lock(wake_mutex_);
                sleepers_.fetch_add(1);  // seq_cst: pairs with run()'s store of state_
                wake_cv_.wait(lock, [&] { return stop_.load() || call_of(state_.load()) != seen; });
                sleepers_.fetch_sub(1);
            }
            if (stop_.load(std::memory_order_acquire)) return;
            std::uint64_t s = state_.load(std::memory_order_acquire);
            seen = call_of(s);
            bool joined = false;
            while ((s & open_bit) && !joined) {
                joined = state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire);
                seen = call_of(s);
            }
            if (!joined) continue;  // the call was over before this worker came
            const frame* const own = chain();
            chain() = job_chain_;
            job_.work();
            chain() = own;
            if ((state_.fetch_sub(1, std::memory_order_acq_rel) & (open_bit | count_mask)) == 1) {
                // The last worker out of a closed call: the caller may be waiting.
                { std::lock_guard<std::mutex> lock(done_mutex_); }
                done_.notify_one();
            }
        }
    }

    void shut_down() noexcept {
        {
            std::lock_guard<std::mutex> lock(wake_mutex_);
            stop_.store(true);
        }
        wake_cv_.notify_all();
        for (auto& t : workers_)
            t.join();
    }

    std::size_t threads_;
    std::vector<std::thread> workers_;

    // What bulk() (a const member, as executors' are) changes: mutable, and guarded as noted.
    mutable std::mutex call_mutex_;    // serialises bulk() calls
    mutable std::uint32_t calls_ = 0;  // calls run so far (under call_mutex_)
    mutable detail::bulk_state job_;   // the open call (written under call_mutex_ while no worker is in it)
    mutable const frame* job_chain_ = nullptr;
    mutable std::atomic<std::uint64_t> state_{0};

    mutable std::mutex wake_mutex_;  // sleeping workers
    mutable std::condition_variable wake_cv_;
    std::atomic<int> sleepers_{0};
    std::atomic<bool> stop_{false};

    mutable std::mutex done_mutex_;  // a caller waiting for the last workers to leave
    mutable std::condition_variable done_;
};

SQLLM_NAMESPACE_END
