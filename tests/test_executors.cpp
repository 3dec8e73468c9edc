// Executors: thread_pool against the sequential loop (every n, every thread
// count, reuse, concurrent callers, nested calls), the exception contract of
// core/executor.hpp under every executor the library ships and through
// executor_ref, and quantize's cancellation (stop_token, a throwing progress
// callback). Tagged [threads]: CI runs them under ThreadSanitizer too.
#include <sqllm/sqllm.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "executor_check.hpp"
#include "test_util.hpp"

using namespace sqllm;
using sqllm_test::rng_t;

using namespace sqllm_test;  // run_counts, check_exception_contract, ... (executor_check.hpp)


TEST_CASE("thread_pool runs every task once, like the sequential loop", "[threads][executors]") {
    for (std::size_t threads : {1, 2, 3, 8}) {
        INFO(threads << " threads");
        const thread_pool pool(threads);
        REQUIRE(pool.concurrency() == threads);
        for (std::size_t n : {0, 1, 2, 3, 7, 64, 1001}) {
            INFO("n = " << n);
            REQUIRE(run_counts(pool, n) == std::vector<int>(n, 1));
            REQUIRE(sum_of_squares(pool, n) == sum_of_squares(sequential_executor{}, n));
        }
    }
    REQUIRE(thread_pool(0).concurrency() == 1);
    REQUIRE(thread_pool().concurrency() >= 1);
}

