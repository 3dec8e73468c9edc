// openmp_executor (core/openmp_executor.hpp), built with OpenMP: every task
// once, the exception contract of core/executor.hpp, quantize's results and
// cancellation, and executor_ref over it. tests/CMakeLists.txt builds this
// only when find_package(OpenMP) finds OpenMP.
#include <sqllm/core/openmp_executor.hpp>
#include <sqllm/sqllm.hpp>

#ifndef _OPENMP
#error "test_openmp_executor.cpp must be built with OpenMP"
#endif

#include <atomic>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "catch.hpp"
#include "executor_check.hpp"
#include "test_util.hpp"

using namespace sqllm;
using sqllm_test::rng_t;

using namespace sqllm_test;  // run_counts, task_error, check_exception_contract (executor_check.hpp)

TEST_CASE("openmp_executor runs every task once", "[openmp]") {
    omp_set_num_threads(3);
    const openmp_executor omp;
    REQUIRE(omp.concurrency() == 3);
    for (std::size_t n : {0, 1, 2, 7, 1001})
        REQUIRE(run_counts(omp, n) == std::vector<int>(n, 1));
    REQUIRE(executor_ref(omp).concurrency() == 3);
}

TEST_CASE("openmp_executor: a throwing task's exception comes out of bulk", "[openmp]") {
    omp_set_num_threads(3);
    const openmp_executor omp;
    check_exception_contract(omp);
    check_exception_contract(executor_ref(omp));
}

TEST_CASE("openmp_executor: quantize equals sequential; cancellation and a throwing progress", "[openmp]") {
    omp_set_num_threads(3);
    const openmp_executor omp;
    rng_t rng(93);
    const std::size_t rows = 300, cols = 64;
    const auto W = sqllm_test::random_weights(rng, rows * cols);
    const auto S = sqllm_test::random_sensitivity(rng, rows * cols);
    const matrix_view<const float> w(W.data(), rows, cols), s(S.data(), rows, cols);
    quantize_options o;
    o.sparse.sensitive_fraction = 0.005;
    const auto want = quantize<3, half, csr<>>(w, s, o, sequential_executor{});
    const auto got = quantize<3, half, csr<>>(w, s, o, omp);
    REQUIRE(got.lut() == want.lut());
    REQUIRE(got.words() == want.words());

    stop_source source;
    o.stop = source.get_token();
    o.progress = [&](std::size_t, std::size_t) { source.request_stop(); };
    try {
        (void)quantize<3, half, csr<>>(w, s, o, omp);
        FAIL("not cancelled");
    } catch (const error& e) {
        REQUIRE(e.code() == errc::cancelled);
    }

    o.stop = stop_token();
    std::atomic<int> calls{0};
    o.progress = [&](std::size_t, std::size_t) {
        ++calls;
        throw task_error{0};
    };
    REQUIRE_THROWS_AS((quantize<3, half, csr<>>(w, s, o, omp)), task_error);
    REQUIRE(calls == 1);
}
