// gemv and gemm on every target this CPU runs against float64, for one code
// width: SQLLM_TEST_BITS (1..8), all three LUT types (kernel_check.hpp).
// CMake compiles this file once per width, so the eight run as separate
// translation units (in parallel, and each rebuilt alone).
#include "catch.hpp"
#include "kernel_check.hpp"

#ifndef SQLLM_TEST_BITS
#error "compile with -DSQLLM_TEST_BITS=1..8"
#endif
#define SQLLM_TEST_STR_(x) #x
#define SQLLM_TEST_STR(x) SQLLM_TEST_STR_(x)

TEST_CASE("gemv and gemm on every target match float64, " SQLLM_TEST_STR(SQLLM_TEST_BITS) "-bit codes", "[kernels]") {
    INFO("targets run: " << sqllm_test::runnable_targets().size());
    SECTION("fp32 LUT") { sqllm_test::check_all_kernels<SQLLM_TEST_BITS, float>(1000 + SQLLM_TEST_BITS); }
    SECTION("fp16 LUT") { sqllm_test::check_all_kernels<SQLLM_TEST_BITS, sqllm::half>(2000 + SQLLM_TEST_BITS); }
    SECTION("bf16 LUT") { sqllm_test::check_all_kernels<SQLLM_TEST_BITS, sqllm::bfloat16>(3000 + SQLLM_TEST_BITS); }
}
