// Threads: what the library promises to callers that use it from several
// threads, or hand it their own executor. One shared read-only matrix
// multiplied from many std::threads at once; independent quantize calls
// running concurrently; caller-supplied executors that run the submitted
// chunks out of order, each on a thread of its own, or on a persistent
// pool; and the library's thread_executor and thread_pool. Every result
// must equal the single-threaded one bit for bit. CI also runs these under
// ThreadSanitizer (.ci/run), which reports any data race among them.
#include <sqllm/sqllm.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <numeric>
#include <queue>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "kernel_check.hpp"
#include "test_util.hpp"

using namespace sqllm;
using sqllm_test::rng_t;
using sqllm_test::runnable_targets;

namespace {

/// Runs the chunks on the calling thread, last first.
struct reverse_executor {
    std::size_t n = 4;
    std::size_t concurrency() const noexcept { return n; }
    template <class F>
    void bulk(std::size_t count, F&& f) const {
        for (std::size_t i = count; i-- > 0;)
            f(i);
    }
};

/// Starts one std::thread per chunk, in a shuffled order, and joins them all.
struct thread_per_chunk_executor {
    std::size_t n = 4;
    std::size_t concurrency() const noexcept { return n; }
    template <class F>
    void bulk(std::size_t count, F&& f) const {
        std::vector<std::size_t> order(count);
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::reverse(order.begin(), order.end());
        if (count > 2) std::swap(order[0], order[count / 2]);
        std::vector<std::thread> threads;
        threads.reserve(count);
        for (std::size_t i : order)
            threads.emplace_back([&f, i] { f(i); });
        for (auto& t : threads)
            t.join();
    }
};

/// A persistent pool, as an engine would adapt its own: bulk() queues the
/// chunks (last first) for the workers and waits until all have run.
class pool_executor {
public:
    explicit pool_executor(std::size_t workers) {
        for (std::size_t i = 0; i < workers; ++i)
            threads_.emplace_back([this] { work(); });
    }
    ~pool_executor() {
        {
            std::lock_guard<std::mutex> lock(m_);
            stop_ = true;
        }
        cv_.notify_all();
        for (auto& t : threads_)
            t.join();
    }
    pool_executor(const pool_executor&) = delete;
    pool_executor& operator=(const pool_executor&) = delete;

    std::size_t concurrency() const noexcept { return threads_.size(); }
    template <class F>
    void bulk(std::size_t count, F&& f) const {
        std::size_t left = count;
        std::mutex done_m;
        std::condition_variable done_cv;
        {
            std::lock_guard<std::mutex> lock(m_);
            for (std::size_t i = count; i-- > 0;)
                queue_.push([&f, &left, &done_m, &done_cv, i] {
                    f(i);
                    std::lock_guard<std::mutex> l(done_m);
                    if (--left == 0) done_cv.notify_one();
                });
        }
        cv_.notify_all();
        std::unique_lock<std::mutex> l(done_m);
        done_cv.wait(l, [&] { return left == 0; });
    }

private:
    void work() {
        for (;;) {
            std::function<void()> task;
            {
                std::unique_lock<std::mutex> lock(m_);
                cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
                if (queue_.empty()) return;
                task = std::move(queue_.front());
                queue_.pop();
            }
            task();
        }
    }

