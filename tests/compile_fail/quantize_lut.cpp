// tests/compile_fail/quantize_lut.cpp — quantize<3, int>: int is not a LUT value type.
// Must not compile, with the static_assert's message (tests/checks.cmake);
// with -DSQLLM_CF_VALID, the positive control, the same code compiles.
#include <sqllm/sqllm.hpp>

#ifdef SQLLM_CF_VALID
using lut = sqllm::half;
#else
using lut = int;
#endif

int main() {
    const float w[2] = {0.5f, -0.25f};
    const auto q = sqllm::quantize<3, lut>(sqllm::matrix_view<const float>(w, 1, 2), {});
    return static_cast<int>(q.rows()) - 1;
}
