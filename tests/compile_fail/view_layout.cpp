// tests/compile_fail/view_layout.cpp — quantized_view<3, float, csr<>, int>: int is not a layout.
// Must not compile, with the static_assert's message (tests/checks.cmake);
// with -DSQLLM_CF_VALID, the positive control, the same code compiles.
#include <sqllm/sqllm.hpp>

#ifdef SQLLM_CF_VALID
using layout = sqllm::striped_layout<3>;
#else
using layout = int;
#endif

int main() {
    sqllm::quantized_view<3, float, sqllm::csr<>, layout> view;
    return static_cast<int>(view.rows());
}
