// tests/compile_fail/pack_codes_layout.cpp — pack_codes<int>: int is not a layout.
// Must not compile, with the static_assert's message (tests/checks.cmake);
// with -DSQLLM_CF_VALID, the positive control, the same code compiles.
#include <sqllm/sqllm.hpp>

#ifdef SQLLM_CF_VALID
using layout = sqllm::striped_layout<3>;
#else
using layout = int;
#endif

int main() {
    const sqllm::code_t codes[2] = {1, 2};
    const auto words = sqllm::pack_codes<layout>(sqllm::matrix_view<const sqllm::code_t>(codes, 1, 2));
    return words.empty() ? 1 : 0;
}
