// tests/compile_fail/quantize_sparse.cpp — quantize<3, float, int>: int is not a sparse format.
// Must not compile, with the static_assert's message (tests/checks.cmake);
// with -DSQLLM_CF_VALID, the positive control, the same code compiles.
#include <sqllm/sqllm.hpp>

#ifdef SQLLM_CF_VALID
using sparse = sqllm::no_sparse;
#else
using sparse = int;
#endif

int main() {
    const float w[2] = {0.5f, -0.25f};
    const auto q = sqllm::quantize<3, float, sparse>(sqllm::matrix_view<const float>(w, 1, 2), {});
    return static_cast<int>(q.rows()) - 1;
}
