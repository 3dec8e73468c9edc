// tests/compile_fail/view_sparse.cpp — quantized_view<3, float, int>: int is not a sparse format.
// Must not compile, with the static_assert's message (tests/checks.cmake);
// with -DSQLLM_CF_VALID, the positive control, the same code compiles.
#include <sqllm/sqllm.hpp>

#ifdef SQLLM_CF_VALID
using sparse = sqllm::csr<>;
#else
using sparse = int;
#endif

int main() {
    sqllm::quantized_view<3, float, sparse> view;
    return static_cast<int>(view.rows());
}
