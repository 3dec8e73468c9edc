// tests/compile_fail/quantize_layout_bits.cpp — quantize<3, float, csr<>, striped_layout<4>>: the layout packs 4-bit codes, the matrix has 3.
// Must not compile, with the static_assert's message (tests/checks.cmake);
// with -DSQLLM_CF_VALID, the positive control, the same code compiles.
#include <sqllm/sqllm.hpp>

#ifdef SQLLM_CF_VALID
using layout = sqllm::striped_layout<3>;
#else
using layout = sqllm::striped_layout<4>;
#endif

int main() {
    const float w[2] = {0.5f, -0.25f};
    const auto q = sqllm::quantize<3, float, sqllm::csr<>, layout>(sqllm::matrix_view<const float>(w, 1, 2), {});
    return static_cast<int>(q.rows()) - 1;
}
