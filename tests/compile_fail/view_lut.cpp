// tests/compile_fail/view_lut.cpp — quantized_view<3, int>: int is not a LUT value type.
// Must not compile, with the static_assert's message (tests/checks.cmake);
// with -DSQLLM_CF_VALID, the positive control, the same code compiles.
#include <sqllm/sqllm.hpp>

#ifdef SQLLM_CF_VALID
using lut = float;
#else
using lut = int;
#endif

int main() {
    sqllm::quantized_view<3, lut> view;
    return static_cast<int>(view.rows());
}