    mutable std::mutex m_;
    mutable std::condition_variable cv_;
    mutable std::queue<std::function<void()>> queue_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

using matrix3 = quantized_matrix<3, half, csr<>>;                         // the README's types
using matrix4 = quantized_matrix<4, float, balanced_csr<>, reference_layout<4>>;  // the split sparse schedule

template <class M>
M make_matrix(rng_t& rng, std::size_t rows, std::size_t cols) {
    using Lut = typename M::view_type::lut_type;
    using Layout = typename M::view_type::layout;
    constexpr int bits = M::bits;
    const auto codes = sqllm_test::random_codes(rng, rows * cols, bits);
    return M(rows, cols, sqllm_test::random_lut<Lut>(rng, rows, 1 << bits),
             pack_codes<Layout>({codes.data(), rows, cols}),
             sqllm_test::random_csr<float, std::int32_t>(rng, rows, cols, 0.01));
}

struct products {
    std::vector<float> y, Y;  // gemv of X's first row; gemm of all of X
    bool operator==(const products& o) const { return y == o.y && Y == o.Y; }
};

template <class View, class Executor>
products multiply(target_id t, const View& W, const std::vector<float>& X, std::size_t batch,
                  const Executor& exec) {
    products p{std::vector<float>(W.rows()), std::vector<float>(batch * W.rows())};
    gemv(t, W, span<const float>(X.data(), W.cols()), span<float>(p.y), exec);
    gemm(t, W, matrix_view<const float>(X.data(), batch, W.cols()), matrix_view<float>(p.Y.data(), batch, W.rows()),
         exec);
    return p;
}

struct quantized {
    std::vector<half> lut;
    std::vector<std::uint32_t> words;
    reference_checkpoint sparse;  // the CSR part, via export
    bool operator==(const quantized& o) const {
        return lut == o.lut && words == o.words && sparse.sparse_rows == o.sparse.sparse_rows &&
               sparse.sparse_cols == o.sparse.sparse_cols && sparse.sparse_vals == o.sparse.sparse_vals;
    }
};

struct quantize_case {
    std::size_t rows, cols;
    std::vector<float> W, S;
    quantize_options opt;
};

std::vector<quantize_case> quantize_cases(rng_t& rng) {
    std::vector<quantize_case> cases;
    for (int i = 0; i < 4; ++i) {
        quantize_case c;
        c.rows = 37 + 11 * static_cast<std::size_t>(i);
        c.cols = 130 + 37 * static_cast<std::size_t>(i);
        c.W = sqllm_test::random_weights(rng, c.rows * c.cols);
        c.S = sqllm_test::random_sensitivity(rng, c.rows * c.cols);
        c.opt.method = i == 1 ? lut_method::lloyd : i == 2 ? lut_method::uniform : lut_method::exact;
        if (i != 3) {  // the dense-and-sparse split's radix selection runs through the executor too
            c.opt.sparse.sensitive_fraction = 0.005;
            c.opt.sparse.outlier_fraction = 0.004;
        }
        cases.push_back(std::move(c));
    }
    return cases;
}

template <class Executor>
quantized run_quantize(const quantize_case& c, const Executor& exec) {
    const auto q = quantize<3, half>(matrix_view<const float>(c.W.data(), c.rows, c.cols),
                                     matrix_view<const float>(c.S.data(), c.rows, c.cols), c.opt, exec);
    return {q.lut(), q.words(), export_reference(q.view())};
}

}  // namespace

TEST_CASE("one shared read-only matrix, gemv and gemm from many threads at once", "[threads]") {
    rng_t rng(71);
    const std::size_t rows = 203, cols = 333, batch = 3, threads = 8;
    const matrix3 q3 = make_matrix<matrix3>(rng, rows, cols);
    const matrix4 q4 = make_matrix<matrix4>(rng, rows, cols);
    std::vector<std::vector<float>> X(threads);
    for (auto& x : X)
        x = sqllm_test::random_normal(rng, batch * cols);
    for (const target_id t : runnable_targets()) {
        INFO("target " << to_string(t));
        // Expected: each thread's input, multiplied on this thread alone.
        std::vector<products> want3, want4;
        for (std::size_t i = 0; i < threads; ++i) {
            want3.push_back(multiply(t, q3.view(), X[i], batch, sequential_executor{}));
            want4.push_back(multiply(t, q4.view(), X[i], batch, sequential_executor{}));
        }
        std::atomic<int> mismatches{0};
        std::atomic<bool> go{false};
        std::vector<std::thread> pool;
        for (std::size_t i = 0; i < threads; ++i)
            pool.emplace_back([&, i] {
                while (!go.load()) std::this_thread::yield();  // start together
                for (int rep = 0; rep < 3; ++rep) {
                    // Odd threads nest a thread_executor of their own.
                    const bool nested = i % 2 == 1;
                    const products p3 = nested ? multiply(t, q3.view(), X[i], batch, thread_executor(2))
                                               : multiply(t, q3.view(), X[i], batch, sequential_executor{});
                    if (!(p3 == want3[i])) ++mismatches;
                    if (nested) {  // balanced_csr: the same concurrency, the same tasks
                        if (!(multiply(t, q4.view(), X[i], batch, thread_executor(1)) == want4[i])) ++mismatches;
                    } else if (!(multiply(t, q4.view(), X[i], batch, sequential_executor{}) == want4[i])) {
                        ++mismatches;
                    }
                }
            });
        go = true;
        for (auto& th : pool)
            th.join();
        REQUIRE(mismatches == 0);
    }
}

TEST_CASE("concurrent independent quantize calls equal sequential ones", "[threads]") {
    rng_t rng(72);
    const auto cases = quantize_cases(rng);
    std::vector<quantized> want;
    for (const auto& c : cases)
        want.push_back(run_quantize(c, sequential_executor{}));
    std::atomic<int> mismatches{0};
    std::vector<std::thread> pool;
    for (std::size_t i = 0; i < 2 * cases.size(); ++i)  // two threads per case, one of them with threads of its own
        pool.emplace_back([&, i] {
            const auto& c = cases[i % cases.size()];
            const quantized got =
                i < cases.size() ? run_quantize(c, sequential_executor{}) : run_quantize(c, thread_executor(2));
            if (!(got == want[i % cases.size()])) ++mismatches;
        });
    for (auto& th : pool)
        th.join();
    REQUIRE(mismatches == 0);
}

TEST_CASE("caller-supplied executors may run the chunks out of order and on other threads", "[threads]") {
    rng_t rng(73);
    const std::size_t rows = 150, cols = 270, batch = 4;
    const matrix3 q3 = make_matrix<matrix3>(rng, rows, cols);
    const matrix4 q4 = make_matrix<matrix4>(rng, rows, cols);
    const auto X = sqllm_test::random_normal(rng, batch * cols);
    const auto cases = quantize_cases(rng);
    std::vector<quantized> want_q;
    for (const auto& c : cases)
        want_q.push_back(run_quantize(c, sequential_executor{}));
    const pool_executor pool(3);
    for (const target_id t : runnable_targets()) {
        INFO("target " << to_string(t));
        // csr (row-fused): any executor equals the sequential one.
        const products want3 = multiply(t, q3.view(), X, batch, sequential_executor{});
        REQUIRE(multiply(t, q3.view(), X, batch, reverse_executor{5}) == want3);
        REQUIRE(multiply(t, q3.view(), X, batch, thread_per_chunk_executor{4}) == want3);
        REQUIRE(multiply(t, q3.view(), X, batch, pool) == want3);
        // balanced_csr splits by nonzeros: equal for the same concurrency, whatever the order and threads.
        const products want4 = multiply(t, q4.view(), X, batch, reverse_executor{3});
        REQUIRE(multiply(t, q4.view(), X, batch, thread_per_chunk_executor{3}) == want4);
        REQUIRE(multiply(t, q4.view(), X, batch, pool) == want4);
        REQUIRE(multiply(t, q4.view(), X, batch, thread_executor(3)) == want4);
    }
    for (std::size_t i = 0; i < cases.size(); ++i) {
        INFO("quantize case " << i);
        REQUIRE(run_quantize(cases[i], reverse_executor{6}) == want_q[i]);
        REQUIRE(run_quantize(cases[i], thread_per_chunk_executor{3}) == want_q[i]);
        REQUIRE(run_quantize(cases[i], pool) == want_q[i]);
    }
}

TEST_CASE("thread_executor and thread_pool: any thread count gives the sequential result", "[threads]") {
    rng_t rng(74);
    const std::size_t rows = 5, cols = 700, batch = 2;  // fewer rows than some thread counts
    const matrix3 q3 = make_matrix<matrix3>(rng, rows, cols);
    const auto X = sqllm_test::random_normal(rng, batch * cols);
    const auto cases = quantize_cases(rng);
    const target_id t = kernel_target(q3.view());
    const products want = multiply(t, q3.view(), X, batch, sequential_executor{});
    const quantized want_q = run_quantize(cases[0], sequential_executor{});
    for (std::size_t n : {1, 2, 3, 8}) {
        INFO(n << " threads");
        REQUIRE(multiply(t, q3.view(), X, batch, thread_executor(n)) == want);
        REQUIRE(run_quantize(cases[0], thread_executor(n)) == want_q);
        const thread_pool pool(n);  // the persistent pool too, and through an executor_ref
        REQUIRE(multiply(t, q3.view(), X, batch, pool) == want);
        REQUIRE(multiply(t, q3.view(), X, batch, executor_ref(pool)) == want);
        REQUIRE(run_quantize(cases[0], pool) == want_q);
    }
    // The same executor object shared by several callers at once.
    const thread_executor shared(3);
    std::atomic<int> mismatches{0};
    std::vector<std::thread> pool;
    for (int i = 0; i < 4; ++i)
        pool.emplace_back([&] {
            if (!(multiply(t, q3.view(), X, batch, shared) == want)) ++mismatches;
        });
    for (auto& th : pool)
        th.join();
    REQUIRE(mismatches == 0);
}