TEST_CASE("thread_pool: 1000 calls on one pool", "[threads][executors]") {
    const thread_pool pool(4);
    int bad = 0;
    for (std::size_t call = 0; call < 1000; ++call) {
        const std::size_t n = 1 + call % 37;
        if (sum_of_squares(pool, n) != want_sum_of_squares(n)) ++bad;
        if (call % 100 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // let the workers sleep
    }
    REQUIRE(bad == 0);
}

TEST_CASE("thread_pool: bulk from several threads at once", "[threads][executors]") {
    const thread_pool pool(3);
    std::atomic<int> bad{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t)
        callers.emplace_back([&, t] {
            for (std::size_t call = 0; call < 200; ++call) {
                const std::size_t n = 1 + (call * 7 + static_cast<std::size_t>(t)) % 50;
                if (sum_of_squares(pool, n) != want_sum_of_squares(n)) ++bad;
            }
        });
    for (auto& c : callers)
        c.join();
    REQUIRE(bad == 0);
}

TEST_CASE("thread_pool: bulk from inside its own tasks runs inline", "[threads][executors]") {
    const thread_pool pool(3);
    const std::size_t outer = 12, inner = 9;
    std::vector<std::uint64_t> sums(outer);
    std::atomic<int> other_thread{0};
    pool.bulk(outer, [&](std::size_t i) {
        const auto me = std::this_thread::get_id();
        std::vector<std::uint64_t> part(inner);
        pool.bulk(inner, [&](std::size_t j) {
            if (std::this_thread::get_id() != me) ++other_thread;
            part[j] = i * j;
        });
        for (auto p : part)
            sums[i] += p;
    });
    REQUIRE(other_thread == 0);
    for (std::size_t i = 0; i < outer; ++i)
        REQUIRE(sums[i] == i * (inner * (inner - 1) / 2));

    // Through another pool and back: A's task calls B, whose tasks (on B's workers) call A.
    const thread_pool other(2);
    std::atomic<std::uint64_t> total{0};
    pool.bulk(
        4, [&](std::size_t) { other.bulk(4, [&](std::size_t) { pool.bulk(5, [&](std::size_t k) { total += k; }); }); });
    REQUIRE(total == 4 * 4 * 10);

    // And the pool still runs in parallel afterwards.
    REQUIRE(run_counts(pool, 100) == std::vector<int>(100, 1));
}

TEST_CASE("a throwing task: the first exception comes out of bulk, after the others finish", "[threads][executors]") {
    SECTION("sequential_executor") {
        const sequential_executor seq;
        check_exception_contract(seq);
        // In order: exactly the first throwing task's, and nothing after it ran.
        const auto o = run_throwing(seq, 10, {4, 6});
        REQUIRE(o.index == 4);
        REQUIRE(o.started == 5);
    }
    SECTION("thread_executor") {
        check_exception_contract(thread_executor(3));
        check_exception_contract(thread_executor(1));
    }
    SECTION("thread_pool") {
        const thread_pool pool(3);
        check_exception_contract(pool);
        check_exception_contract(thread_pool(1));
        // A nested call's exception reaches the outer caller.
        try {
            pool.bulk(6, [&](std::size_t i) {
                pool.bulk(3, [&](std::size_t j) {
                    if (i == 2 && j == 1) throw task_error{i * 10 + j};
                });
            });
            FAIL("no exception");
        } catch (const task_error& e) {
            REQUIRE(e.index == 21);
        }
        REQUIRE(sum_of_squares(pool, 500) == want_sum_of_squares(500));
    }
    SECTION("executor_ref over each") {
        const sequential_executor seq;
        const thread_executor threads(3);
        const thread_pool pool(3);
        check_exception_contract(executor_ref(seq));
        check_exception_contract(executor_ref(threads));
        check_exception_contract(executor_ref(pool));
        check_exception_contract(executor_ref());
    }
}

TEST_CASE("executor_ref forwards to the executor it refers to", "[threads][executors]") {
    const thread_pool pool(3);
    const executor_ref ref = pool;
    REQUIRE(ref.concurrency() == 3);
    REQUIRE(executor_ref(thread_executor(5)).concurrency() == 5);
    const executor_ref copy = ref;  // a reference to the pool, not to ref
    REQUIRE(copy.concurrency() == 3);
    REQUIRE(run_counts(copy, 257) == std::vector<int>(257, 1));
    // The tasks run on the pool's threads (32 ms of sleep: the workers wake up in time).
    std::vector<std::thread::id> ids(32);
    ref.bulk(ids.size(), [&](std::size_t i) {
        ids[i] = std::this_thread::get_id();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    REQUIRE(std::count(ids.begin(), ids.end(), std::this_thread::get_id()) < 32);
    // Default: inline, in order.
    const executor_ref inline_ref;
    REQUIRE(inline_ref.concurrency() == 1);
    std::vector<std::size_t> order;
    inline_ref.bulk(5, [&](std::size_t i) { order.push_back(i); });
    REQUIRE(order == std::vector<std::size_t>{0, 1, 2, 3, 4});
    // A const callable works too.
    const auto reset = [&](std::size_t i) { ids[i] = std::thread::id(); };
    ref.bulk(3, reset);
    REQUIRE(ids[2] == std::thread::id());
}

// ---- quantize: cancellation and a throwing progress callback ----------------

namespace {

struct quantize_input {
    std::size_t rows = 300, cols = 64;
    std::vector<float> W, S;
    explicit quantize_input(rng_t& rng)
        : W(sqllm_test::random_weights(rng, rows * cols)), S(sqllm_test::random_sensitivity(rng, rows * cols)) {}
};

struct progress_abort {};

template <class Executor>
quantized_matrix<3, half, csr<>> run_quantize(const quantize_input& in, const quantize_options& opt,
                                              const Executor& exec) {
    return quantize<3, half, csr<>>(matrix_view<const float>(in.W.data(), in.rows, in.cols),
                                    matrix_view<const float>(in.S.data(), in.rows, in.cols), opt, exec);
}

quantize_options base_options() {
    quantize_options o;
    o.sparse.sensitive_fraction = 0.005;
    o.sparse.outlier_fraction = 0.004;
    return o;
}

template <class Executor>
void check_cancellation(const quantize_input& in, const Executor& exec) {
    const auto want = run_quantize(in, base_options(), sequential_executor{});

    // A stop requested from the progress callback: errc::cancelled, before the last rows.
    {
        stop_source source;
        quantize_options o = base_options();
        o.stop = source.get_token();
        std::atomic<int> calls{0};
        o.progress = [&](std::size_t, std::size_t) {
            ++calls;
            source.request_stop();
        };
        try {
            run_quantize(in, o, exec);
            FAIL("not cancelled");
        } catch (const error& e) {
            REQUIRE(e.code() == errc::cancelled);
            const std::string m = e.message();
            INFO(m);
            REQUIRE(m.rfind("quantization cancelled after ", 0) == 0);
            REQUIRE(m.find(" of 300 rows") != std::string::npos);
            REQUIRE(m.find("after 300 of") == std::string::npos);  // blocks not yet started were skipped
        }
        REQUIRE(calls >= 1);
    }
    // A stop requested before the call: nothing runs.
    {
        stop_source source;
        source.request_stop();
        quantize_options o = base_options();
        o.stop = source.get_token();
        int calls = 0;
        o.progress = [&](std::size_t, std::size_t) { ++calls; };
        try {
            run_quantize(in, o, exec);
            FAIL("not cancelled");
        } catch (const error& e) {
            REQUIRE(e.code() == errc::cancelled);
            REQUIRE(std::string(e.message()) == "quantization cancelled after 0 of 300 rows");
        }
        REQUIRE(calls == 0);
    }
    // A throwing progress callback: its exception, once, under any executor.
    {
        quantize_options o = base_options();
        std::atomic<int> calls{0};
        o.progress = [&](std::size_t, std::size_t) {
            ++calls;
            throw progress_abort{};
        };
        REQUIRE_THROWS_AS(run_quantize(in, o, exec), progress_abort);
        REQUIRE(calls == 1);
    }
    // A token that is never stopped changes nothing, bit for bit.
    {
        stop_source source;
        quantize_options o = base_options();
        o.stop = source.get_token();
        std::atomic<std::size_t> last{0};
        o.progress = [&](std::size_t done, std::size_t) { last = done; };
        const auto got = run_quantize(in, o, exec);
        REQUIRE(last == in.rows);
        REQUIRE(got.lut() == want.lut());
        REQUIRE(got.words() == want.words());
        const auto a = export_reference(got.view()), b = export_reference(want.view());
        REQUIRE(a.sparse_rows == b.sparse_rows);
        REQUIRE(a.sparse_cols == b.sparse_cols);
        REQUIRE(a.sparse_vals == b.sparse_vals);
    }
}

}  // namespace

TEST_CASE("stop_token: default never stops; a source's tokens see its stop", "[threads][executors]") {
    const stop_token never;
    REQUIRE_FALSE(never.stop_possible());
    REQUIRE_FALSE(never.stop_requested());
    stop_source source;
    const stop_token token = source.get_token();
    REQUIRE(token.stop_possible());
    REQUIRE_FALSE(token.stop_requested());
    stop_source copy = source;
    std::thread([&] { copy.request_stop(); }).join();
    REQUIRE(token.stop_requested());
    REQUIRE(source.stop_requested());
    stop_source moved = std::move(source);  // a move copies: both still work
    REQUIRE(moved.stop_requested());
    REQUIRE(source.stop_requested());
    REQUIRE(to_string(errc::cancelled) == std::string("cancelled"));
}

TEST_CASE("quantize: cancellation and a throwing progress callback", "[threads][executors][quantize]") {
    rng_t rng(91);
    const quantize_input in(rng);
    SECTION("sequential_executor") { check_cancellation(in, sequential_executor{}); }
    SECTION("thread_executor(3)") { check_cancellation(in, thread_executor(3)); }
    SECTION("thread_pool(3)") {
        const thread_pool pool(3);
        check_cancellation(in, pool);
    }
    SECTION("executor_ref over thread_pool(3)") {
        const thread_pool pool(3);
        check_cancellation(in, executor_ref(pool));
    }
}

TEST_CASE("quantize and the kernels give the same results under thread_pool", "[threads][executors]") {
    rng_t rng(92);
    const quantize_input in(rng);
    const auto want = run_quantize(in, base_options(), sequential_executor{});
    const thread_pool pool(3);
    const auto got = run_quantize(in, base_options(), pool);
    REQUIRE(got.lut() == want.lut());
    REQUIRE(got.words() == want.words());
    const auto X = sqllm_test::random_normal(rng, in.cols);
    std::vector<float> y_seq(in.rows), y_pool(in.rows), y_ref(in.rows);
    gemv(want.view(), span<const float>(X), span<float>(y_seq), sequential_executor{});
    gemv(want.view(), span<const float>(X), span<float>(y_pool), pool);
    gemv(want.view(), span<const float>(X), span<float>(y_ref), executor_ref(pool));
    REQUIRE(y_pool == y_seq);
    REQUIRE(y_ref == y_seq);
}
